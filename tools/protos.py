"""Build the contracts: Python code, typed stubs and the descriptor set, and check them.

python -m tools.protos generate   # rewrite gen/ and build/descriptors.binpb
python -m tools.protos check      # fail if gen/ differs from what protos/ gives
python -m tools.protos lint       # buf lint, and buf breaking against the release
python -m tools.protos release    # record the current contracts as released
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import google.api.annotations_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"
BUILD = ROOT / "build"
THIRD_PARTY = BUILD / "third_party"
DESCRIPTORS = BUILD / "descriptors.binpb"
RELEASED = ROOT / "releases" / "protos.binpb"
# The wheel ships these .proto sources next to their generated modules.
GOOGLEAPIS = Path(google.api.annotations_pb2.__file__).resolve().parents[2]
VENDORED = [
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/api/httpbody.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
]


def _own_protos() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def _protoc(*args: str) -> None:
    grpc_protos = Path(protoc.__file__).parent / "_proto"
    argv = ["protoc", f"-I{PROTOS}", f"-I{THIRD_PARTY}", f"-I{grpc_protos}", *args]
    if protoc.main(argv) != 0:
        sys.exit(f"protoc failed: {' '.join(args)}")


def vendor_third_party() -> None:
    """Copy the google/api and google/rpc protos that buf and protoc need."""
    for name in VENDORED:
        target = THIRD_PARTY / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOOGLEAPIS / name, target)


def generate_python(out: Path) -> None:
    """Write messages, gRPC stubs and their .pyi files for protos/ into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    _protoc(
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *_own_protos(),
    )
    for package in {p.parent for p in out.rglob("*_pb2.py")}:
        for directory in [package, *package.parents]:
            if directory == out:
                break
            (directory / "__init__.py").touch()
    (out / "py.typed").touch()


def generate_descriptors(out: Path) -> None:
    """Write the descriptor set Envoy's transcoder loads (all imports included)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _protoc(
        f"--descriptor_set_out={out}",
        "--include_imports",
        "--include_source_info",
        *_own_protos(),
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
    )


def generate() -> None:
    vendor_third_party()
    shutil.rmtree(GEN, ignore_errors=True)
    generate_python(GEN)
    generate_descriptors(DESCRIPTORS)


def _differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right)
    found = [str(left / n) for n in cmp.left_only + cmp.right_only + cmp.diff_files]
    for sub in cmp.common_dirs:
        found += _differences(left / sub, right / sub)
    return found


def check() -> None:
    vendor_third_party()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "gen"
        generate_python(fresh)
        stale = [
            p for p in _differences(GEN, fresh) if "__pycache__" not in p and not p.endswith(".pyc")
        ]
    if stale:
        sys.exit("gen/ is stale; run `make protos`:\n  " + "\n  ".join(stale))
    print("gen/ is up to date with protos/")


def _buf(*args: str) -> None:
    subprocess.run(["buf", *args], cwd=ROOT, check=True)


def lint() -> None:
    vendor_third_party()
    _buf("lint")
    # Compare images, not the workspace: the workspace has two modules, the release one image.
    current = BUILD / "current.binpb"
    _buf("build", "--exclude-source-info", "-o", str(current.relative_to(ROOT)))
    _buf("breaking", str(current.relative_to(ROOT)), "--against", str(RELEASED.relative_to(ROOT)))
    print("buf lint and buf breaking: clean")


def release() -> None:
    vendor_third_party()
    RELEASED.parent.mkdir(parents=True, exist_ok=True)
    _buf("build", "--exclude-source-info", "-o", str(RELEASED.relative_to(ROOT)))
    print(f"recorded the released contracts in {RELEASED.relative_to(ROOT)}")


COMMANDS = {"generate": generate, "check": check, "lint": lint, "release": release}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]]()
