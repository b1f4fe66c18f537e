"""Container health probe: `healthcheck.py grpc HOST:PORT SERVICE` or `healthcheck.py http URL`.

Exit 0 when the gRPC server reports SERVING for SERVICE (grpc.health.v1), or when the URL
answers 200; 1 otherwise. Used by docker-compose.yml.
"""

from __future__ import annotations

import sys
import urllib.request

import grpc
from grpc_health.v1 import health_pb2


def grpc_serving(target: str, service: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - a fixed local URL
            return bool(reply.status == 200)
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "grpc":
        return 0 if grpc_serving(argv[1], argv[2]) else 1
    if len(argv) == 2 and argv[0] == "http":
        return 0 if http_ok(argv[1]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
