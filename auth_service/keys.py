"""Ed25519 signing keys kept as `<kid>.pem` files (0600) in one folder; all published, one signs.

    python -m auth_service.keys generate <dir>    # creates a key, prints its kid

Rotation: add a key and restart (it is published, not yet signing), later set active_kid to
it; tokens signed by the old key stay valid while it is still in the folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyConfigError(Exception):
    """The key folder cannot provide a signing key as configured."""


@dataclass(frozen=True)
class KeyRing:
    """The signing key and every public key that verifies our tokens."""

    active_kid: str
    signing_key: Ed25519PrivateKey
    public_keys: dict[str, Ed25519PublicKey]

    def public_pem(self, kid: str) -> str:
        return (
            self.public_keys[kid]
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """A short RFC 7638 JWK thumbprint: stable, derived from the key itself."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode("ascii")
    return _b64url(hashlib.sha256(canonical).digest())[:16]


def generate_key(directory: Path) -> str:
    """Create a new key file in `directory` (readable by the owner only); return its kid."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    kid = thumbprint(key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(directory / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return kid


def ensure_key(directory: Path) -> str:
    """Create a key only if `directory` has none; return the kid of the (first) key."""
    existing = _key_files(directory)
    if existing:
        return existing[0].stem
    return generate_key(directory)


def load_keyring(directory: Path, active_kid: str | None) -> KeyRing:
    files = _key_files(directory)
    if not files:
        raise KeyConfigError(f"no key in {directory}; run: python -m auth_service.keys generate")
    private: dict[str, Ed25519PrivateKey] = {}
    for path in files:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyConfigError(f"{path.name} is not an Ed25519 private key")
        private[path.stem] = key
    if active_kid is None:
        if len(private) > 1:
            raise KeyConfigError(f"{len(private)} keys in {directory}; set AUTH_ACTIVE_KID")
        active_kid = next(iter(private))
    if active_kid not in private:
        raise KeyConfigError(f"active kid {active_kid!r} has no key in {directory}")
    public = {kid: key.public_key() for kid, key in private.items()}
    return KeyRing(active_kid, private[active_kid], public)


def _key_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.pem"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "generate":
        print("usage: python -m auth_service.keys generate <dir>", file=sys.stderr)
        return 2
    print(generate_key(Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
