"""A real OTLP/gRPC trace receiver for tests: opentelemetry-proto's TraceService on a free
port, keeping every span it is sent (or, when told to hang, never answering)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    process_pid: int | None  # the resource's process.pid
    name: str
    trace_id: str  # lowercase hex, as in traceparent
    span_id: str
    parent_id: str  # "" for a root
    kind: int
    attributes: dict[str, Any]
    status_code: int


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    hang: bool = False
    spans: list[ReceivedSpan] = field(default_factory=list)
    exports: int = 0  # Export calls seen (a hanging receiver counts them too)
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def Export(  # noqa: N802 - the generated servicer's name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.exports += 1
        if self.hang:
            await asyncio.Event().wait()  # until the server stops and cancels the call
        for resource_spans in request.resource_spans:
            attributes = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(attributes.get("service.name", ""))
            pid = attributes.get("process.pid")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=service,
                            process_pid=pid if isinstance(pid, int) else None,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                        )
                    )
        return trace_service_pb2.ExportTraceServiceResponse()

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def wait_for(
        self, trace_id: str, services: set[str], within: float = 20.0
    ) -> list[ReceivedSpan]:
        """The trace's spans once every one of `services` has sent some (Envoy flushes
        every 5 s), or what arrived within `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if services <= {span.service for span in self.of_trace(trace_id)}:
                break
            await asyncio.sleep(0.2)
        return self.of_trace(trace_id)


@contextlib.asynccontextmanager
async def receiving(hang: bool = False) -> AsyncIterator[Receiver]:
    receiver = Receiver(hang=hang)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    receiver.port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield receiver
    finally:
        await server.stop(None)
