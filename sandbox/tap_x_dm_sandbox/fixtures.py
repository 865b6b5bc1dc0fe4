"""Pytest fixtures for a sandbox per test (load with `pytest_plugins` or import them).

Every sandbox made here is stopped at teardown, so tests can start several
without leaking threads or ports. The default clock is a `ManualClock`, so
rate-limit windows pass at once when the test (or the tap) sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tap_x_dm_sandbox.clock import Clock, ManualClock
from tap_x_dm_sandbox.data import Dataset

SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Return `make(clock=None, dataset=None, **SandboxConfig fields) -> started Sandbox`."""
    made: list[Sandbox] = []

    def make(
        *, clock: Clock | None = None, dataset: Dataset | None = None, **config: Any
    ) -> Sandbox:
        sandbox = Sandbox(SandboxConfig(**config), clock=clock or ManualClock(), dataset=dataset)
        made.append(sandbox)
        return sandbox.start()

    yield make
    for sandbox in made:
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """Return a started sandbox with the default config and a `ManualClock`."""
    return sandbox_factory()
