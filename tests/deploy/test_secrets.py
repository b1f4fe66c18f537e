"""deploy.secrets makes exactly the Secrets each overlay names, and keys the auth service loads."""

from __future__ import annotations

import base64
import json
from typing import Any

from auth_service.keys import load_keyring
from deploy import secrets
from tests.deploy.kube import Manifest, of_kind, pods


def referenced(objects: list[Manifest]) -> set[tuple[str, str | None]]:
    """(Secret, key) for every env reference, (Secret, None) for every mounted one."""
    found: set[tuple[str, str | None]] = set()
    for pod in pods(objects):
        for container in pod.containers:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    found.add((ref["name"], ref["key"]))
        for volume in pod.spec.get("volumes", []):
            if "secret" in volume:
                found.add((volume["secret"]["secretName"], None))
    for cluster in of_kind(objects, "Cluster").values():
        for role in cluster["spec"]["managed"]["roles"]:
            found.add((role["passwordSecret"]["name"], None))
    return found


def test_every_referenced_secret_is_made_and_nothing_else(rendered, overlay_secrets, overlay):
    made: dict[str, dict[str, Any]] = {s["metadata"]["name"]: s for s in overlay_secrets[overlay]}
    wanted = referenced(rendered[overlay])
    assert {name for name, _ in wanted} == set(made)
    for name, key in wanted:
        if key is not None:
            assert key in made[name]["data"], (name, key)


def test_new_key_prints_a_merge_patch_with_one_loadable_key(capsys, tmp_path):
    assert secrets.main(["new-key"]) == 0
    out, err = capsys.readouterr()
    [(name, encoded)] = json.loads(out)["data"].items()
    kid = err.strip()
    assert name == f"{kid}.pem"
    (tmp_path / name).write_bytes(base64.b64decode(encoded))
    assert load_keyring(tmp_path, kid).active_kid == kid


def test_each_run_makes_new_passwords_and_keys():
    first, second = (secrets.all_secrets("blog", "db", False, False) for _ in range(2))
    assert first[0]["data"] != second[0]["data"]
    assert first[1]["data"] != second[1]["data"]
