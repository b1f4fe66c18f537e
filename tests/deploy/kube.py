"""Reading rendered manifests: objects by kind, pod templates, label selectors, Secrets."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("dev", "prod", "prod-cnpg")
NAMESPACES = {"dev": "blog-dev", "prod": "blog", "prod-cnpg": "blog"}
# The Kubernetes version the manifests are validated against (kubectl here is 1.32).
KUBERNETES_VERSION = "1.32.0"
# Custom resources: no schema in kubernetes-validate; tests/deploy checks them by hand.
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster")}
WORKLOADS = ("Deployment", "StatefulSet", "Job")

Manifest = dict[str, Any]


def kustomize(directory: Path) -> list[Manifest]:
    """`kubectl kustomize DIR`: the real tool, no cluster needed."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(objects: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def one(objects: list[Manifest], kind: str, name: str) -> Manifest:
    return of_kind(objects, kind)[name]


@dataclass(frozen=True)
class Pod:
    """A workload's pod template, named "Kind/name"."""

    owner: str
    labels: dict[str, str]
    spec: dict[str, Any]

    @property
    def containers(self) -> list[dict[str, Any]]:
        return [*self.spec.get("initContainers", []), *self.spec["containers"]]


def pods(objects: list[Manifest]) -> list[Pod]:
    found = []
    for item in objects:
        if item["kind"] in WORKLOADS:
            template = item["spec"]["template"]
            owner = f"{item['kind']}/{item['metadata']['name']}"
            found.append(Pod(owner, template["metadata"].get("labels", {}), template["spec"]))
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a set of labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        ok = {
            "In": present and labels.get(key) in (values or []),
            "NotIn": not present or labels.get(key) not in (values or []),
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def secret_values(secrets: list[Manifest]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> decoded value."""
    values = {}
    for item in secrets:
        for key, encoded in item.get("data", {}).items():
            values[(item["metadata"]["name"], key)] = base64.b64decode(encoded).decode()
    return values


def environment(container: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """A container's environment as the process sees it, Secret references resolved."""
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        env[item["name"]] = secrets[(ref["name"], ref["key"])]
    assert "envFrom" not in container, "every variable is listed, so the tests see it"
    return env
