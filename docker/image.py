"""Build the images with Podman: `python docker/image.py base|wheels|app|postgres|all`.

base      the Debian bookworm base (python3, python3-venv) from Debian's packages with
          mmdebstrap, for machines that reach no container registry; the tarball is kept
          in build/containers/ and imported as localhost/blog-base:bookworm-<recipe hash>
wheels    build/wheelhouse/: requirements-runtime.in (and grpcio-tools for the descriptor
          stage) as wheels built on the host, each at requirements.lock's version
app       the service image BLOG_IMAGE from docker/Dockerfile, on BASE_IMAGE
postgres  POSTGRES_IMAGE from docker/postgres.Dockerfile (PostgreSQL 15 from Debian), when
          it names a local image (localhost/...); any other name is used as it is
all       wheels, then base if needed, app and postgres

Settings come from the environment: BLOG_IMAGE (localhost/blog-platform:latest), BASE_IMAGE
("debian" for the local base, or an image such as python:3.11-slim), POSTGRES_IMAGE
(localhost/blog-postgres:15). Each step is skipped when its output is up to date.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = ROOT / "docker" / "containers.conf"
CACHE = ROOT / "build" / "containers"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
LOCK = ROOT / "requirements.lock"
RUNTIME = ROOT / "requirements-runtime.in"
# The descriptor stage compiles protos/ with protoc from grpcio-tools; it never reaches
# the final stage.
PROTOC = ("grpcio-tools", "googleapis-common-protos")
# Left out of requirements.lock by `pip freeze`; their versions come from the venv.
FREEZE_OMITS = ("pip", "setuptools")
BASE_PACKAGES = ("python3", "python3-venv")
# What dpkg leaves out of the base, as python:3.11-slim does: manuals, docs (but not the
# licences), translations.
SLIM = (
    "exclude=/usr/share/man/*",
    "exclude=/usr/share/info/*",
    "exclude=/usr/share/doc/*",
    "include=/usr/share/doc/*/copyright",
    "exclude=/usr/share/locale/*",
)
# Named after what goes into it, so changing the recipe makes (and uses) a new base.
BASE_RECIPE = hashlib.sha256(repr((BASE_PACKAGES, SLIM)).encode()).hexdigest()[:8]
BASE_LOCAL = f"localhost/blog-base:bookworm-{BASE_RECIPE}"
DEFAULTS = {
    "BLOG_IMAGE": "localhost/blog-platform:latest",
    "BASE_IMAGE": "debian",
    "POSTGRES_IMAGE": "localhost/blog-postgres:15",
}


def setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def podman_env() -> dict[str, str]:
    """The environment for every podman call: this project's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=podman_env(), check=True, text=True, capture_output=capture
    )


def image_exists(name: str) -> bool:
    found = subprocess.run(["podman", "image", "exists", name], env=podman_env(), check=False)
    return found.returncode == 0


def step(name: str, started: float) -> None:
    print(f"image.py: {name} in {time.monotonic() - started:.1f} s", flush=True)


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    """requirements.lock's pins, plus the packaging tools `pip freeze` leaves out of it
    (grpcio-tools needs setuptools), at the versions of the venv the lock made."""
    pins = {name: metadata.version(name) for name in FREEZE_OMITS}
    for line in LOCK.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[normalise(name)] = version.strip()
    return pins


def wheel_pins(directory: Path) -> dict[str, str]:
    """name -> version of each wheel in `directory` (from the file name, PEP 427)."""
    pins = {}
    for wheel in directory.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        pins[normalise(name)] = version
    return pins


def fill_wheelhouse(target: Path, requirements: Iterable[str]) -> None:
    """Build the wheels of `requirements` and all they need, at the lock's versions only."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    # The pins as constraints: every package pulled in, not only the named ones, gets the
    # version the tests ran with.
    locked = locked_versions()
    constraints = target / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in locked.items()))
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(constraints), "-w", str(target), *requirements], check=True)
    constraints.unlink()
    built = wheel_pins(target)
    unpinned = sorted(f"{n}=={v}" for n, v in built.items() if locked.get(n) != v)
    if unpinned:
        sys.exit(f"not at requirements.lock's versions (run make lock): {', '.join(unpinned)}")
    lines = [f"{name}=={version}" for name, version in sorted(built.items())]
    (target / "requirements.txt").write_text("\n".join(lines) + "\n")


def runtime_requirements() -> list[str]:
    lines = (line.split("#")[0].strip() for line in RUNTIME.read_text().splitlines())
    return [line for line in lines if line]


def wheels() -> None:
    """build/wheelhouse/{runtime,protoc}, rebuilt when the lock or the runtime list changes."""
    key = hashlib.sha256(LOCK.read_bytes() + RUNTIME.read_bytes() + str(PROTOC).encode())
    stamp = WHEELHOUSE / "key"
    if stamp.exists() and stamp.read_text() == key.hexdigest():
        print("image.py: wheelhouse up to date")
        return
    started = time.monotonic()
    stamp.unlink(missing_ok=True)
    fill_wheelhouse(WHEELHOUSE / "runtime", runtime_requirements())
    fill_wheelhouse(WHEELHOUSE / "protoc", PROTOC)
    stamp.write_text(key.hexdigest())
    step("wheelhouse", started)


def base() -> None:
    """BASE_LOCAL from Debian's packages; the tarball is reused while it exists."""
    if image_exists(BASE_LOCAL):
        print(f"image.py: {BASE_LOCAL} exists")
        return
    started = time.monotonic()
    tarball = CACHE / f"debian-bookworm-{BASE_RECIPE}.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        include = ",".join(BASE_PACKAGES)
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet", f"--include={include}"]
            + [f"--dpkgopt=path-{rule}" for rule in SLIM]
            + ["bookworm", str(partial)],
            check=True,
        )
        partial.rename(tarball)
    # An imported tarball has no PATH of its own.
    path = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    podman("import", "--quiet", "--change", path, str(tarball), BASE_LOCAL, capture=True)
    step(f"base image {BASE_LOCAL}", started)


def base_image() -> str:
    """The image the stages start from: the local Debian one unless BASE_IMAGE names another."""
    chosen = setting("BASE_IMAGE")
    if chosen == "debian":
        base()
        return BASE_LOCAL
    return chosen


def image_id(name: str) -> str | None:
    found = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", name],
        env=podman_env(),
        check=False,
        text=True,
        capture_output=True,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def build(dockerfile: str, tag: str, base_name: str, *extra: str) -> None:
    started = time.monotonic()
    previous = image_id(tag)
    podman(
        "build",
        "--file",
        f"docker/{dockerfile}",
        "--build-arg",
        f"BASE_IMAGE={base_name}",
        "--tag",
        tag,
        # apt-get in the postgres image's build needs the host's network; pip never runs
        # online here.
        "--network=host",
        "--layers",
        *extra,
        str(ROOT),
    )
    if previous not in (None, image_id(tag)):
        # The image this tag named before, unless a container still uses it: rebuilds
        # would otherwise pile up untagged images.
        subprocess.run(
            ["podman", "rmi", previous], env=podman_env(), check=False, capture_output=True
        )
    step(f"image {tag}", started)


def app() -> None:
    wheels()
    build(
        "Dockerfile", setting("BLOG_IMAGE"), base_image(), "--build-context", f"wheels={WHEELHOUSE}"
    )


def postgres() -> None:
    tag = setting("POSTGRES_IMAGE")
    if not tag.startswith("localhost/"):
        print(f"image.py: using {tag} as it is")
        return
    build("postgres.Dockerfile", tag, base_image())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="docker/image.py", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["base", "wheels", "app", "postgres", "all"])
    action = parser.parse_args(argv).action
    if shutil.which("podman") is None and action != "wheels":
        sys.exit("podman is not installed: run docker/install-tools.sh")
    if action == "base":
        base()
    elif action == "wheels":
        wheels()
    elif action == "app":
        app()
    elif action == "postgres":
        postgres()
    else:
        app()
        postgres()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
