"""JSON schemas of protobuf messages, as the transcoder prints them (proto field names)."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2

from gateway.descriptors import Descriptors

F = descriptor_pb2.FieldDescriptorProto
_SCALARS: dict[int, dict[str, Any]] = {
    F.TYPE_INT32: {"type": "integer", "format": "int32"},
    F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    F.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    F.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # proto3 JSON prints 64-bit integers as strings.
    F.TYPE_INT64: {"type": "string", "format": "int64"},
    F.TYPE_SINT64: {"type": "string", "format": "int64"},
    F.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    F.TYPE_UINT64: {"type": "string", "format": "uint64"},
    F.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    F.TYPE_BOOL: {"type": "boolean"},
    F.TYPE_STRING: {"type": "string"},
    F.TYPE_BYTES: {"type": "string", "format": "byte"},
    F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    F.TYPE_FLOAT: {"type": "number", "format": "float"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    "google.protobuf.Empty": {"type": "object"},
}


def ref(descriptors: Descriptors, name: str, schemas: dict[str, Any]) -> dict[str, Any]:
    if name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[name])
    short = name.rsplit(".", 1)[-1]
    if short not in schemas:
        schemas[short] = {}  # placeholder first: messages may refer to themselves
        schemas[short] = message_schema(descriptors, name, schemas, set())
    return {"$ref": f"#/components/schemas/{short}"}


def message_schema(
    descriptors: Descriptors, name: str, schemas: dict[str, Any], leave_out: set[str]
) -> dict[str, Any]:
    message = descriptors.messages[name]
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in message.field:
        if field.name in leave_out:
            continue
        schema = field_schema(descriptors, field, schemas)
        comment = descriptors.comments.get(f"{name}.{field.name}")
        if comment:
            schema = {**schema, "description": comment}
        properties[field.name] = schema
        if not field.proto3_optional and field.label != F.LABEL_REPEATED:
            required.append(field.name)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    description = descriptors.comments.get(name)
    if description:
        result["description"] = description
    return result


def field_schema(
    descriptors: Descriptors, field: descriptor_pb2.FieldDescriptorProto, schemas: dict[str, Any]
) -> dict[str, Any]:
    if field.type == F.TYPE_MESSAGE:
        item = ref(descriptors, field.type_name.lstrip("."), schemas)
    elif field.type == F.TYPE_ENUM:
        item = {"type": "string"}
    else:
        item = dict(_SCALARS[field.type])
    if field.label == F.LABEL_REPEATED:
        return {"type": "array", "items": item}
    return item


def status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "An error: google.rpc.Status as JSON.",
        "properties": {
            "code": {"type": "integer", "description": "The gRPC status code."},
            "message": {"type": "string", "description": "What went wrong, for a human."},
            "details": {
                "type": "array",
                "description": "For invalid input, a google.rpc.BadRequest whose "
                "fieldViolations name each bad field.",
                "items": {"type": "object"},
            },
        },
        "required": ["code", "message"],
    }
