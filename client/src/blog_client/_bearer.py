"""Bearer-token metadata: how both services learn who is calling."""

from __future__ import annotations

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """The call metadata that sends `token`: pass it as `metadata=` to any stub method.

    Per call rather than per channel, because one internal caller often acts for many users.
    """
    return (("authorization", f"Bearer {token}"),)
