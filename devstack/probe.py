"""Asking a gRPC server's health service how it is: the one probe the launcher, the fault
suite and the bench use to know that a service they started is SERVING."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2


def _health_check(channel: grpc.Channel) -> Callable[..., health_pb2.HealthCheckResponse]:
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def status(target: str, timeout: float = 1.0) -> str:
    """SERVING / NOT_SERVING, or the gRPC code name when the check itself failed."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = _health_check(channel)(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            return code.name if code is not None else "ERROR"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def serving(target: str, timeout: float = 0.5) -> bool:
    return status(target, timeout) == "SERVING"


def wait_serving(targets: Sequence[str], process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until every target reports SERVING; fails at once if `process` (the service
    behind them) exits, or after `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{targets[0]}: the process exited with {process.returncode}")
        if all(serving(target, timeout=1.0) for target in targets):
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"{', '.join(targets)} did not report SERVING within {timeout:.0f} s")
