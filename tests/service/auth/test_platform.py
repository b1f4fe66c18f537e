"""What other services and operators rely on: batch lookups, public keys, health, reflection."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
import jwt
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from auth_service.server import SERVICE_NAME

from .conftest import violated_fields

Stub: TypeAlias = "auth_pb2_grpc.AuthServiceAsyncStub"  # exists only in the stubs


async def test_batch_get_users_leaves_out_unknown_ids(stub: Stub, alice: auth_pb2.User) -> None:
    reply = await stub.BatchGetUsers(auth_pb2.BatchGetUsersRequest(ids=[alice.id, 999999]))
    assert list(reply.users) == [alice]


async def test_batch_get_users_refuses_more_than_100_ids(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.BatchGetUsers(auth_pb2.BatchGetUsersRequest(ids=range(1, 102)))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_published_key_verifies_issued_tokens(
    stub: Stub, alice: auth_pb2.User, alice_token: str
) -> None:
    reply = await stub.ListPublicKeys(auth_pb2.ListPublicKeysRequest())
    [key] = reply.keys
    assert key.algorithm == "EdDSA"
    assert jwt.get_unverified_header(alice_token)["kid"] == key.kid
    claims = jwt.decode(
        alice_token,
        load_pem_public_key(key.public_key_pem.encode()),  # type: ignore[arg-type]
        algorithms=["EdDSA"],
        audience="blog",
        issuer="blog-auth",
    )
    assert claims["sub"] == str(alice.id)


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)  # the health stubs are untyped
    for service in ("", SERVICE_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_watch_streams_serving(channel: grpc.aio.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)  # the health stubs are untyped
    watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    reply = await watch.read()
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


async def test_the_user_feed_refuses_a_negative_cursor_through_the_common_edge(
    stub: Stub,
) -> None:
    # The stream's domain error is translated by svckit.calls, like a unary call's.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchUserEvents(auth_pb2.WatchUserEventsRequest(after_seq=-1)):
            pass
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == ["after_seq"]


async def test_reflection_lists_the_service(channel: grpc.aio.Channel) -> None:
    reflection: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]  # sync-only stubs
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in reflection.ServerReflectionInfo(iter([request])):
        names = {service.name for service in reply.list_services_response.service}
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names
        break
