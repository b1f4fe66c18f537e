"""The NetworkPolicies allow exactly the flows the design lists, and deny everything else.

Each policy is evaluated the way the API defines it: a pod selected by any policy of a
direction is isolated in it, and what it may do is the union of those policies' rules. A
connection between two pods needs the source's egress and the destination's ingress.
"""

from __future__ import annotations

from typing import Any

from tests.deploy.kube import Manifest, of_kind, pods, selects

DNS = "kube-system/k8s-app=kube-dns"
# The CloudNativePG operator's instance pods (made by the operator, not by our manifests).
CNPG_POD = {"cnpg.io/cluster": "blog-db"}
DATABASE = {"dev": "postgres", "prod": "cidr:192.0.2.10/32", "prod-cnpg": "cnpg"}

Flow = tuple[str, str, str]  # (from, to, "TCP/5432")


def tcp(*ports: int) -> set[str]:
    return {f"TCP/{port}" for port in ports}


def population(objects: list[Manifest], overlay: str) -> dict[str, dict[str, str]]:
    """Every kind of pod in the namespace: name -> labels."""
    found = {p.labels["app.kubernetes.io/name"]: p.labels for p in pods(objects)}
    if overlay == "prod-cnpg":
        found["cnpg"] = CNPG_POD
    return found


def _peers(peers: list[dict[str, Any]] | None, names: dict[str, dict[str, str]]) -> set[str]:
    if peers is None:
        return {"*"}
    found: set[str] = set()
    for peer in peers:
        if "ipBlock" in peer:
            assert "except" not in peer["ipBlock"]
            found.add(f"cidr:{peer['ipBlock']['cidr']}")
        elif "namespaceSelector" in peer:
            namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            pod = peer.get("podSelector", {}).get("matchLabels", {})
            found.add(f"{namespace}/" + ",".join(f"{k}={v}" for k, v in sorted(pod.items())))
        else:
            found |= {
                name for name, labels in names.items() if selects(peer["podSelector"], labels)
            }
    return found


def allowed(objects: list[Manifest], overlay: str, direction: str) -> set[Flow]:
    """(pod, peer, port) for egress, (peer, pod, port) for ingress, of isolated pods."""
    names = population(objects, overlay)
    flows: set[Flow] = set()
    key, peer_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in of_kind(objects, "NetworkPolicy").values():
        spec = policy["spec"]
        assert direction in spec["policyTypes"] or key not in spec
        if direction not in spec["policyTypes"]:
            continue
        for name, labels in names.items():
            if not selects(spec["podSelector"], labels):
                continue
            for rule in spec.get(key, []):
                ports = {f"{p['protocol']}/{p['port']}" for p in rule["ports"]}
                for peer in _peers(rule.get(peer_key), names):
                    for port in ports:
                        flows.add((name, peer, port) if key == "egress" else (peer, name, port))
    return flows


def expected_egress(overlay: str, names: set[str]) -> set[Flow]:
    flows = {(name, DNS, port) for name in names for port in ("UDP/53", "TCP/53")}
    flows |= {("gateway", "auth", "TCP/50051"), ("gateway", "articles", "TCP/50052")}
    flows |= {("articles", "auth", "TCP/50051")}
    flows |= {(name, DATABASE[overlay], "TCP/5432") for name in ("auth", "articles", "migrate")}
    if overlay == "prod-cnpg":
        flows |= {("cnpg", "cnpg", port) for port in tcp(5432, 8000)}
        flows |= {("cnpg", "cidr:192.0.2.1/32", port) for port in tcp(443, 6443)}
    return flows


def expected_ingress(overlay: str) -> set[Flow]:
    flows = {("*", "gateway", "TCP/8080")}
    flows |= {("gateway", "auth", "TCP/50051"), ("articles", "auth", "TCP/50051")}
    flows |= {("gateway", "articles", "TCP/50052")}
    if overlay in ("dev", "prod-cnpg"):
        database = DATABASE[overlay]
        flows |= {(name, database, "TCP/5432") for name in ("auth", "articles", "migrate")}
    if overlay == "prod-cnpg":
        for peer in ("cnpg", "cnpg-system/"):
            flows |= {(peer, "cnpg", port) for port in tcp(5432, 8000)}
    return flows


def test_every_pod_is_isolated_both_ways(rendered, overlay):
    names = population(rendered[overlay], overlay)
    deny = of_kind(rendered[overlay], "NetworkPolicy")["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    assert {"auth", "articles", "gateway", "migrate"} <= set(names)


def test_egress_is_exactly_the_listed_flows(rendered, overlay):
    names = set(population(rendered[overlay], overlay))
    assert allowed(rendered[overlay], overlay, "Egress") == expected_egress(overlay, names)


def test_ingress_is_exactly_the_listed_flows(rendered, overlay):
    assert allowed(rendered[overlay], overlay, "Ingress") == expected_ingress(overlay)


def test_between_our_pods_only_gateway_to_services_and_articles_to_auth(rendered, overlay):
    names = population(rendered[overlay], overlay)
    egress = allowed(rendered[overlay], overlay, "Egress")
    ingress = allowed(rendered[overlay], overlay, "Ingress")
    connections = {flow for flow in egress & ingress if flow[0] != flow[1]}
    expected = {
        ("gateway", "auth", "TCP/50051"),
        ("gateway", "articles", "TCP/50052"),
        ("articles", "auth", "TCP/50051"),
    }
    if DATABASE[overlay] in names:
        expected |= {(n, DATABASE[overlay], "TCP/5432") for n in ("auth", "articles", "migrate")}
    assert connections == expected
