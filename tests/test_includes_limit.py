"""The object streams remember a bounded number of keys, so a long run's memory stays flat."""

from __future__ import annotations

import pytest

from tap_x_dm.objects import includes
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.conftest import CollectingWriter


def test_past_the_limit_the_stream_starts_afresh_and_may_write_an_object_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(includes, "EMITTED_KEYS_LIMIT", 2)
    writer = CollectingWriter()
    tap = TapXDM(
        config={"access_token": "unused", "api_url": "http://127.0.0.1:9"},
        state={"account": {"id": "944480690", "username": "FloodSocial"}},
        message_writer=writer,
        clock=ManualClock(),
    )
    media = tap.streams["media"]
    assert isinstance(media, includes.MediaStream)
    objects = [{"media_key": f"3_{n}", "type": "photo"} for n in range(3)]
    media.write_objects(objects)
    media.write_objects(objects[:2])  # 3_0 and 3_1 were forgotten when 3_2 came
    keys = [m["record"]["media_key"] for m in writer.messages if m["type"] == "RECORD"]
    assert keys == ["3_0", "3_1", "3_2", "3_0", "3_1"]
    assert len(media.emitted) <= 2
