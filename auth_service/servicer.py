"""The gRPC face of the auth service: decode the request, run one operation, encode the answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from google.protobuf import empty_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from auth_service.errors import InvalidInputError, InvalidTokenError
from auth_service.models import IssuedToken, User, UserEvent, UserEventKind
from auth_service.operations import AuthOperations
from svckit.bearer import bearer_token
from svckit.interceptors import call_metadata

Context = grpc.aio.ServicerContext[Any, Any]
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
_KINDS = {
    UserEventKind.CREATED: auth_pb2.USER_EVENT_KIND_CREATED,
    UserEventKind.DELETED: auth_pb2.USER_EVENT_KIND_DELETED,
    UserEventKind.RENAMED: auth_pb2.USER_EVENT_KIND_RENAMED,
    UserEventKind.TOKENS_REVOKED: auth_pb2.USER_EVENT_KIND_TOKENS_REVOKED,
}


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, operations: AuthOperations) -> None:
        self._ops = operations

    async def Register(  # noqa: N802 - gRPC method names
        self, request: auth_pb2.RegisterRequest, context: Context
    ) -> auth_pb2.User:
        user = await self._ops.register(
            request.email, request.username, request.password, request.request_id
        )
        return _user(user)

    async def Login(  # noqa: N802
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.AccessToken:
        return _token(await self._ops.login(request.username, request.password))

    async def LoginWithForm(  # noqa: N802
        self, request: auth_pb2.LoginWithFormRequest, context: Context
    ) -> auth_pb2.AccessToken:
        fields = parse_form(request.form.content_type, request.form.data)
        if fields.get("grant_type") == "refresh_token":  # OAuth2's refresh at its token endpoint
            return _token(await self._ops.refresh(_required(fields, "refresh_token")[0]))
        username, password = _required(fields, "username", "password")
        return _token(await self._ops.login(username, password))

    async def RefreshToken(  # noqa: N802
        self, request: auth_pb2.RefreshTokenRequest, context: Context
    ) -> auth_pb2.AccessToken:
        return _token(await self._ops.refresh(request.refresh_token))

    async def Logout(  # noqa: N802
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._ops.logout(request.refresh_token)
        return empty_pb2.Empty()

    async def GetCurrentUser(  # noqa: N802
        self, request: auth_pb2.GetCurrentUserRequest, context: Context
    ) -> auth_pb2.User:
        return _user(await self._ops.current_user(_bearer(context)))

    async def UpdateCurrentUser(  # noqa: N802
        self, request: auth_pb2.UpdateCurrentUserRequest, context: Context
    ) -> auth_pb2.User:
        username = request.username if request.HasField("username") else None
        email = request.email if request.HasField("email") else None
        return _user(await self._ops.update_current_user(_bearer(context), username, email))

    async def ChangePassword(  # noqa: N802
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        changed = await self._ops.change_password(
            _bearer(context), request.current_password, request.new_password
        )
        valid_after = Timestamp()
        valid_after.FromDatetime(changed.valid_after)
        return auth_pb2.ChangePasswordResponse(
            tokens_valid_after=valid_after, token=_token(changed.token)
        )

    async def BatchGetUsers(  # noqa: N802
        self, request: auth_pb2.BatchGetUsersRequest, context: Context
    ) -> auth_pb2.BatchGetUsersResponse:
        users = await self._ops.batch_get_users(list(request.ids))
        return auth_pb2.BatchGetUsersResponse(users=[_user(user) for user in users])

    async def ListPublicKeys(  # noqa: N802
        self, request: auth_pb2.ListPublicKeysRequest, context: Context
    ) -> auth_pb2.ListPublicKeysResponse:
        keys = [
            auth_pb2.PublicKey(kid=key.kid, algorithm=key.algorithm, public_key_pem=key.pem)
            for key in self._ops.public_keys()
        ]
        return auth_pb2.ListPublicKeysResponse(keys=keys)

    async def DeleteCurrentUser(  # noqa: N802
        self, request: auth_pb2.DeleteCurrentUserRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._ops.delete_current_user(_bearer(context))
        return empty_pb2.Empty()

    async def WatchUserEvents(  # noqa: N802
        self, request: auth_pb2.WatchUserEventsRequest, context: Context
    ) -> AsyncIterator[auth_pb2.UserEvent]:
        async for event, head in self._ops.user_events(request.after_seq):
            yield _event(event, head)


def _bearer(context: Context) -> str | None:
    return bearer_token(call_metadata(context), InvalidTokenError)


def parse_login_body(content_type: str, data: bytes) -> tuple[str, str]:
    """username and password from an OAuth2 password form or a JSON object."""
    username, password = _required(parse_form(content_type, data), "username", "password")
    return username, password


def parse_form(content_type: str, data: bytes) -> dict[str, object]:
    """The fields of an OAuth2 form (application/x-www-form-urlencoded) or a JSON object."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        text = data.decode("utf-8")
        if media_type == FORM_TYPE:
            fields = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        elif media_type == JSON_TYPE:
            loaded = json.loads(text)
            fields = loaded if isinstance(loaded, dict) else {}
        else:
            raise InvalidInputError([("form", f"content type must be {FORM_TYPE} or {JSON_TYPE}")])
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError([("form", "body is not valid UTF-8 form data or JSON")]) from None
    return dict(fields)


def _required(fields: dict[str, object], *names: str) -> list[str]:
    """The named fields' values; INVALID_ARGUMENT naming each one missing or not text."""
    values = [fields.get(name) for name in names]
    missing = [
        (name, "is required")
        for name, value in zip(names, values, strict=True)
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise InvalidInputError(missing)
    return [str(value) for value in values]


def _user(user: User) -> auth_pb2.User:
    created, updated = Timestamp(), Timestamp()
    created.FromDatetime(user.created_at)
    updated.FromDatetime(user.updated_at)
    return auth_pb2.User(
        id=user.id, email=user.email, username=user.username, created_at=created, updated_at=updated
    )


def _token(issued: IssuedToken) -> auth_pb2.AccessToken:
    return auth_pb2.AccessToken(
        access_token=issued.token,
        token_type="bearer",  # noqa: S106 - the OAuth2 token type
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
    )


def _event(event: UserEvent, head: int) -> auth_pb2.UserEvent:
    occurred = Timestamp()
    occurred.FromDatetime(event.occurred_at)
    return auth_pb2.UserEvent(
        seq=event.seq,
        kind=_KINDS[event.kind],
        user_id=event.user_id,
        username=event.username,
        occurred_at=occurred,
        head_seq=head,
        token_epoch=event.token_epoch,
    )
