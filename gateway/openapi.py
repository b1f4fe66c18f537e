"""Generate the OpenAPI 3.1 document from the descriptor set: HTTP annotations and comments.

What a proto cannot say is kept in one small table: the REST status of success (the
services send 201/204 through `x-http-status`), who may call, and which errors an RPC
documents. Everything else (paths, parameters, bodies, schemas, descriptions) comes
from the protos, so the document changes when they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gateway.descriptors import Descriptors, HttpRoute
from gateway.schemas import F, field_schema, message_schema, ref, status_schema

if TYPE_CHECKING:
    from gateway.config import GatewaySettings

Auth = Literal["none", "optional", "required"]
ERRORS = {
    400: "Invalid input (a field violation names the field), unknown query parameter or "
    "JSON field, or malformed JSON",
    401: "Missing, expired or invalid bearer token, or wrong credentials",
    403: "The caller is not the author",
    404: "Not found (also someone else's draft)",
    409: "Conflict: the username or email is already taken (register), or the article "
    "was changed by someone else since its etag was read (reload and retry)",
    413: "Request body larger than the gateway's limit",
    429: "Too many failed logins for this account name, or too many login requests "
    "(the gateway's limit, with Retry-After); try again later",
}


@dataclass(frozen=True)
class Semantics:
    """REST facts about one RPC that the proto does not carry."""

    success: int
    auth: Auth
    errors: tuple[int, ...] = ()


# Keyed by RPC name; a test fails if an HTTP-annotated RPC is missing here.
SEMANTICS: dict[str, Semantics] = {
    "blog.auth.v1.AuthService.Register": Semantics(201, "none", (409, 429)),
    "blog.auth.v1.AuthService.LoginWithForm": Semantics(200, "none", (401, 429)),
    "blog.auth.v1.AuthService.GetCurrentUser": Semantics(200, "required"),
    "blog.auth.v1.AuthService.DeleteCurrentUser": Semantics(204, "required"),
    "blog.articles.v1.ArticleService.ListArticles": Semantics(200, "optional"),
    "blog.articles.v1.ArticleService.GetArticle": Semantics(200, "optional", (404,)),
    "blog.articles.v1.ArticleService.CreateArticle": Semantics(201, "required"),
    "blog.articles.v1.ArticleService.UpdateArticle": Semantics(200, "required", (403, 404, 409)),
    "blog.articles.v1.ArticleService.DeleteArticle": Semantics(204, "required", (403, 404)),
}
# HttpBody requests carry raw bytes; this names the message whose fields they hold.
RAW_BODY_FIELDS = {"blog.auth.v1.AuthService.LoginWithForm": "blog.auth.v1.LoginRequest"}
HTTP_BODY = "google.api.HttpBody"


def build(descriptors: Descriptors, settings: GatewaySettings | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Status": status_schema()}
    for route in descriptors.routes():
        operation = _operation(descriptors, route, schemas, settings)
        paths.setdefault(route.template, {})[route.verb.lower()] = operation
    tags = [
        {"name": _tag(name), "description": descriptors.comments.get(name, "")}
        for name in descriptors.services()
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Blog API",
            "version": "v1",
            "description": "The public JSON API of the blog platform, generated from its "
            "protos. Paths also answer with a trailing slash. Errors are JSON "
            "google.rpc.Status objects: {code, message, details}; for invalid input, "
            "details holds a google.rpc.BadRequest naming each field. An unknown query "
            "parameter is a 400; unknown JSON fields in a body are ignored." + _limit(settings),
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access_token from POST /auth/login.",
                }
            },
        },
    }


def _limit(settings: GatewaySettings | None) -> str:
    if settings is None:
        return ""
    return f" Request bodies over {settings.max_request_body_bytes} bytes answer 413."


def _tag(service: str) -> str:
    return service.split(".")[1]


def _operation(
    descriptors: Descriptors,
    route: HttpRoute,
    schemas: dict[str, Any],
    settings: GatewaySettings | None,
) -> dict[str, Any]:
    semantics = SEMANTICS.get(route.rpc)
    if semantics is None:
        raise KeyError(f"{route.rpc} has an HTTP route but no entry in gateway.openapi.SEMANTICS")
    summary, _, _rest = route.comment.partition("\n")
    operation: dict[str, Any] = {
        "operationId": route.method,
        "tags": [_tag(route.service)],
        "summary": summary.rstrip("."),
        "description": route.comment,
        "parameters": _parameters(descriptors, route),
    }
    body = _request_body(descriptors, route, schemas)
    if body is not None:
        operation["requestBody"] = body
    operation["responses"] = _responses(descriptors, route, semantics, schemas, settings)
    if semantics.auth == "required":
        operation["security"] = [{"bearerAuth": []}]
    elif semantics.auth == "optional":
        operation["security"] = [{}, {"bearerAuth": []}]
    else:
        operation["security"] = []
    return operation


def _parameters(descriptors: Descriptors, route: HttpRoute) -> list[dict[str, Any]]:
    message = descriptors.messages[route.input_type]
    params: list[dict[str, Any]] = []
    for field in message.field:
        description = descriptors.comments.get(f"{route.input_type}.{field.name}", "")
        if field.name in route.path_params:
            where, required = "path", True
        elif not route.body and field.type != F.TYPE_MESSAGE:
            where, required = "query", False
        else:
            continue
        params.append(
            {
                "name": field.name,
                "in": where,
                "required": required,
                "description": description,
                "schema": field_schema(descriptors, field, {}),
            }
        )
    return params


def _request_body(
    descriptors: Descriptors, route: HttpRoute, schemas: dict[str, Any]
) -> dict[str, Any] | None:
    if not route.body:
        return None
    message = descriptors.messages[route.input_type]
    if route.body != "*":
        field = next(f for f in message.field if f.name == route.body)
        if field.type_name.lstrip(".") == HTTP_BODY:
            fields = ref(descriptors, RAW_BODY_FIELDS[route.rpc], schemas)
            return {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": fields},
                    "application/json": {"schema": fields},
                },
            }
        schema = field_schema(descriptors, field, schemas)
    elif route.path_params:
        schema = message_schema(descriptors, route.input_type, schemas, set(route.path_params))
    else:
        schema = ref(descriptors, route.input_type, schemas)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _responses(
    descriptors: Descriptors,
    route: HttpRoute,
    semantics: Semantics,
    schemas: dict[str, Any],
    settings: GatewaySettings | None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if semantics.success == 204:
        responses["204"] = {"description": "Done; no content"}
    else:
        output = descriptors.messages[route.output_type]
        if route.response_body:
            field = next(f for f in output.field if f.name == route.response_body)
            schema = field_schema(descriptors, field, schemas)
        else:
            schema = ref(descriptors, route.output_type, schemas)
        description = descriptors.comments.get(route.output_type, "OK")
        responses[str(semantics.success)] = {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    codes = {400, *semantics.errors}
    if semantics.auth != "none":
        codes.add(401)
    if route.body:
        codes.add(413)
    for code in sorted(codes):
        description = ERRORS[code]
        if code == 413 and settings is not None:
            description += f" ({settings.max_request_body_bytes} bytes)"
        error: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
        }
        if code == 401:
            error["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}
            }
        responses[str(code)] = error
    return responses
