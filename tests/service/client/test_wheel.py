"""The client wheel, installed in a fresh virtual environment, against the real services."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .conftest import run

DRIVE = Path(__file__).with_name("drive.py")
FAKE = Path(__file__).with_name("fake.py")


async def test_the_installed_wheel_registers_writes_reads_and_maps_errors(
    client_python: Path, services: tuple[str, str], tmp_path: Path
) -> None:
    # -I, from a folder of its own: nothing of the checkout (gen/, client/src) is importable,
    # so what runs is the wheel.
    out = await run(str(client_python), "-I", str(DRIVE), *services, "wheel_wendy", cwd=tmp_path)
    seen = json.loads(out)
    venv = client_python.parent.parent
    assert all(Path(module).is_relative_to(venv) for module in seen["modules"])
    user_id, username = seen["me"]
    assert username == "wheel_wendy"
    assert seen["read"][1:] == ["From the wheel", user_id]
    invalid = seen["invalid"]
    assert invalid["error"] == "InvalidArgumentError"
    assert ["content", "must be at least 10 characters"] in invalid["violations"]
    assert invalid["cause"] == "AioRpcError"
    assert (seen["missing"]["error"], seen["missing"]["message"]) == (
        "NotFoundError",
        "Article not found",
    )
    assert seen["anonymous"]["error"] == "UnauthenticatedError"
    assert seen["taken"]["code"] == "ALREADY_EXISTS"


async def test_deadlines_per_method_reads_retried_on_unavailable_and_stream_errors_mapped(
    client_python: Path, tmp_path: Path
) -> None:
    out = await run(str(client_python), "-I", str(FAKE), cwd=tmp_path)
    seen = json.loads(out)
    assert seen["read"] == [7, "Third time lucky"]
    assert seen["create"][0] == "UnavailableError"
    assert seen["calls"] == {"GetArticle": 3, "CreateArticle": 1}
    assert seen["garbled"] == ["bad", []]
    assert seen["feed"] == {"seen": [1], "error": "PermissionDeniedError", "message": "not for you"}
    # The service config's deadlines: 5 s a read, 10 s a write, none for the feed. gRPC starts
    # a deadline's clock from a time it cached (seen here well over a second before the call),
    # so each is compared with an explicit timeout of the same length.
    timed = seen["deadlines"]
    errors = {timed[call][0] for call in ("read", "read_5s", "write", "write_10s")}
    assert errors == {"DeadlineExceededError"}
    assert abs(timed["read"][1] - timed["read_5s"][1]) < 0.5
    assert abs(timed["write"][1] - timed["write_10s"][1]) < 0.5
    assert timed["write_10s"][1] - timed["read_5s"][1] > 4
    assert timed["feed"] > timed["write_10s"][1] + 1


async def test_code_using_the_installed_wheel_passes_mypy_strict(
    client_python: Path, tmp_path: Path
) -> None:
    """The wheel carries its typed stubs: mypy finds every import in the fresh environment
    (nothing of the checkout, whose config would add gen/ to its path)."""
    for script in (DRIVE, FAKE):
        shutil.copy(script, tmp_path)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    mypy = (sys.executable, "-m", "mypy", "--strict", "--no-incremental")
    await run(*mypy, "--python-executable", str(client_python), DRIVE.name, FAKE.name, cwd=tmp_path)
