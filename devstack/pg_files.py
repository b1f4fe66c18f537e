"""Where PostgreSQL's binaries are, and where a cluster's server-side files live.

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
import secrets
import shutil
import stat
import subprocess
import time
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


def server_user() -> str | None:
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


def make_dir(path: Path, mode: int) -> None:
    """A root-owned folder with exactly `mode`, and its missing parents 0755."""
    if not path.parent.exists():
        make_dir(path.parent, 0o755)
    with contextlib.suppress(FileExistsError):
        path.mkdir()
        path.chmod(mode)  # not left to the umask


def base() -> Path:
    """Root's base, made if missing; it must be root's alone (the server user runs what it
    holds, root removes what it holds) and reachable by the server user."""
    path = server_dir()
    make_dir(path, 0o755)
    info = path.stat()
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(f"{path} must be owned by root and writable by root only")
    for folder in (path, *path.parents):
        if not folder.stat().st_mode & 0o001:
            raise RuntimeError(
                f"{SERVER_USER} cannot reach {path} ({folder} is closed to others); "
                "set BLOG_PG_SERVER_DIR to a folder it can reach"
            )
    return path


_installs: dict[Path, Path] = {}


def reachable_bindir() -> Path:
    """Root: binaries the server user can run. BLOG_PG_BINDIR is used as it is; the wheel's
    install tree (inside the clone's .venv) is copied once under the base, by content."""
    if os.environ.get("BLOG_PG_BINDIR"):
        return bindir()
    source = bindir().parent  # .../site-packages/pgserver/pginstall
    if source in _installs:
        return _installs[source]
    root = base()
    digest = hashlib.sha256()
    for tool in ("postgres", "initdb", "pg_ctl"):
        digest.update((source / "bin" / tool).read_bytes())
    install = root / f"pginstall-{digest.hexdigest()[:16]}"
    # The binaries find share/ and lib/ relative to themselves, and the wheel's libpq through
    # the rpath $ORIGIN/../../../pgserver.libs: keep that layout.
    target = install / "pgserver" / "pginstall" / "bin"
    if not target.exists():
        staging = root / f".staging-{os.getpid()}-{secrets.token_hex(4)}"
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


def read_owner(record: Path) -> dict[str, str] | None:
    try:
        owner: dict[str, str] = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return owner


def sweep(clusters: Path) -> None:
    """Remove the clusters whose data folder is gone (and which are not running)."""
    make_dir(clusters, 0o711)
    for home in clusters.iterdir():
        owner = read_owner(home / "owner")
        if owner is None:  # being made right now, or abandoned long ago
            with contextlib.suppress(FileNotFoundError):  # or just removed by another sweep
                if time.time() - home.stat().st_mtime < 3600:
                    continue
        elif Path(owner["data_dir"]).exists():
            continue
        pid = postmaster_pid(home / "pgdata")
        if pid is not None and alive(pid):
            continue
        shutil.rmtree(home, ignore_errors=True)


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
