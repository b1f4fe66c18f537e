"""Generate the OpenAPI 3.1 document from the descriptor set: HTTP annotations and comments.

What a proto cannot say is kept in small tables: the REST status of success (routes.py
also hands 201/204 to status.lua through route metadata), who may call, which errors an RPC
documents (SEMANTICS); what the services check in each input field (CONSTRAINTS, so
input the document calls valid is accepted, which the fuzzer in faults/fuzz.py relies
on); and the links between operations (LINKS). Everything else (paths, parameters,
bodies, schemas, descriptions) comes from the protos, so the document changes when
they do.
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
    400: "Invalid input (a field violation names the field), unknown query parameter, "
    "or malformed JSON",
    401: "Missing, expired or invalid bearer token, or wrong credentials; for a refresh "
    "token: unknown, expired, revoked (logout, password change, deleted account), or already "
    "used (which revokes its whole session)",
    403: "The caller is not the author (of the article, or of the drafts asked for), or the "
    "current password given to change it is wrong (which counts as a failed login)",
    404: "Not found (also someone else's draft)",
    409: "Conflict: the username or email is already taken (register, or a change of the "
    "current user), or the article was changed by someone else since its etag was read "
    "(reload and retry)",
    413: "Request body larger than the gateway's limit",
    429: "Too many failed logins for this account name, too many login requests "
    "(the gateway's limit, with Retry-After), or the service is at its bound of concurrent "
    "calls; try again later",
    431: "Request headers (the URL included) larger than the gateway's limit",
    503: "The service or its database is unreachable for now; retry later",
    504: "The service did not answer in time; retry later (a write may have happened: "
    "retry a create with the same request_id)",
}
# What any operation may answer, whatever it does: overload, limits, outages.
ANY_OPERATION = (429, 431, 503, 504)


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
    "blog.auth.v1.AuthService.RefreshToken": Semantics(200, "none", (401,)),
    "blog.auth.v1.AuthService.Logout": Semantics(204, "none", (401,)),
    "blog.auth.v1.AuthService.GetCurrentUser": Semantics(200, "required"),
    "blog.auth.v1.AuthService.UpdateCurrentUser": Semantics(200, "required", (409,)),
    "blog.auth.v1.AuthService.ChangePassword": Semantics(200, "required", (403,)),
    "blog.auth.v1.AuthService.DeleteCurrentUser": Semantics(204, "required"),
    "blog.articles.v1.ArticleService.ListArticles": Semantics(200, "optional", (403,)),
    "blog.articles.v1.ArticleService.GetArticle": Semantics(200, "optional", (404,)),
    "blog.articles.v1.ArticleService.CreateArticle": Semantics(201, "required"),
    "blog.articles.v1.ArticleService.UpdateArticle": Semantics(200, "required", (403, 404, 409)),
    "blog.articles.v1.ArticleService.DeleteArticle": Semantics(204, "required", (403, 404)),
}
# What the services check in the fields a client sends, as JSON Schema, so that input the
# document calls valid is accepted (a fuzzer relies on it). Keyed by message.field; applied
# to request bodies and parameters only. Text never holds NUL (PostgreSQL cannot store it).
# The password's real limit is 72 bytes in UTF-8, which JSON Schema cannot count: maxLength
# (characters) is the part it can say, the description says the rest.
_NO_NUL = "^[^\\u0000]*$"
# The characters Python's str.strip() and re's \s take for white space, spelled out: JSON
# Schema's \s (ECMA-262) differs from Python's in \u001c-\u001f, \u0085 and \ufeff.
_WS = (
    "\\t\\n\\u000b\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_NOT_BLANK = f"^[^\\u0000]*[^{_WS}\\u0000][^\\u0000]*$"
_EMAIL_PART = f"[^@{_WS}\\u0000]+"
# Registration's rules, for the current user's changes too.
_EMAIL = {
    "maxLength": 254,
    "pattern": f"^[{_WS}]*{_EMAIL_PART}@{_EMAIL_PART}\\.{_EMAIL_PART}[{_WS}]*$",
}
_USERNAME = {"pattern": f"^[{_WS}]*[A-Za-z0-9_.-]{{3,50}}[{_WS}]*$"}
_TITLE = {"minLength": 1, "maxLength": 200, "pattern": _NOT_BLANK}
_CONTENT = {"minLength": 10, "pattern": _NO_NUL}
_UUID = {"anyOf": [{"const": ""}, {"format": "uuid"}]}  # empty means none
CONSTRAINTS: dict[str, dict[str, Any]] = {
    # The service strips surrounding white space from the email and username first.
    "blog.auth.v1.RegisterRequest.email": _EMAIL,
    "blog.auth.v1.RegisterRequest.username": _USERNAME,
    "blog.auth.v1.RegisterRequest.password": {"minLength": 8, "maxLength": 72, "pattern": _NO_NUL},
    "blog.auth.v1.UpdateCurrentUserRequest.email": _EMAIL,
    "blog.auth.v1.UpdateCurrentUserRequest.username": _USERNAME,
    "blog.auth.v1.ChangePasswordRequest.current_password": {"minLength": 1, "pattern": _NO_NUL},
    "blog.auth.v1.ChangePasswordRequest.new_password": {
        "minLength": 8,
        "maxLength": 72,
        "pattern": _NO_NUL,
    },
    "blog.auth.v1.RegisterRequest.request_id": _UUID,
    "blog.auth.v1.LoginRequest.username": {"pattern": _NOT_BLANK},
    "blog.auth.v1.LoginRequest.password": {"minLength": 1, "pattern": _NO_NUL},
    # A refresh token is opaque; any other text is just unknown (401).
    "blog.auth.v1.RefreshTokenRequest.refresh_token": {"minLength": 1, "pattern": _NO_NUL},
    "blog.auth.v1.LogoutRequest.refresh_token": {"minLength": 1, "pattern": _NO_NUL},
    "blog.articles.v1.CreateArticleRequest.title": _TITLE,
    "blog.articles.v1.CreateArticleRequest.content": _CONTENT,
    "blog.articles.v1.CreateArticleRequest.request_id": _UUID,
    "blog.articles.v1.UpdateArticleRequest.title": _TITLE,
    "blog.articles.v1.UpdateArticleRequest.content": _CONTENT,
    "blog.articles.v1.ListArticlesRequest.skip": {"minimum": 0},
    "blog.articles.v1.ListArticlesRequest.limit": {"minimum": 1, "maximum": 100},
    "blog.articles.v1.ListArticlesRequest.author_id": {"minimum": 1},
    # Empty means no author filter; anything else must be able to be a username.
    "blog.articles.v1.ListArticlesRequest.author": {"pattern": "^([A-Za-z0-9_.-]{3,50})?$"},
    "blog.articles.v1.ListArticlesRequest.q": {"maxLength": 200, "pattern": _NO_NUL},
}
# Plain proto3 fields a client may leave out: empty means "none" (proto3 JSON takes a
# missing field as empty, so only `optional` fields and these are not required).
NOT_REQUIRED = {
    "blog.auth.v1.RegisterRequest.request_id",
    "blog.articles.v1.CreateArticleRequest.request_id",
}
# OpenAPI links (what a response lets a client call next), for readers and for stateful
# fuzzing: keyed by operationId, then by success status.
_ARTICLE_ID = {"id": "$response.body#/id"}


def _on_article(operation: str, **more: Any) -> dict[str, Any]:
    """A link to `operation` on the article a response returned."""
    return {"operationId": operation, "parameters": _ARTICLE_ID, **more}


# UpdateArticle with the etag of the answer that led to it.
_GUARDED_UPDATE = _on_article("UpdateArticle", requestBody={"etag": "$response.body#/etag"})
LINKS: dict[str, dict[str, Any]] = {
    "Register": {
        "LoginWithForm": {
            "operationId": "LoginWithForm",
            "requestBody": {
                "username": "$request.body#/username",
                "password": "$request.body#/password",
            },
            "description": "Log in as the new user.",
        },
    },
    "CreateArticle": {
        "GetArticle": _on_article("GetArticle"),
        "UpdateArticle": {
            **_GUARDED_UPDATE,
            "description": "Change the new article (the etag guards against lost updates).",
        },
        "DeleteArticle": _on_article("DeleteArticle"),
    },
    "GetArticle": {
        "UpdateArticle": _on_article("UpdateArticle"),
        "DeleteArticle": _on_article("DeleteArticle"),
    },
    "UpdateArticle": {
        "GetArticle": _on_article("GetArticle"),
        "UpdateArticle": _GUARDED_UPDATE,
        "DeleteArticle": _on_article("DeleteArticle"),
    },
    "ListArticles": {
        "NextPage": {
            "operationId": "ListArticles",
            "parameters": {"page_token": "$response.header.x-next-page-token"},
            "description": "The next page (absent on the last page).",
        },
    },
}
NEXT_PAGE_HEADER = "x-next-page-token"
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
                "schema": {
                    **field_schema(descriptors, field, {}),
                    **CONSTRAINTS.get(f"{route.input_type}.{field.name}", {}),
                },
            }
        )
    return params


def _refine(schema: dict[str, Any], message: str) -> dict[str, Any]:
    """A request message's schema with what the service checks (CONSTRAINTS, NOT_REQUIRED)."""
    required = [
        name for name in schema.get("required", []) if f"{message}.{name}" not in NOT_REQUIRED
    ]
    properties = {
        name: _nullable({**value, **CONSTRAINTS.get(f"{message}.{name}", {})}, name in required)
        for name, value in schema.get("properties", {}).items()
    }
    # The transcoder refuses a property named "" (other unknown names are ignored).
    refined = {**schema, "properties": properties, "propertyNames": {"minLength": 1}}
    if required:
        refined["required"] = required
    else:
        refined.pop("required", None)
    return refined


def _nullable(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    """proto3 JSON reads null as "not sent": a field that may be left out may be null."""
    kind = schema.get("type")
    if required or not isinstance(kind, str):
        return schema
    return {**schema, "type": [kind, "null"]}


def _refined_ref(descriptors: Descriptors, name: str, schemas: dict[str, Any]) -> dict[str, Any]:
    reference = ref(descriptors, name, schemas)
    short = reference["$ref"].rsplit("/", 1)[-1]
    schemas[short] = _refine(schemas[short], name)
    return reference


def _request_body(
    descriptors: Descriptors, route: HttpRoute, schemas: dict[str, Any]
) -> dict[str, Any] | None:
    if not route.body:
        return None
    message = descriptors.messages[route.input_type]
    if route.body != "*":
        field = next(f for f in message.field if f.name == route.body)
        if field.type_name.lstrip(".") == HTTP_BODY:
            fields = _refined_ref(descriptors, RAW_BODY_FIELDS[route.rpc], schemas)
            return {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": fields},
                    "application/json": {"schema": fields},
                },
            }
        schema = field_schema(descriptors, field, schemas)
    elif route.path_params:
        schema = _refine(
            message_schema(descriptors, route.input_type, schemas, set(route.path_params)),
            route.input_type,
        )
    else:
        schema = _refined_ref(descriptors, route.input_type, schemas)
    # A body of only optional fields may be left out: it is the empty message (PATCH with
    # nothing to change answers the article as it is).
    resolved = schemas[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema
    return {
        "required": bool(resolved.get("required")),
        "content": {"application/json": {"schema": schema}},
    }


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
        if route.response_body and any(f.name == "next_page_token" for f in output.field):
            responses[str(semantics.success)]["headers"] = {
                NEXT_PAGE_HEADER: {
                    "description": "The next page's page_token; absent on the last page.",
                    "schema": {"type": "string", "minLength": 1},
                }
            }
    links = LINKS.get(route.method)
    if links:
        responses[str(semantics.success)]["links"] = links
    codes = {400, *semantics.errors, *ANY_OPERATION}
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
