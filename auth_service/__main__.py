"""Start the auth service: `python -m auth_service` (settings from AUTH_* environment variables)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from auth_service import keys
from auth_service.config import Settings
from auth_service.server import serve
from svckit.entry import run_service


def main() -> int:
    try:
        settings = Settings()  # type: ignore[call-arg]  # filled from AUTH_* variables
        # Fail before forking: a bad key folder should stop one process, not N workers.
        keys.load_keyring(settings.keys_dir, settings.active_kid)
    except (ValidationError, keys.KeyConfigError) as exc:
        print(f"auth_service: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    return run_service("auth", settings, lambda index: serve(settings, index))


if __name__ == "__main__":
    sys.exit(main())
