"""Asking a gRPC server's health service whether it is SERVING (the launcher's probe)."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2

from devstack.supervise import Child


def _health_check(channel: grpc.Channel) -> Callable[..., health_pb2.HealthCheckResponse]:
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def serving(target: str, timeout: float = 0.5) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            reply = _health_check(channel)(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def wait_serving(target: str, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            code = child.process.returncode if child.process else None
            raise RuntimeError(f"{target}: the process exited with {code}")
        if serving(target, timeout=1.0):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{target} did not report SERVING within {timeout:.0f} s")
