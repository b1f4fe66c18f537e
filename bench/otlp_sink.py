"""An OTLP/gRPC trace endpoint that accepts every export and throws it away, unparsed:
what the traced bench rows export to, costing the machine as little as a collector can.

    python -m bench.otlp_sink --port P
"""

from __future__ import annotations

import argparse
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    MethodHandler = grpc.RpcMethodHandler[Any, Any]
else:
    MethodHandler = grpc.RpcMethodHandler

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _accept(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    return b""  # an empty ExportTraceServiceResponse: everything accepted


class _Sink(grpc.GenericRpcHandler):
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> MethodHandler | None:
        if handler_call_details.method != EXPORT:
            return None  # UNIMPLEMENTED
        return grpc.unary_unary_rpc_method_handler(_accept)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[_Sink()])
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
