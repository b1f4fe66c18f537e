"""Gateway settings and rendered files for the unit tests (no services, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway import render
from gateway.config import GatewaySettings
from gateway.descriptors import Descriptors, load


@pytest.fixture(scope="session")
def settings() -> GatewaySettings:
    return GatewaySettings(
        auth_endpoints=["127.0.0.1:50061", "127.0.0.1:50062"],
        articles_endpoints=["127.0.0.1:50071"],
        cors_origins=["http://localhost:3000", "https://blog.example"],
    )


@pytest.fixture(scope="session")
def descriptors(settings: GatewaySettings) -> Descriptors:
    return load(settings.descriptors)


@pytest.fixture(scope="session")
def rendered(settings: GatewaySettings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render.write(settings, Path(tmp_path_factory.mktemp("rendered")))


@pytest.fixture(scope="session")
def config(rendered: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(rendered.read_text())
    return loaded


def connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    [listener] = [x for x in config["static_resources"]["listeners"] if x["name"] == "gateway"]
    [chain] = listener["filter_chains"]
    [manager] = chain["filters"]
    typed: dict[str, Any] = manager["typed_config"]
    return typed
