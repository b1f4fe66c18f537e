"""The gateway's ConfigMaps: rendered by the project, up to date, and right for the pod.

The committed files under deploy/overlays/*/gateway/ must equal a fresh
`python -m deploy.render` (like the gen/ staleness check), Envoy must accept them, and
every path, address and port in them must match what the manifests give the pod.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import render
from gateway import launch
from gateway.config import GatewaySettings
from tests.deploy.kube import DEPLOY, NAMESPACES, ROOT, Manifest, of_kind, one

GATEWAY_OVERLAYS = ("dev", "prod")
# What client-side `kubectl apply` can keep in its last-applied annotation.
APPLY_ANNOTATION_LIMIT = 256 * 1024
FILE_FIELDS = {"filename", "proto_descriptor"}


def files_read(value: Any) -> list[str]:
    """Every file an Envoy config names (served bodies, the descriptor set)."""
    if isinstance(value, list):
        return [path for item in value for path in files_read(item)]
    if not isinstance(value, dict):
        return []
    found = [v for k, v in value.items() if k in FILE_FIELDS and isinstance(v, str)]
    return found + [path for item in value.values() for path in files_read(item)]


def committed_config(overlay: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "overlays" / overlay / "gateway" / "envoy.yaml").read_text()
    )
    return loaded


def config_maps(objects: list[Manifest]) -> dict[str, bytes]:
    """File name -> content, over every ConfigMap the gateway pod mounts."""
    files: dict[str, bytes] = {}
    for item in of_kind(objects, "ConfigMap").values():
        for name, text in item.get("data", {}).items():
            files[name] = text.encode()
        for name, encoded in item.get("binaryData", {}).items():
            files[name] = base64.b64decode(encoded)
    return files


def test_the_committed_render_is_up_to_date():
    assert render.stale() == [], "run `python -m deploy.render` and commit the result"


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_envoy_accepts_the_committed_config(overlay, tmp_path):
    """The committed files, with the pod's two folders mapped to local ones."""
    mounted = tmp_path / "mount"
    shutil.copytree(DEPLOY / "overlays" / overlay / "gateway", mounted)
    moves = {
        str(render.MOUNT): str(mounted),
        str(render.IMAGE_SITE_PACKAGES): str(render.HOST_SITE_PACKAGES),
    }
    config = render.move_paths(committed_config(overlay), moves)
    (mounted / "envoy.yaml").write_text(yaml.safe_dump(config))
    settings = render.settings_for(overlay)
    result = subprocess.run(
        [*launch.command(settings, mounted / "envoy.yaml"), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_every_file_envoy_reads_is_in_the_configmaps_or_the_image(rendered, overlay):
    mounted = config_maps(rendered[overlay])
    paths = files_read(committed_config(overlay))
    assert len(paths) >= 4
    for path in map(Path, paths):
        if path.is_relative_to(render.MOUNT):
            assert path.relative_to(render.MOUNT).as_posix() in mounted, path
        else:
            # The image installs the same locked packages this venv has.
            inside = path.relative_to(render.IMAGE_SITE_PACKAGES)
            assert (render.HOST_SITE_PACKAGES / inside).is_file(), path
    assert (
        mounted["envoy.yaml"]
        == (DEPLOY / "overlays" / overlay / "gateway" / "envoy.yaml").read_bytes()
    )
    text = json.dumps(committed_config(overlay))
    for local in (ROOT, render.HOST_SITE_PACKAGES):
        assert str(local) not in text, "a path of this machine leaked into the config"


def test_the_image_installs_packages_where_the_render_expects():
    """render.IMAGE_SITE_PACKAGES is the image's venv, made by a Python 3.11."""
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11", dockerfile, re.MULTILINE)
    assert "python3 -m venv /opt/venv" in dockerfile
    assert "ENV PATH=/opt/venv/bin:" in dockerfile  # where `envoy` (the wheel's script) is
    assert str(render.IMAGE_SITE_PACKAGES) == "/opt/venv/lib/python3.11/site-packages"


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_the_gateway_settings_name_only_known_fields(overlay):
    fields = {"GATEWAY_" + name.upper() for name in GatewaySettings.model_fields}
    values = render.overlay_env(overlay)
    assert set(values) <= fields, set(values) - fields


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_envoy_reaches_every_pod_through_the_headless_services(rendered, overlay):
    settings = render.settings_for(overlay)
    services = of_kind(rendered[overlay], "Service")
    for endpoints, service in (
        (settings.auth_endpoints, "auth-grpc"),
        (settings.articles_endpoints, "articles-grpc"),
    ):
        [endpoint] = endpoints
        host, _, port = endpoint.rpartition(":")
        assert host == f"{service}.{NAMESPACES[overlay]}.svc.cluster.local."
        assert services[service]["spec"]["clusterIP"] == "None"
        assert int(port) == services[service]["spec"]["ports"][0]["port"]
    clusters = committed_config(overlay)["static_resources"]["clusters"]
    upstreams = [c for c in clusters if c["name"] != "envoy_admin"]  # that one: Envoy's stats
    assert all("dns" in c.get("cluster_type", {}).get("name", "") for c in upstreams)


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_the_gateway_pod_runs_envoy_on_the_mounted_config(rendered, overlay):
    settings = render.settings_for(overlay)
    spec = one(rendered[overlay], "Deployment", "gateway")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    argv = launch.command(settings, render.MOUNT / "envoy.yaml")
    assert [*container["command"], *container["args"]] == ["envoy", *argv[1:]]
    [mount] = container["volumeMounts"][:1]
    assert Path(mount["mountPath"]) == render.MOUNT
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    sources = {s["configMap"]["name"] for s in volume["projected"]["sources"]}
    assert sources == set(of_kind(rendered[overlay], "ConfigMap"))
    assert container["ports"][0]["containerPort"] == settings.port
    assert settings.host == "0.0.0.0"  # noqa: S104 - the pod's address
    assert "env" not in container, "Envoy reads the rendered file, not GATEWAY_* variables"


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_gateway_probes_hit_a_static_route_on_the_listener(rendered, overlay):
    [container] = one(rendered[overlay], "Deployment", "gateway")["spec"]["template"]["spec"][
        "containers"
    ]
    listeners = committed_config(overlay)["static_resources"]["listeners"]
    [listener] = [item for item in listeners if item["name"] == "gateway"]
    [chain] = listener["filter_chains"]
    [manager] = chain["filters"]
    [host] = manager["typed_config"]["route_config"]["virtual_hosts"]
    static = {r["match"].get("path") for r in host["routes"] if "direct_response" in r}
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in static, "a probe must not depend on an upstream"
        assert get["port"] == container["ports"][0]["name"]
    assert (
        listener["address"]["socket_address"]["port_value"]
        == container["ports"][0]["containerPort"]
    )


def test_prod_cnpg_ships_the_prod_gateway(rendered):
    assert of_kind(rendered["prod-cnpg"], "ConfigMap") == of_kind(rendered["prod"], "ConfigMap")


@pytest.mark.parametrize("overlay", GATEWAY_OVERLAYS)
def test_each_configmap_fits_a_client_side_apply(rendered, overlay):
    for name, item in of_kind(rendered[overlay], "ConfigMap").items():
        assert len(json.dumps(item)) < APPLY_ANNOTATION_LIMIT, name
