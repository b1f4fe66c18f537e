"""The embedded PostgreSQL as `make run` and the tests use it: real initdb, real servers.

Most tests hold for root and ordinary users alike; as root the server runs as `blogpg` and
keeps its files under the base (devstack.pg_files.server_dir()), which the root-only tests
check.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devstack import pg_files, ports, postgres
from svckit.processes import alive

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server over")


async def _query(cluster: postgres.LocalPostgres, sql: str) -> Any:
    conn = await asyncpg.connect(cluster.superuser_url())
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _modes(*paths: Path) -> dict[Path, tuple[int, int, int]]:
    """Mode and owner of each path and of every folder above it."""
    seen: dict[Path, tuple[int, int, int]] = {}
    for path in paths:
        for folder in (path, *path.parents):
            info = folder.stat()
            seen[folder] = (info.st_mode, info.st_uid, info.st_gid)
    return seen


def _mode_and_owner(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mode & 0o777, info.st_uid


def _executable(pid: int | None) -> Path:
    return Path(f"/proc/{pid}/exe").readlink()


def _bystander() -> subprocess.Popen[bytes]:
    """A process that is not PostgreSQL, to hold a pid."""
    return subprocess.Popen(["sleep", "60"])


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    return int(line.split()[1])


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still there"
        time.sleep(0.05)


@pytest.fixture
def private(tmp_path: Path) -> Path:
    """A folder only its owner may enter, as `mktemp -d` or a home folder makes it."""
    folder = tmp_path / "private"
    folder.mkdir()
    folder.chmod(0o700)
    return folder


async def test_a_relative_data_folder_starts_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cluster = postgres.LocalPostgres(Path(".data") / "postgres", ports.free_port())
    cluster.start()
    try:
        await _query(cluster, "CREATE TABLE kept (x int)")
        await _query(cluster, "INSERT INTO kept VALUES (7)")
        cluster.stop()
        cluster.start()
        assert await _query(cluster, "SELECT x FROM kept") == 7
    finally:
        cluster.stop("immediate")
    assert (tmp_path / ".data" / "postgres" / "pgdata" / "PG_VERSION").exists()


async def test_a_cluster_under_a_private_folder_serves_restarts_and_loosens_nothing(
    private: Path,
) -> None:
    data_dir = private / "clone" / ".data" / "postgres"
    data_dir.mkdir(parents=True)
    # The folders above the data and above the binaries (this checkout's .venv).
    before = _modes(data_dir, pg_files.bindir())
    cluster = postgres.LocalPostgres(data_dir, ports.free_port())
    cluster.start()
    try:
        await _query(cluster, "CREATE TABLE kept (x int)")
        await _query(cluster, "INSERT INTO kept VALUES (42)")
        first = cluster.pid()
        assert first is not None
        if os.geteuid() == 0:
            assert _uid_of(first) == pwd.getpwnam(pg_files.SERVER_USER).pw_uid
        cluster.stop()
        _wait_gone(first)
        cluster.start()
        assert cluster.pid() != first
        assert await _query(cluster, "SELECT x FROM kept") == 42
    finally:
        cluster.stop("immediate")
    assert _modes(data_dir, pg_files.bindir()) == before
    assert _mode_and_owner(private)[0] == 0o700


@root_only
async def test_root_keeps_the_cluster_under_the_base_and_nothing_secret_is_readable(
    private: Path,
) -> None:
    data_dir = private / "data"
    cluster = postgres.LocalPostgres(data_dir, ports.free_port())
    cluster.start()
    try:
        assert await _query(cluster, "SELECT 1") == 1
        base = pg_files.server_dir()
        home = cluster.home
        assert home.parent == base / "clusters"
        server = pwd.getpwnam(pg_files.SERVER_USER)
        mode_and_owner = _mode_and_owner
        assert mode_and_owner(base) == (0o755, 0)
        assert mode_and_owner(base / "clusters") == (0o711, 0)  # nobody else lists them
        assert mode_and_owner(home) == (0o711, 0)
        assert mode_and_owner(home / "owner") == (0o600, 0)
        assert mode_and_owner(cluster.pgdata) == (0o700, server.pw_uid)
        assert mode_and_owner(cluster.log_file) == (0o600, server.pw_uid)
        assert mode_and_owner(cluster.password_file) == (0o600, 0)
        assert cluster.password_file.parent == data_dir
        # The data folder links to where the cluster lives.
        assert (data_dir / "pgdata").readlink() == cluster.pgdata
        assert (data_dir / "postgres.log").readlink() == cluster.log_file
        # The server runs a copy of the install tree under the base, not the clone's .venv.
        binary = _executable(cluster.pid())
        assert binary.is_relative_to(base)
        assert mode_and_owner(binary) == (0o755, 0)
    finally:
        cluster.stop("immediate")


async def test_start_after_a_kill_9_of_the_postmaster_serves_the_same_data(
    private: Path,
) -> None:
    cluster = postgres.LocalPostgres(private / "data", ports.free_port())
    cluster.start()
    try:
        await _query(cluster, "CREATE TABLE kept (x int)")
        await _query(cluster, "INSERT INTO kept VALUES (9)")
        # An open session: its backend outlives the postmaster for a moment.
        held = await asyncpg.connect(cluster.superuser_url())
        killed = cluster.pid()
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        _wait_gone(killed)  # dead; maybe not yet reaped (a zombie), as a supervisor sees it
        assert (cluster.pgdata / "postmaster.pid").exists()  # stale, as a crash leaves it
        assert not cluster.is_running()
        cluster.start()
        assert cluster.pid() not in (None, killed)
        assert await _query(cluster, "SELECT x FROM kept") == 9
        held.terminate()
    finally:
        cluster.stop("immediate")


async def test_start_with_a_stale_postmaster_pid_that_another_process_now_has(
    private: Path,
) -> None:
    cluster = postgres.LocalPostgres(private / "data", ports.free_port())
    cluster.start()
    other = _bystander()
    try:
        killed = cluster.pid()
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        _wait_gone(killed)
        # The pid was reused: PostgreSQL alone would take that process for its old self.
        pidfile = cluster.pgdata / "postmaster.pid"
        lines = pidfile.read_text().splitlines()
        pidfile.write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")
        assert not cluster.is_running()
        cluster.start()
        assert cluster.pid() not in (None, killed, other.pid)
        assert await _query(cluster, "SELECT 1") == 1
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
        cluster.stop("immediate")


async def test_two_clusters_run_side_by_side_and_stop_leaves_nothing_running(
    private: Path,
) -> None:
    one = postgres.LocalPostgres(private / "one", ports.free_port())
    two = postgres.LocalPostgres(private / "two", ports.free_port())
    one.start()
    two.start()
    try:
        assert one.pgdata != two.pgdata
        await _query(one, "CREATE TABLE which AS SELECT 1 AS x")
        await _query(two, "CREATE TABLE which AS SELECT 2 AS x")
        assert await _query(one, "SELECT x FROM which") == 1
        stopped = one.pid()
        assert stopped is not None
        one.stop()
        _wait_gone(stopped)
        assert not one.is_running()
        assert not (one.pgdata / "postmaster.pid").exists()
        assert await _query(two, "SELECT x FROM which") == 2
    finally:
        one.stop("immediate")
        two.stop("immediate")


@root_only
async def test_root_starts_afresh_for_a_data_folder_made_again_and_sweeps_gone_ones(
    private: Path,
) -> None:
    data_dir = private / "data"
    cluster = postgres.LocalPostgres(data_dir, ports.free_port())
    cluster.start()
    try:
        await _query(cluster, "CREATE TABLE old (x int)")
        cluster.stop()
        shutil.rmtree(data_dir)  # what `rm -rf .data` does to reset the database
        cluster.start()
        assert await _query(cluster, "SELECT to_regclass('old') IS NULL")
    finally:
        cluster.stop("immediate")
    gone_home = cluster.home
    shutil.rmtree(data_dir)  # like pytest dropping an old temporary folder
    fresh = postgres.LocalPostgres(private / "fresh", ports.free_port())
    fresh.start()
    try:
        assert not gone_home.exists()
    finally:
        fresh.stop("immediate")


@root_only
async def test_root_adopts_a_cluster_it_made_inside_the_data_folder_before(
    private: Path,
) -> None:
    data_dir = private / "data"
    cluster = postgres.LocalPostgres(data_dir, ports.free_port())
    cluster.start()
    await _query(cluster, "CREATE TABLE kept AS SELECT 5 AS x")
    cluster.stop()
    # The layout root used before the base: pgdata inside the data folder; or the user's own
    # cluster, made by `make run` as that user (so owned by root here).
    (data_dir / "pgdata").unlink()
    shutil.move(cluster.pgdata, data_dir / "pgdata")
    for folder, _folders, files in os.walk(data_dir / "pgdata"):
        os.chown(folder, 0, 0)
        for name in files:
            os.chown(Path(folder) / name, 0, 0)
    try:
        cluster.start()
        assert (data_dir / "pgdata").is_symlink()
        assert _mode_and_owner(cluster.pgdata / "PG_VERSION")[1] != 0
        assert await _query(cluster, "SELECT x FROM kept") == 5
    finally:
        cluster.stop("immediate")
