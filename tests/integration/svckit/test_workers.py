"""The worker supervisor with real forked processes: restart, crash loop, graceful stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from svckit.workers import CRASH_LOOP_EXIT

ROOT = Path(__file__).resolve().parents[3]
PROGRAM = Path(__file__).with_name("worker_program.py")


def _start(folder: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROGRAM), str(folder)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _pids(folder: Path, slot: int) -> list[int]:
    return sorted(int(path.suffix[1:]) for path in folder.glob(f"slot-{slot}.*"))


def _wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = _start(tmp_path)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_killed_worker_is_restarted_and_the_other_keeps_running(supervised, tmp_path):
    _wait_for(lambda: _pids(tmp_path, 0) and _pids(tmp_path, 1))
    first, other = _pids(tmp_path, 0)[0], _pids(tmp_path, 1)[0]
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: len(_pids(tmp_path, 0)) == 2)
    assert supervised.poll() is None, "the supervisor stopped"
    os.kill(other, 0)  # the untouched worker is still the same process
    assert _pids(tmp_path, 1) == [other]
    supervised.send_signal(signal.SIGTERM)
    output, _ = supervised.communicate(timeout=10)
    assert supervised.returncode == 0, output
    assert "killed by SIGKILL" in output  # the restart is in the log


def test_sigterm_drains_every_worker_and_exits_zero(supervised, tmp_path):
    _wait_for(lambda: _pids(tmp_path, 0) and _pids(tmp_path, 1))
    supervised.send_signal(signal.SIGTERM)
    assert supervised.wait(timeout=10) == 0
    assert len(list(tmp_path.glob("drained-*"))) == 2


def test_a_crash_looping_worker_ends_the_service_with_a_clear_message(tmp_path):
    started = time.monotonic()
    process = _start(tmp_path, CRASH_SLOT="1")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == CRASH_LOOP_EXIT
    assert "worker 1 exited 4 times within 60 s (last: exit code 1); stopping the service" in output
    assert "cannot start" in output  # the cause is printed too
    assert time.monotonic() - started < 15  # backoff 0.1, 0.2, 0.4: it does not spin forever
    assert len(list(tmp_path.glob("drained-0.*"))) == 1  # the healthy worker was drained


def test_workers_of_a_killed_supervisor_drain_and_exit_instead_of_lingering(supervised, tmp_path):
    _wait_for(lambda: _pids(tmp_path, 0) and _pids(tmp_path, 1))
    workers = [_pids(tmp_path, 0)[0], _pids(tmp_path, 1)[0]]
    supervised.kill()  # kill -9 of the supervisor: nobody forwards SIGTERM
    supervised.wait()
    _wait_for(lambda: len(list(tmp_path.glob("drained-*"))) == 2)
    for pid in workers:
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists())


def test_a_worker_that_never_finishes_draining_is_killed_after_the_stop_timeout(tmp_path):
    process = _start(tmp_path, IGNORE_SIGTERM="1")
    try:
        _wait_for(lambda: _pids(tmp_path, 0) and _pids(tmp_path, 1))
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert 2.0 <= time.monotonic() - asked < 6.0  # the policy's 2 s, then SIGKILL
    assert process.returncode == 1, output  # not a clean stop, and it says so
    assert "did not stop in time" in output
