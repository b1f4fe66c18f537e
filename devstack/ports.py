"""Free ports for the servers the project starts (the stack, tests, benchmarks)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


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
