"""The Kubernetes manifests (deploy/k8s): they parse, kustomize lists them all, and each piece is wired to the
others (probes on the service's own paths, Services selecting their pods, the Ingress routing each prefix, the
NATS routes naming the StatefulSet's pods). Rendered with `kubectl kustomize` when kubectl is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SERVICES = ("registry", "matching", "medical", "metrics")
NAMESPACE = "uplift"


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    loaded = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def objects(kustomization: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of the kustomization's resources, by (kind, name); a duplicate fails."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for doc in load_documents(K8S / resource):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def container(pod_owner: dict[str, Any]) -> dict[str, Any]:
    containers = pod_owner["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    first: dict[str, Any] = containers[0]
    return first


def test_every_manifest_parses_and_kustomize_lists_each_one(kustomization: dict[str, Any]) -> None:
    manifests = {str(path.relative_to(K8S)) for path in K8S.rglob("*.yaml")} - {"kustomization.yaml"}

    assert set(kustomization["resources"]) == manifests
    for manifest in manifests:
        documents = load_documents(K8S / manifest)
        assert documents, manifest
        assert all({"apiVersion", "kind", "metadata"} <= set(doc) for doc in documents), manifest
    assert kustomization["namespace"] == NAMESPACE


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_two_probed_replicas_with_resources(
    objects: dict[tuple[str, str], dict[str, Any]], service: str
) -> None:
    deployment = objects[("Deployment", service)]
    main = container(deployment)

    assert deployment["spec"]["replicas"] == 2
    assert main["startupProbe"]["httpGet"]["path"] == f"/{service}/healthz"
    assert main["livenessProbe"]["httpGet"]["path"] == f"/{service}/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == f"/{service}/readyz"
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"http": 8000}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["httpGet"]["port"] == "http"
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    assert "memory" in main["resources"]["limits"]
    assert main["image"].startswith(f"uplift/{service}:")
    assert main["command"][:3] == ["uvicorn", "--factory", f"uplift.{service}.main:create_app"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reads_shared_config_and_only_its_own_database_secret(
    objects: dict[tuple[str, str], dict[str, Any]], service: str
) -> None:
    for owner in (objects[("Deployment", service)], objects[("Job", f"{service}-migrate")]):
        sources = container(owner)["envFrom"]
        config_maps = [source["configMapRef"]["name"] for source in sources if "configMapRef" in source]
        secrets = [source["secretRef"]["name"] for source in sources if "secretRef" in source]

        assert config_maps == ["uplift-config"]
        assert secrets == ["uplift-secrets", f"uplift-{service}-database"]
    assert ("ConfigMap", "uplift-config") in objects


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_as_the_images_non_root_user_on_a_read_only_root(
    objects: dict[tuple[str, str], dict[str, Any]], service: str
) -> None:
    for owner in (objects[("Deployment", service)], objects[("Job", f"{service}-migrate")]):
        pod = owner["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the `uplift` user of deploy/Dockerfile
        security = container(owner)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert [mount["mountPath"] for mount in container(owner)["volumeMounts"]] == ["/tmp"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_selecting_service_and_a_disruption_budget(
    objects: dict[tuple[str, str], dict[str, Any]], service: str
) -> None:
    deployment = objects[("Deployment", service)]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = objects[("Service", service)]["spec"]["selector"]
    budget = objects[("PodDisruptionBudget", service)]["spec"]["selector"]["matchLabels"]

    assert selector.items() <= pod_labels.items()
    assert budget.items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # A migration Job's pod must not receive the service's traffic.
    job_labels = objects[("Job", f"{service}-migrate")]["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items()
    assert objects[("Service", service)]["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http"}]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_migration_job_on_the_same_image(
    objects: dict[tuple[str, str], dict[str, Any]], service: str
) -> None:
    job = objects[("Job", f"{service}-migrate")]
    migrate = container(job)

    assert migrate["command"] == ["python", "-m", "uplift.common.migrations", "upgrade", service]
    assert migrate["image"] == container(objects[("Deployment", service)])["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_ingress_routes_each_prefix_to_its_service(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    ingress = objects[("Ingress", "uplift")]
    (rule,) = ingress["spec"]["rules"]
    routes = {
        path["path"]: (
            path["pathType"],
            path["backend"]["service"]["name"],
            path["backend"]["service"]["port"],
        )
        for path in rule["http"]["paths"]
    }

    assert routes == {f"/{service}": ("Prefix", service, {"name": "http"}) for service in SERVICES}


def test_nats_is_a_three_server_jetstream_cluster(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    statefulset = objects[("StatefulSet", "nats")]
    nats = container(statefulset)
    conf = (K8S / "nats" / "nats.conf").read_text(encoding="utf-8")
    routes = re.findall(r"nats://([a-z0-9.-]+):6222", conf)

    assert statefulset["spec"]["replicas"] == 3
    headless = statefulset["spec"]["serviceName"]
    assert objects[("Service", headless)]["spec"]["clusterIP"] == "None"
    assert routes == [f"nats-{i}.{headless}.{NAMESPACE}.svc.cluster.local" for i in range(3)]
    assert "server_name: $SERVER_NAME" in conf
    assert {"name": "SERVER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in nats["env"]
    anti_affinity = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == (
        "kubernetes.io/hostname"
    )
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {"name": "data", "mountPath": "/data"} in nats["volumeMounts"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert nats[probe]["httpGet"]["path"].startswith("/healthz")


def test_nats_reads_the_generated_config_map(
    kustomization: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]]
) -> None:
    volumes = objects[("StatefulSet", "nats")]["spec"]["template"]["spec"]["volumes"]
    config_map = next(volume["configMap"]["name"] for volume in volumes if "configMap" in volume)
    (generator,) = [g for g in kustomization["configMapGenerator"] if g["name"] == config_map]

    assert generator["files"] == ["nats.conf=nats/nats.conf"]
    assert objects[("Service", "nats")]["spec"]["ports"][0]["port"] == 4222


def test_streams_are_replicated_on_all_three_servers(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    config = objects[("ConfigMap", "uplift-config")]["data"]

    assert config["UPLIFT_NATS_STREAM_REPLICAS"] == str(objects[("StatefulSet", "nats")]["spec"]["replicas"])
    assert config["UPLIFT_NATS_URL"] == "nats://nats:4222"
    assert config["UPLIFT_ENV"] == "production"


def test_no_secret_values_are_committed(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert not [key for key in objects if key[0] == "Secret"]
    config = objects[("ConfigMap", "uplift-config")]["data"]
    assert not {"UPLIFT_PII_KEY", "UPLIFT_LOOKUP_KEY"} & set(config)
    assert config["UPLIFT_JWT_SECRET"] == ""  # tokens come from the JWKS URL


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_everything_into_the_namespace() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc is not None]
    kinds = sorted(doc["kind"] for doc in documents)

    assert kinds.count("Deployment") == 4
    assert kinds.count("Job") == 4
    assert kinds.count("StatefulSet") == 1
    for doc in documents:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]
    config_map = next(doc for doc in documents if doc["metadata"]["name"].startswith("nats-config-"))
    assert "sync_interval: always" in config_map["data"]["nats.conf"]
    statefulset = next(doc for doc in documents if doc["kind"] == "StatefulSet")
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    assert config_map["metadata"]["name"] in [volume.get("configMap", {}).get("name") for volume in volumes]
