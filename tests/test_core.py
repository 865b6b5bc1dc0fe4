"""The SDK's standard tap tests, against a sandbox of their own."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_x_dm.clock import SystemClock
from tap_x_dm.settings.config_schema import DEFAULT_TWEET_FIELDS
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import Sandbox, SandboxConfig

# The standard suite instantiates the tap at import, so its sandbox starts here too,
# with a budget large enough that it never waits.
_SANDBOX = Sandbox(SandboxConfig(rate_limit=100_000, events=1500), clock=SystemClock())
_SANDBOX.start()
atexit.register(_SANDBOX.stop)
_ACCOUNT = _SANDBOX.account.id
# A group whose recent events include attachments, so every attribute test sees real values.
_GROUP = max(
    (c for c in _SANDBOX.dataset.conversations_of(_ACCOUNT) if "-" not in c),
    key=lambda c: sum("attachments" in e for e in _SANDBOX.visible_events(conversation_id=c)[:200]),
)

TestTapXDM = get_tap_test_class(
    tap_class=TapXDM,
    config={
        "api_url": _SANDBOX.base_url,
        "access_token": _SANDBOX.access_token(),
        "dm_conversation_ids": [_GROUP],
        "page_size": 100,
        "tweet_fields": [*DEFAULT_TWEET_FIELDS, "paid_partnership"],
    },
    # The XChat streams are opt-in (tests/test_chat.py reads them); chat_messages needs the
    # owner's key blob too (tests/test_chat_messages.py).
    suite_config=SuiteConfig(
        max_records_limit=200,
        ignore_no_records_for_streams=["chat_conversations", "chat_events", "chat_messages"],
    ),
)
