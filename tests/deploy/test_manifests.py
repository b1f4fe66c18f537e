"""The kustomize overlays: valid Kubernetes objects, settings the code reads, safe pods.

Every overlay is rendered by the real `kubectl kustomize`; every object is checked by
kubernetes-validate in strict mode (unknown fields are errors) against one pinned
Kubernetes version, and each container's environment is parsed by the settings class of
the process it runs.
"""

from __future__ import annotations

import configparser
import shlex

import kubernetes_validate
from pydantic_settings import BaseSettings

from article_service.config import Settings as ArticleSettings
from article_service.server import SERVICE_NAME as ARTICLES_HEALTH
from auth_service.config import Settings as AuthSettings
from auth_service.keys import load_keyring
from auth_service.server import SERVICE_NAME as AUTH_HEALTH
from deploy.render import isolated_environment
from gateway.config import GatewaySettings
from tests.deploy.kube import (
    CUSTOM_KINDS,
    KUBERNETES_VERSION,
    NAMESPACES,
    ROOT,
    environment,
    of_kind,
    one,
    pods,
    secret_values,
    selects,
)

SETTINGS: dict[str, type[BaseSettings]] = {
    "AUTH_": AuthSettings,
    "ARTICLES_": ArticleSettings,
    "GATEWAY_": GatewaySettings,
}
# Variables without a service prefix, and who reads them.
OTHER_VARIABLES = {
    "BLOG_PG_SUPERUSER_URL": "docker/init_stack.py",
    "POSTGRES_PASSWORD": "the postgres image",
    "PGDATA": "the postgres image",
}
OUR_COMMANDS = {
    "python -m auth_service": "auth",
    "python -m article_service": "articles",
    "python docker/init_stack.py": "bootstrap",
    "alembic -n auth upgrade head": "migrations",
    "alembic -n articles upgrade head": "migrations",
}
IMAGES = {
    "dev": "localhost/blog-platform:latest",
    "prod": "registry.example.com/blog/blog-platform:0.1.0",
    "prod-cnpg": "registry.example.com/blog/blog-platform:0.1.0",
}
HEALTH = {"auth": (50051, AUTH_HEALTH), "articles": (50052, ARTICLES_HEALTH)}
# Pod Security Standards "restricted": the volume types it allows.
RESTRICTED_VOLUMES = {"configMap", "secret", "emptyDir", "projected", "persistentVolumeClaim"}


def known_names(prefix: str) -> set[str]:
    return {prefix + name.upper() for name in SETTINGS[prefix].model_fields}


def test_every_object_is_valid_kubernetes_in_strict_mode(rendered, overlay):
    custom = []
    for item in rendered[overlay]:
        if (item["apiVersion"], item["kind"]) in CUSTOM_KINDS:
            custom.append(item["kind"])
            continue
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
    assert custom == (["Cluster"] if overlay == "prod-cnpg" else [])


def test_the_secrets_deploy_secrets_makes_are_valid_kubernetes(overlay_secrets, overlay):
    for item in overlay_secrets[overlay]:
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)


def test_the_cloudnative_pg_cluster_makes_both_roles_and_schemas(rendered, overlay_secrets):
    cluster = one(rendered["prod-cnpg"], "Cluster", "blog-db")
    spec = cluster["spec"]
    assert spec["bootstrap"]["initdb"]["database"] == "blog"
    sql = " ".join(spec["bootstrap"]["initdb"]["postInitApplicationSQL"])
    for role, schema in (("blog_auth", "auth"), ("blog_articles", "articles")):
        assert f"CREATE ROLE {role} LOGIN" in sql
        assert f"CREATE SCHEMA {schema} AUTHORIZATION {role}" in sql
    managed = {role["name"]: role["passwordSecret"]["name"] for role in spec["managed"]["roles"]}
    assert managed == {"blog_auth": "blog-db-auth", "blog_articles": "blog-db-articles"}
    values = secret_values(overlay_secrets["prod-cnpg"])
    for role, secret in managed.items():
        password = values[(secret, "password")]
        url = values[("blog-database", f"{secret.removeprefix('blog-db-')}-url")]
        assert f"{role}:{password}@blog-db-rw:5432/blog" in url


def test_one_namespace_with_pod_security_restricted(rendered, overlay):
    [namespace] = of_kind(rendered[overlay], "Namespace").values()
    assert namespace["metadata"]["name"] == NAMESPACES[overlay]
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    for item in rendered[overlay]:
        if item["kind"] != "Namespace":
            assert item["metadata"]["namespace"] == NAMESPACES[overlay], item["metadata"]


def test_each_container_environment_is_read_by_its_settings_class(
    rendered, overlay_secrets, overlay
):
    values = secret_values(overlay_secrets[overlay])
    for pod in pods(rendered[overlay]):
        for container in pod.containers:
            env = environment(container, values)
            for name in env:
                prefix = next((p for p in SETTINGS if name.startswith(p)), None)
                if prefix is None:
                    assert name in OTHER_VARIABLES, f"{pod.owner}: nobody reads {name}"
                else:
                    assert name in known_names(prefix), f"{pod.owner}: {name} is no setting"
            for prefix, settings_class in SETTINGS.items():
                if any(name.startswith(prefix) for name in env):
                    with isolated_environment(env):
                        settings_class()  # raises if a value is invalid or one is missing


def test_the_auth_service_finds_its_signing_key_in_the_secret(
    rendered, overlay_secrets, overlay, tmp_path
):
    values = secret_values(overlay_secrets[overlay])
    auth = one(rendered[overlay], "Deployment", "auth")["spec"]["template"]["spec"]
    [container] = auth["containers"]
    env = environment(container, values)
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == env["AUTH_KEYS_DIR"]]
    [volume] = [v for v in auth["volumes"] if v["name"] == mount["name"]]
    for (secret, key), value in values.items():  # the Secret as the kubelet mounts it
        if secret == volume["secret"]["secretName"]:
            (tmp_path / key).write_text(value)
    assert load_keyring(tmp_path, env["AUTH_ACTIVE_KID"]).active_kid == env["AUTH_ACTIVE_KID"]


def test_one_image_with_the_overlays_name_and_known_commands(rendered, overlay):
    for pod in pods(rendered[overlay]):
        for container in pod.containers:
            if container["image"].startswith("docker.io/library/postgres:"):
                assert overlay == "dev"
                continue
            assert container["image"] == IMAGES[overlay], pod.owner
            command = shlex.join(container["command"])
            assert command in OUR_COMMANDS or command == "envoy", f"{pod.owner}: {command}"
    sections = configparser.ConfigParser()
    sections.read(ROOT / "alembic.ini")
    assert {"auth", "articles"} <= set(sections.sections())
    assert (ROOT / "docker" / "init_stack.py").is_file()


def test_services_run_one_worker_on_the_shared_port_only(rendered, overlay):
    for name, prefix in (("auth", "AUTH_"), ("articles", "ARTICLES_")):
        [container] = one(rendered[overlay], "Deployment", name)["spec"]["template"]["spec"][
            "containers"
        ]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env[f"{prefix}WORKERS"] == "1"
        assert env[f"{prefix}WORKER_BASE_PORT"] == "0"
        assert env[f"{prefix}HOST"] == "0.0.0.0"  # noqa: S104 - reached on the pod's address
        assert [p["containerPort"] for p in container["ports"]] == [int(env[f"{prefix}PORT"])]


def test_every_pod_meets_the_restricted_pod_security_standard(rendered, overlay):
    for pod in pods(rendered[overlay]):
        spec = pod.spec
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, pod.owner
        assert context["runAsUser"] != 0, pod.owner
        assert context["seccompProfile"]["type"] == "RuntimeDefault", pod.owner
        assert spec["automountServiceAccountToken"] is False, pod.owner
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), pod.owner
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, (pod.owner, volume)
        for container in pod.containers:
            where = f"{pod.owner}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert not security.get("privileged"), where
            assert all("hostPort" not in port for port in container.get("ports", [])), where
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: a read-only root needs a writable /tmp"  # noqa: S108


def test_every_container_has_requests_and_limits(rendered, overlay):
    for pod in pods(rendered[overlay]):
        for container in pod.containers:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), pod.owner
            assert "memory" in resources["limits"], pod.owner


def test_services_are_probed_through_the_grpc_health_service(rendered, overlay):
    for name, (port, health) in HEALTH.items():
        [container] = one(rendered[overlay], "Deployment", name)["spec"]["template"]["spec"][
            "containers"
        ]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port, "service": health}, (name, probe)
        # A database outage turns health NOT_SERVING: liveness must outlast short ones.
        liveness = container["livenessProbe"]
        assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60


def test_every_deployment_has_an_autoscaler_and_a_disruption_budget(rendered, overlay):
    deployments = of_kind(rendered[overlay], "Deployment")
    autoscalers = of_kind(rendered[overlay], "HorizontalPodAutoscaler")
    budgets = of_kind(rendered[overlay], "PodDisruptionBudget")
    assert set(deployments) == {"auth", "articles", "gateway"}
    for name, deployment in deployments.items():
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns the count"
        [hpa] = [h for h in autoscalers.values() if h["spec"]["scaleTargetRef"]["name"] == name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets.values() if selects(b["spec"]["selector"], labels)]
        assert len(matching) == 1, name
        assert matching[0]["spec"]["maxUnavailable"] == 1


def test_headless_services_reach_every_pod_of_each_grpc_service(rendered, overlay):
    services = of_kind(rendered[overlay], "Service")
    for service, deployment in (("auth-grpc", "auth"), ("articles-grpc", "articles")):
        spec = services[service]["spec"]
        assert spec["clusterIP"] == "None"
        template = one(rendered[overlay], "Deployment", deployment)["spec"]["template"]
        assert selects({"matchLabels": spec["selector"]}, template["metadata"]["labels"])
        [port] = spec["ports"]
        [container] = template["spec"]["containers"]
        assert port["port"] == container["ports"][0]["containerPort"]
    assert services["gateway"]["spec"]["type"] == "ClusterIP"
    assert "clusterIP" not in services["gateway"]["spec"]


def test_the_migration_job_runs_once_each_service_as_its_own_role(rendered, overlay):
    job = one(rendered[overlay], "Job", "migrate")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    [pod] = [p for p in pods(rendered[overlay]) if p.owner == "Job/migrate"]
    commands = [shlex.join(c["command"]) for c in pod.containers]
    expected = ["alembic -n auth upgrade head", "alembic -n articles upgrade head"]
    if overlay == "dev":  # the only overlay with a superuser in the cluster
        expected.insert(0, "python docker/init_stack.py")
    assert commands == expected
    for container in pod.containers[-2:]:
        urls = [e["name"] for e in container["env"] if e["name"].endswith("_DATABASE_URL")]
        assert len(urls) == 1, container["name"]


def test_termination_outlasts_the_prestop_pause_and_the_drain(rendered, overlay):
    for name, prefix in (("auth", "AUTH_"), ("articles", "ARTICLES_")):
        spec = one(rendered[overlay], "Deployment", name)["spec"]["template"]["spec"]
        [container] = spec["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        grace = float(env[f"{prefix}SHUTDOWN_GRACE_SECONDS"])
        assert spec["terminationGracePeriodSeconds"] > pause + grace
