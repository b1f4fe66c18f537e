"""Read the descriptor set Envoy loads: the HTTP routes of our RPCs, messages and comments.

Both the Envoy config (routes, clusters) and the OpenAPI document come from here, so the
gateway serves exactly what the protos' `google.api.http` annotations declare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

OWN_PACKAGE_PREFIX = "blog."
# FileDescriptorProto / DescriptorProto field numbers used in SourceCodeInfo paths.
_MESSAGE, _SERVICE, _FIELD, _METHOD = 4, 6, 2, 2
_VERBS = ("get", "post", "patch", "put", "delete")


@dataclass(frozen=True)
class HttpRoute:
    """One RPC's HTTP binding, e.g. PATCH /articles/{id} with body "*"."""

    service: str  # fully qualified, e.g. blog.articles.v1.ArticleService
    method: str  # e.g. UpdateArticle
    verb: str  # upper case HTTP method
    template: str  # /articles/{id}
    body: str  # "", "*" or a field name
    response_body: str
    input_type: str  # fully qualified, no leading dot
    output_type: str
    comment: str

    @property
    def rpc(self) -> str:
        return f"{self.service}.{self.method}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([^}=]+)(?:=[^}]*)?}", self.template)

    @property
    def path_regex(self) -> str:
        """The template as an anchored regex; the transcoder also accepts a trailing slash."""
        parts = re.split(r"{[^}]*}", self.template)
        return "^" + "[^/]+".join(re.escape(part) for part in parts) + "/?$"


@dataclass
class Descriptors:
    """The parsed set, with lookups by fully qualified name."""

    files: list[descriptor_pb2.FileDescriptorProto]
    messages: dict[str, descriptor_pb2.DescriptorProto]
    comments: dict[str, str]  # "pkg.Msg", "pkg.Msg.field", "pkg.Svc", "pkg.Svc.Method"

    def routes(self) -> list[HttpRoute]:
        found: list[HttpRoute] = []
        for file in self.files:
            if not file.package.startswith(OWN_PACKAGE_PREFIX):
                continue
            for service in file.service:
                name = f"{file.package}.{service.name}"
                for method in service.method:
                    if method.options.HasExtension(annotations_pb2.http):
                        rule = method.options.Extensions[annotations_pb2.http]
                        found.extend(_bindings(name, method, rule, self.comments))
        return found

    def services(self) -> list[str]:
        """Our services that have at least one HTTP route, for the transcoder."""
        return sorted({route.service for route in self.routes()})


def _bindings(
    service: str,
    method: descriptor_pb2.MethodDescriptorProto,
    rule: object,
    comments: dict[str, str],
) -> list[HttpRoute]:
    rules = [rule, *getattr(rule, "additional_bindings", [])]
    bound: list[HttpRoute] = []
    for item in rules:
        verb = next((v for v in _VERBS if getattr(item, v, "")), None)
        if verb is None:
            continue
        bound.append(
            HttpRoute(
                service=service,
                method=method.name,
                verb=verb.upper(),
                template=getattr(item, verb),
                body=getattr(item, "body", ""),
                response_body=getattr(item, "response_body", ""),
                input_type=method.input_type.lstrip("."),
                output_type=method.output_type.lstrip("."),
                comment=comments.get(f"{service}.{method.name}", ""),
            )
        )
    return bound


def load(path: Path) -> Descriptors:
    files = list(descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file)
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    comments: dict[str, str] = {}
    for file in files:
        for message in file.message_type:
            messages[f"{file.package}.{message.name}"] = message
        comments.update(_comments(file))
    return Descriptors(files, messages, comments)


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[str, str]:
    """Leading comments of top-level messages, their fields, services and methods."""
    found: dict[str, str] = {}
    for location in file.source_code_info.location:
        text = _clean(location.leading_comments)
        name = _commented(file, list(location.path)) if text else None
        if name is not None:
            found[name] = text
    return found


def _commented(file: descriptor_pb2.FileDescriptorProto, path: list[int]) -> str | None:
    """The full name a source location names: a message or service (path [kind, i]), or a
    field or method of one (path [kind, i, member kind, j]); None for anything else."""
    kinds: dict[int, tuple[Any, int, str]] = {
        _MESSAGE: (file.message_type, _FIELD, "field"),
        _SERVICE: (file.service, _METHOD, "method"),
    }
    if len(path) not in (2, 4) or path[0] not in kinds:
        return None
    parents, member_kind, members = kinds[path[0]]
    parent = parents[path[1]]
    name = f"{file.package}.{parent.name}"
    if len(path) == 2:
        return name
    if path[2] != member_kind:
        return None
    return f"{name}.{getattr(parent, members)[path[3]].name}"


def _clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.splitlines()]
    return "\n".join(lines).strip()


def for_envoy(path: Path) -> bytes:
    """The set with `response_body` cleared: Envoy 1.40 refuses it on non-HttpBody fields.

    The gateway's Lua filter unwraps that field instead (see routes.py), so clients still
    get what the annotation promises, e.g. a bare JSON array for ListArticles.
    """
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    for file in descriptor_set.file:
        for service in file.service:
            for method in service.method:
                if method.options.HasExtension(annotations_pb2.http):
                    rule = method.options.Extensions[annotations_pb2.http]
                    rule.response_body = ""
                    for binding in rule.additional_bindings:
                        binding.response_body = ""
    return descriptor_set.SerializeToString()
