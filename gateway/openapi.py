"""Generate the OpenAPI 3.1 document from the descriptor set: HTTP annotations and comments.

What a proto cannot say is kept in small tables (gateway.api_tables): the REST status of
success, who may call and which errors an RPC documents; what the services check in each
input field; the links between operations. Everything else (paths, parameters, bodies,
schemas, descriptions) comes from the protos, so the document changes when they do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.api_tables import (
    ANY_OPERATION,
    CONSTRAINTS,
    ERRORS,
    LINKS,
    NOT_REQUIRED,
    SEMANTICS,
    Semantics,
)
from gateway.descriptors import Descriptors, HttpRoute
from gateway.schemas import F, field_schema, message_schema, ref, status_schema

if TYPE_CHECKING:
    from gateway.config import GatewaySettings

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
        raise KeyError(
            f"{route.rpc} has an HTTP route but no entry in gateway.api_tables.SEMANTICS"
        )
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
