"""A real PostgreSQL server that the project starts and keeps itself.

The binaries come from the `pgserver` wheel (PostgreSQL 16, no system install needed), or
from BLOG_PG_BINDIR. The server listens on 127.0.0.1 only, password authentication
(scram-sha-256) on TCP, and keeps its data in a folder so a restart loses nothing.
PostgreSQL refuses to run as root, so under root it runs as an unprivileged system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import random
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "blogpg"


def bindir() -> Path:
    configured = os.environ.get("BLOG_PG_BINDIR")
    if configured:
        return Path(configured)
    # Locate the pgserver wheel's bundled binaries without importing it (its import does
    # work we do not need and warns about XDG_RUNTIME_DIR).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError("no PostgreSQL binaries: install pgserver or set BLOG_PG_BINDIR")
    return Path(spec.origin).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int) -> int:
    """A base port such that base .. base+size-1 are all free on 127.0.0.1 (for a stack
    whose workers listen on consecutive ports)."""
    for _ in range(200):
        base = random.randint(20000, 40000)  # noqa: S311 - picking a port, not a secret
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports found")


@dataclass
class LocalPostgres:
    """One cluster in `data_dir`, listening on 127.0.0.1:`port`."""

    data_dir: Path
    port: int

    def __post_init__(self) -> None:
        # PostgreSQL runs in its data folder, so a relative socket path would miss.
        self.data_dir = self.data_dir.resolve()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "superuser-password"

    def superuser_url(self, database: str = "postgres", driver: str = "postgresql") -> str:
        password = self.password_file.read_text().strip()
        return f"{driver}://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = _server_user()
        return subprocess.run(
            [str(bindir() / tool), *args],
            check=check,
            capture_output=True,
            text=True,
            user=user,
            # Drop root's groups too: a root-owned 0701 folder must not be reachable via gid 0.
            group=user,
            extra_groups=[] if user is not None else None,
            timeout=120,
        )

    def ensure_initialized(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        user = _server_user()
        pwfile = self.data_dir / ".initdb-pw"
        shutil.copyfile(self.password_file, pwfile)
        if user is not None:
            _hand_over(self.data_dir, user)
            shutil.chown(pwfile, user)
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

    def is_running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self) -> None:
        self.ensure_initialized()
        if self.is_running():
            return
        sockets = self.data_dir / "sockets"
        sockets.mkdir(exist_ok=True)
        user = _server_user()
        if user is not None:
            shutil.chown(sockets, user)
        options = f"-h 127.0.0.1 -p {self.port} -k {sockets}"
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.data_dir / "postgres.log"),
            "-o",
            options,
            check=False,
        )
        if result.returncode != 0:
            log = (self.data_dir / "postgres.log").read_text()[-2000:]
            raise RuntimeError(f"PostgreSQL did not start:\n{result.stderr}\n{log}")
        _wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.pgdata), check=False)

    def pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True)
    return SERVER_USER


def _hand_over(path: Path, user: str) -> None:
    """Give the data folder to the server user, and let it reach the folder."""
    shutil.chown(path, user)
    path.chmod(0o700)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)  # traverse only; nothing becomes readable


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL is not listening on 127.0.0.1:{port}")
