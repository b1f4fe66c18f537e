"""A real PostgreSQL server that the project starts and keeps itself.

The binaries come from the `pgserver` wheel (PostgreSQL 16, no system install needed), or
from BLOG_PG_BINDIR. The server listens on 127.0.0.1 only, password authentication
(scram-sha-256) on TCP, and keeps its data in a folder so a restart loses nothing.

PostgreSQL refuses to run as root, so under root it runs as the system user `blogpg`, which
cannot reach into a private folder (a clone under /root or `mktemp -d`, pytest's
/tmp/pytest-of-root). Rather than loosening anyone's folders, root keeps each cluster's
server-side files where that user can reach them by construction: under a root-owned base
(BLOG_PG_SERVER_DIR, default /var/lib/blog-platform) holding a copy of the wheel's
PostgreSQL install and one folder per configured data folder:

    <base>/pginstall-<digest>/           the install tree, root-owned, world-readable
    <base>/clusters/                     root 0711: nobody else can list it
    <base>/clusters/<key>/               root 0711, <key> from the data folder's path
        owner                            root 0600: the data folder, its password's digest
        pgdata/  postgres.log            the server user's, 0700 and 0600

The data folder keeps what only root reads (the superuser password) and two links,
`pgdata` and `postgres.log`, to where they live. A cluster belongs to the data folder that
holds its password: when that folder is gone, or was made again with a new password, the
cluster is stale and is removed (the next cluster created under the base sweeps those whose
folder is gone, as pytest drops its old temporary folders). Not root: everything lives in
the data folder itself, as the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import pwd
import random
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from svckit.processes import alive

SERVER_USER = "blogpg"
DEFAULT_SERVER_DIR = Path("/var/lib/blog-platform")


def bindir() -> Path:
    """The PostgreSQL binaries as installed (client tools such as pgbench run from here)."""
    configured = os.environ.get("BLOG_PG_BINDIR")
    if configured:
        return Path(configured)
    # Locate the pgserver wheel's bundled binaries without importing it (its import does
    # work we do not need and warns about XDG_RUNTIME_DIR).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError("no PostgreSQL binaries: install pgserver or set BLOG_PG_BINDIR")
    return Path(spec.origin).parent / "pginstall" / "bin"


def server_dir() -> Path:
    """Root's base for the clusters' server-side files (see the module's docstring)."""
    return Path(os.environ.get("BLOG_PG_SERVER_DIR") or DEFAULT_SERVER_DIR)


def _server_ports() -> tuple[int, int]:
    """Where ports for our servers are drawn: below the kernel's ephemeral range, from which
    every outgoing connection takes its local port. A port found free inside that range can
    be taken by any connection before its server binds it (seen in CI: Envoy's stats port,
    taken by one of the services' connections a moment before Envoy started)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return (10000, low - 1) if low > 15000 else (20000, 40000)


def free_port() -> int:
    """A port free on 127.0.0.1, outside the ephemeral range."""
    return free_port_block(1)


def free_port_block(size: int) -> int:
    """A base port such that base .. base+size-1 are all free on 127.0.0.1 (for a stack
    whose workers listen on consecutive ports), outside the ephemeral range."""
    lowest, highest = _server_ports()
    for _ in range(200):
        base = random.randint(lowest, highest - size)  # noqa: S311 - a port, not a secret
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
        user = _server_user()
        tools = bindir() if user is None else _reachable_bindir()
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
        user = _server_user()
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
        if home.exists() and _read_owner(record) != owner:
            # The data folder was made again (new password): its old cluster is unusable.
            if self.is_running():
                self.stop("immediate")
            shutil.rmtree(home)
        if not home.exists():
            _sweep(_base() / "clusters")
            _make_dir(home, 0o711)
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
        return _postmaster_pid(self.pgdata)


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        made = subprocess.run([*command, SERVER_USER], check=False, capture_output=True)
        with contextlib.suppress(KeyError):  # another process may have made it meanwhile
            pwd.getpwnam(SERVER_USER)
            return SERVER_USER
        raise RuntimeError(f"could not create user {SERVER_USER}: {made.stderr!r}") from None
    return SERVER_USER


def _make_dir(path: Path, mode: int) -> None:
    """A root-owned folder with exactly `mode`, and its missing parents 0755."""
    if not path.parent.exists():
        _make_dir(path.parent, 0o755)
    with contextlib.suppress(FileExistsError):
        path.mkdir()
        path.chmod(mode)  # not left to the umask


def _base() -> Path:
    """Root's base, made if missing; it must be root's alone (the server user runs what it
    holds, root removes what it holds) and reachable by the server user."""
    base = server_dir()
    _make_dir(base, 0o755)
    info = base.stat()
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(f"{base} must be owned by root and writable by root only")
    for folder in (base, *base.parents):
        if not folder.stat().st_mode & 0o001:
            raise RuntimeError(
                f"{SERVER_USER} cannot reach {base} ({folder} is closed to others); "
                "set BLOG_PG_SERVER_DIR to a folder it can reach"
            )
    return base


_installs: dict[Path, Path] = {}


def _reachable_bindir() -> Path:
    """Root: binaries the server user can run. BLOG_PG_BINDIR is used as it is; the wheel's
    install tree (inside the clone's .venv) is copied once under the base, by content."""
    if os.environ.get("BLOG_PG_BINDIR"):
        return bindir()
    source = bindir().parent  # .../site-packages/pgserver/pginstall
    if source in _installs:
        return _installs[source]
    base = _base()
    digest = hashlib.sha256()
    for tool in ("postgres", "initdb", "pg_ctl"):
        digest.update((source / "bin" / tool).read_bytes())
    install = base / f"pginstall-{digest.hexdigest()[:16]}"
    # The binaries find share/ and lib/ relative to themselves, and the wheel's libpq through
    # the rpath $ORIGIN/../../../pgserver.libs: keep that layout.
    target = install / "pgserver" / "pginstall" / "bin"
    if not target.exists():
        staging = base / f".staging-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            _copy_public(source, staging / "pgserver" / "pginstall")
            libs = source.parent.parent / "pgserver.libs"
            if libs.is_dir():
                _copy_public(libs, staging / "pgserver.libs")
            staging.chmod(0o755)
            (staging / "pgserver").chmod(0o755)
            with contextlib.suppress(OSError):  # another process made the same copy first
                staging.rename(install)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _installs[source] = target
    return target


def _copy_public(source: Path, target: Path) -> None:
    """Copy an install tree (no headers or static libraries), world-readable whatever the
    umask or the modes pip left."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("include", "*.a"))
    for folder, _folders, files in os.walk(target):
        Path(folder).chmod(0o755)
        for name in files:
            path = Path(folder) / name
            executable = path.stat().st_mode & stat.S_IXUSR
            path.chmod(0o755 if executable else 0o644)


def _read_owner(record: Path) -> dict[str, str] | None:
    try:
        owner: dict[str, str] = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return owner


def _sweep(clusters: Path) -> None:
    """Remove the clusters whose data folder is gone (and which are not running)."""
    _make_dir(clusters, 0o711)
    for home in clusters.iterdir():
        owner = _read_owner(home / "owner")
        if owner is None:  # being made right now, or abandoned long ago
            with contextlib.suppress(FileNotFoundError):  # or just removed by another sweep
                if time.time() - home.stat().st_mtime < 3600:
                    continue
        elif Path(owner["data_dir"]).exists():
            continue
        pid = _postmaster_pid(home / "pgdata")
        if pid is not None and alive(pid):
            continue
        shutil.rmtree(home, ignore_errors=True)


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL is not listening on 127.0.0.1:{port}")
