"""The key folder: creation, permissions, choosing the signing key, rotation."""

from __future__ import annotations

import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from auth_service import keys
from auth_service.tokens import TokenCodec


def _codec(directory: Path, active: str | None) -> TokenCodec:
    ring = keys.load_keyring(directory, active)
    return TokenCodec(ring, issuer="i", audience="a", ttl=timedelta(minutes=5))


def test_ensure_key_creates_one_private_file_only_once(tmp_path: Path) -> None:
    kid = keys.ensure_key(tmp_path / "keys")
    assert keys.ensure_key(tmp_path / "keys") == kid
    files = list((tmp_path / "keys").iterdir())
    assert [f.name for f in files] == [f"{kid}.pem"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_several_keys_need_an_explicit_active_kid(tmp_path: Path) -> None:
    keys.generate_key(tmp_path)
    second = keys.generate_key(tmp_path)
    with pytest.raises(keys.KeyConfigError):
        keys.load_keyring(tmp_path, None)
    with pytest.raises(keys.KeyConfigError):
        keys.load_keyring(tmp_path, "missing")
    assert keys.load_keyring(tmp_path, second).active_kid == second


def test_an_empty_key_folder_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyConfigError):
        keys.load_keyring(tmp_path, None)


async def test_tokens_of_the_old_key_stay_valid_after_rotation(tmp_path: Path) -> None:
    old = keys.generate_key(tmp_path)
    token = _codec(tmp_path, None).issue(5).token
    new = keys.generate_key(tmp_path)
    rotated = _codec(tmp_path, new)
    assert await rotated.verify(token) == 5
    assert set(keys.load_keyring(tmp_path, new).public_keys) == {old, new}


def test_the_command_line_generates_a_key_and_prints_its_kid(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auth_service.keys", "generate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / f"{result.stdout.strip()}.pem").exists()
