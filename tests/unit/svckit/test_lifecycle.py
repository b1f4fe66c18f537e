"""Serving until a signal: the caller's started server is stopped in two stages, not restarted."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import pytest

from svckit.lifecycle import serve_until_signalled


class FakeServer:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self, grace: float | None) -> None:
        self.events.append(("stop", grace))


class FakeHealth:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def enter_graceful_shutdown(self) -> None:
        self.events.append("not serving")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_drains_health_then_stops_the_started_server(
    monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    # The handlers are caught rather than installed: no real signal reaches pytest.
    handlers: dict[int, Callable[[], None]] = {}
    installed = asyncio.Event()

    def install(number: int, callback: Callable[[], None]) -> None:
        handlers[number] = callback
        installed.set()

    monkeypatch.setattr(asyncio.get_running_loop(), "add_signal_handler", install)
    events: list[Any] = []
    server: Any = FakeServer(events)
    health: Any = FakeHealth(events)
    serving = asyncio.create_task(serve_until_signalled(server, health, grace=3))
    await asyncio.wait_for(installed.wait(), 5)
    assert events == []  # the caller started the server; it is not started twice
    handlers[signum]()
    await asyncio.wait_for(serving, 5)
    assert events == ["not serving", ("stop", 3)]
