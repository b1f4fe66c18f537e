"""A real PostgreSQL server that the project starts and keeps itself.

The binaries come from the `pgserver` wheel (PostgreSQL 16, no system install needed), or
from BLOG_PG_BINDIR. The server listens on 127.0.0.1 only, password authentication
(scram-sha-256) on TCP, and keeps its data in a folder so a restart loses nothing.

Under root it runs as a system user, with its server-side files kept where that user can
reach them: see devstack.pg_files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import pg_files
from devstack.pg_files import bindir, server_dir
from svckit.processes import alive


@dataclass
class LocalPostgres:
    """One cluster for `data_dir`, listening on 127.0.0.1:`port`."""

    data_dir: Path
    port: int

    def __post_init__(self) -> None:
        # PostgreSQL runs in its data folder, so a relative socket path would miss.
        self.data_dir = self.data_dir.resolve()

    @property
    def home(self) -> Path:
        """Where the server's own files live: the data folder, or under root's base."""
        if os.geteuid() != 0:
            return self.data_dir
        key = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:20]
        return server_dir() / "clusters" / key

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "superuser-password"

    def superuser_url(self, database: str = "postgres", driver: str = "postgresql") -> str:
        password = self.password_file.read_text().strip()
        return f"{driver}://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = pg_files.server_user()
        tools = bindir() if user is None else pg_files.reachable_bindir()
        return subprocess.run(
            [str(tools / tool), *args],
            check=check,
            capture_output=True,
            text=True,
            cwd=self.home,
            user=user,
            # Drop root's groups too: a root-owned 0701 folder must not be reachable via gid 0.
            group=user,
            extra_groups=[] if user is not None else None,
            timeout=120,
        )

    def ensure_initialized(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24))
        user = pg_files.server_user()
        if user is not None:
            self._prepare_home(user)
        if (self.pgdata / "PG_VERSION").exists():
            return
        pwfile = self.home / ".initdb-pw"
        pwfile.touch(mode=0o600)
        shutil.copyfile(self.password_file, pwfile)
        if user is not None:
            shutil.chown(pwfile, user, user)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink()

    def _prepare_home(self, user: str) -> None:
        """Root: make this data folder's cluster home under the base, removing a stale one."""
        home = self.home
        record = home / "owner"
        owner = {
            "data_dir": str(self.data_dir),
            "password_sha256": hashlib.sha256(self.password_file.read_bytes()).hexdigest(),
        }
        if home.exists() and pg_files.read_owner(record) != owner:
            # The data folder was made again (new password): its old cluster is unusable.
            if self.is_running():
                self.stop("immediate")
            shutil.rmtree(home)
        if not home.exists():
            pg_files.sweep(pg_files.base() / "clusters")
            pg_files.make_dir(home, 0o711)
            record.touch(mode=0o600)
            record.write_text(json.dumps(owner))
        if not self.pgdata.exists():
            self.pgdata.mkdir(mode=0o700)
            shutil.chown(self.pgdata, user, user)
        if not self.log_file.exists():
            self.log_file.touch(mode=0o600)
            shutil.chown(self.log_file, user, user)
        self._adopt_legacy_pgdata(user)
        for name in ("pgdata", "postgres.log"):
            link = self.data_dir / name
            if link.is_symlink() and link.readlink() == home / name:
                continue
            if link.is_dir() and not link.is_symlink():
                link.rmdir()  # an empty folder; one with a cluster was adopted above
            else:
                link.unlink(missing_ok=True)
            link.symlink_to(home / name)

    def _adopt_legacy_pgdata(self, user: str) -> None:
        """Move a cluster made inside the data folder (by root before the base existed, or
        by the user who owns the clone) to where the server user can reach it."""
        legacy = self.data_dir / "pgdata"
        if legacy.is_symlink() or not (legacy / "PG_VERSION").exists():
            return
        if (legacy / "postmaster.pid").exists():
            raise RuntimeError(f"{legacy}: stop the PostgreSQL running there first")
        if (self.pgdata / "PG_VERSION").exists():
            raise RuntimeError(f"{legacy} and {self.pgdata} both hold a cluster; remove one")
        self.pgdata.rmdir()
        shutil.move(legacy, self.pgdata)
        for folder, _folders, files in os.walk(self.pgdata):
            shutil.chown(folder, user, user)
            for name in files:
                shutil.chown(Path(folder) / name, user, user)

    def is_running(self) -> bool:
        pid = self.pid()
        if pid is None or not alive(pid) or self._foreign(pid):
            return False  # a postmaster killed a moment ago may be a zombie for a while
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self) -> None:
        """Start the server (initializing the cluster first if need be); a no-op when it runs.

        Works after a crash too (kill -9: a stale postmaster.pid, backends still exiting).
        """
        self.ensure_initialized()
        if self.is_running():
            return
        # TCP on loopback only; no Unix socket, whose path (at most 107 bytes) a deep data
        # folder would overflow, and which no client of ours uses.
        options = f"-h 127.0.0.1 -p {self.port} -k ''"
        deadline = time.monotonic() + 30
        while True:
            pid = self.pid()
            if pid is not None and self._foreign(pid):
                (self.pgdata / "postmaster.pid").unlink()
            logged = self.log_file.stat().st_size if self.log_file.exists() else 0
            result = self._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-o",
                options,
                check=False,
            )
            if result.returncode == 0:
                break
            new = ""
            with contextlib.suppress(FileNotFoundError), self.log_file.open("rb") as log:
                log.seek(logged)
                new = log.read().decode(errors="replace")[-2000:]
            # After a kill -9 the old postmaster stays a zombie until it is reaped, and its
            # backends take a moment to notice and exit, holding the old shared memory: the
            # server refuses to start until they are gone.
            waiting = "is still in use" in new or "already exists" in new
            if not waiting or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{result.stderr}\n{new}")
            time.sleep(0.5)
        _wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.pgdata), check=False)

    def _foreign(self, pid: int) -> bool:
        """Whether the pid of a stale postmaster.pid now belongs to another process (pids are
        reused, and PostgreSQL takes any live pid for its old self, refusing to start). A
        postmaster works in its data folder; where we cannot tell, PostgreSQL decides."""
        try:
            cwd = Path(f"/proc/{pid}/cwd").readlink()
        except OSError:
            return False  # gone, a zombie, not ours to look at, or no /proc
        return cwd != self.pgdata.resolve()

    def pid(self) -> int | None:
        return pg_files.postmaster_pid(self.pgdata)


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL is not listening on 127.0.0.1:{port}")
