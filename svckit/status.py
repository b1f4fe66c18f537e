"""google.rpc.Status with details: the one shape of every error a client sees."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2


@dataclass(frozen=True)
class RichStatus:
    """A status code, a human-readable message and optional field violations."""

    code: grpc.StatusCode
    message: str
    field_violations: tuple[tuple[str, str], ...] = field(default=())

    def to_proto(self) -> status_pb2.Status:
        details = []
        if self.field_violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=name, description=why)
                    for name, why in self.field_violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad_request)
            details.append(packed)
        return status_pb2.Status(code=_CODES[self.code], message=self.message, details=details)


_CODES: dict[grpc.StatusCode, int] = {
    sc: getattr(code_pb2, sc.name) for sc in grpc.StatusCode if hasattr(code_pb2, sc.name)
}
