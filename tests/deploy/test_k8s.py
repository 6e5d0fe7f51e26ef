"""The Kubernetes manifests (deploy/k8s), the Grafana dashboard and the operator's alerts agree with the
Kubernetes API, KEDA's objects, the settings classes and the metrics and health contract.

No cluster runs here: the kustomization is rendered in Python (the subset it uses), every built-in object is
validated against the Kubernetes 1.30 schemas that kubernetes-validate ships (offline, strict: an unknown field
fails), and the KEDA objects against the schemas in deploy/k8s/schemas. Redis runs from the manifest's own
command line.
"""

from __future__ import annotations

import copy
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from runtime import metrics
from runtime.redis_server import find_redis_server, free_port
from runtime.settings import BotSettings, CommonSettings, WorkerSettings
from storage.streams import JOBS, WORKERS_GROUP
from tests.support.metrics import CONTRACT_METRICS
from tests.support.waiting import wait_for_sync

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"

# The metrics and health contract: each process's port for /metrics, /healthz and /readyz.
CONTRACT_PORTS = {"worker": 9101, "bot": 9102, "web": 8765}
# The settings that name those ports and the address they are served on.
METRICS_SETTINGS = {"METRICS_PORT", "METRICS_HOST"}
SETTINGS_OF = {"bot": BotSettings, "worker": WorkerSettings, "web": CommonSettings}
SETTING_KEYS = {name.upper() for cls in SETTINGS_OF.values() for name in cls.model_fields} | METRICS_SETTINGS
# Containers that run someone else's image read their own variables: these and no others.
OTHER_IMAGES_ENV = {"redis": {"REDIS_PASSWORD", "REDIS_MAXMEMORY"},
                    "exporter": {"REDIS_ADDR", "REDIS_PASSWORD", "REDIS_EXPORTER_CONFIG_COMMAND"}}
SECRET_KEYS = {"DISCORD_TOKEN", "REDIS_PASSWORD", "WEB_ACCESS_TOKEN"}


# --- rendering: the subset of kustomize the kustomization uses ---------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "ClusterTriggerAuthentication"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize folder` prints, for kustomizations made of local resource files, a
    namespace and labels (on templates too, never on selectors); anything else is refused by name."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise ValueError(f"kustomization.yaml uses {sorted(unknown)}, which this renderer does not know")
    objects: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        path = folder / name
        if not path.is_file():
            raise ValueError(f"resource {name} is not a file of {folder}")
        objects += [document for document in yaml.safe_load_all(path.read_text()) if document]
    namespace = kustomization.get("namespace")
    for entry in kustomization.get("labels", []):
        if set(entry) - {"pairs", "includeTemplates", "includeSelectors"} or entry.get("includeSelectors"):
            raise ValueError(f"labels entry {entry} is not one this renderer knows")
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
        for entry in kustomization.get("labels", []):
            obj["metadata"].setdefault("labels", {}).update(entry["pairs"])
            if entry.get("includeTemplates") and obj["kind"] in WORKLOADS:
                obj["spec"]["template"]["metadata"].setdefault("labels", {}).update(entry["pairs"])
                for claim in obj["spec"].get("volumeClaimTemplates", []):
                    claim["metadata"].setdefault("labels", {}).update(entry["pairs"])
    return objects


OBJECTS = render(K8S)
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())


def the(kind: str, name: str) -> dict[str, Any]:
    [found] = [obj for obj in OBJECTS if obj["kind"] == kind and obj["metadata"]["name"] == name]
    return found


def pod_specs() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in OBJECTS:
        if obj["kind"] in WORKLOADS:
            yield obj, obj["spec"]["template"]["spec"]


def app_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    """(process, container) of every container that runs one of the project's images."""
    for _obj, spec in pod_specs():
        for container in spec["containers"]:
            if container["image"].startswith("melody-breeder-"):
                yield container["name"], container


def settings_map() -> dict[str, str]:
    return the("ConfigMap", "melody-breeder-settings")["data"]


def secret_example() -> dict[str, Any]:
    return yaml.safe_load((K8S / "secret.example.yaml").read_text())


def environment(container: dict[str, Any]) -> dict[str, str]:
    """What the container's process finds in its environment, the Secret's values taken from the example."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "melody-breeder-settings"
        env.update(settings_map())
    placeholders = secret_example()["stringData"]
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            env[variable["name"]] = placeholders[variable["valueFrom"]["secretKeyRef"]["key"]]
        else:
            env[variable["name"]] = settings_map()[variable["valueFrom"]["configMapKeyRef"]["key"]]
    return env


# --- Kubernetes' own schemas, and KEDA's -------------------------------------------------------------------

def test_every_built_in_object_is_valid_kubernetes_1_30() -> None:
    built_in = [obj for obj in OBJECTS if not obj["apiVersion"].startswith("keda.sh/")]
    assert {obj["kind"] for obj in built_in} == {"Namespace", "ConfigMap", "Service", "Deployment", "StatefulSet",
                                                 "PersistentVolumeClaim"}
    for obj in built_in:
        assert kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


def test_the_kubernetes_validation_refuses_a_misspelt_field_and_a_wrong_type() -> None:
    worker = the("Deployment", "worker")
    misspelt = copy.deepcopy(worker)
    misspelt["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    wrong_type = copy.deepcopy(worker)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9101"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def keda_schema(kind: str) -> dict[str, Any]:
    return json.loads((K8S / "schemas" / f"keda-{kind.lower()}.json").read_text())


def test_the_keda_objects_match_their_schemas() -> None:
    keda = [obj for obj in OBJECTS if obj["apiVersion"].startswith("keda.sh/")]
    assert sorted(obj["kind"] for obj in keda) == ["ScaledObject", "TriggerAuthentication"]
    for obj in keda:
        schema = keda_schema(obj["kind"])
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(obj)


@pytest.mark.parametrize("breakage", [
    "lag as a number", "no stream", "lag without activation", "misspelt field", "no address",
])
def test_the_scaledobject_schema_refuses_what_keda_would(breakage: str) -> None:
    broken = copy.deepcopy(the("ScaledObject", "worker"))
    metadata = broken["spec"]["triggers"][0]["metadata"]
    if breakage == "lag as a number":
        metadata["lagCount"] = 8
    elif breakage == "no stream":
        del metadata["stream"]
    elif breakage == "lag without activation":
        del metadata["activationLagCount"]
    elif breakage == "misspelt field":
        broken["spec"]["minReplicas"] = 1
    else:
        del metadata["address"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(keda_schema("ScaledObject")).validate(broken)


def test_the_python_rendering_is_what_kubectl_kustomize_prints() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here; the Python rendering is checked against it where it is")
    printed = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120,
                             check=True).stdout
    by_name = {(obj["kind"], obj["metadata"]["name"]): obj for obj in yaml.safe_load_all(printed)}
    assert by_name == {(obj["kind"], obj["metadata"]["name"]): obj for obj in OBJECTS}


def test_the_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\nimages: [{name: x, newTag: '1'}]\n")
    with pytest.raises(ValueError, match="images"):
        render(tmp_path)


# --- the processes ------------------------------------------------------------------------------------------

def test_the_bot_and_the_web_page_run_once_and_are_recreated_not_rolled() -> None:
    for name in ("bot", "web"):
        deployment = the("Deployment", name)
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # The workers' count is KEDA's: a replicas field would reset it on every apply.
    assert "replicas" not in the("Deployment", "worker")["spec"]


def test_every_probe_and_scrape_follows_the_metrics_contract() -> None:
    seen = set()
    for _obj, spec in pod_specs():
        for container in spec["containers"]:
            process = container["name"]
            if process not in CONTRACT_PORTS:
                continue
            seen.add(process)
            port = CONTRACT_PORTS[process]
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
            assert port in [p["containerPort"] for p in container["ports"]]
            env = environment(container)
            assert int(env["WEB_PORT" if process == "web" else "METRICS_PORT"]) == port
            if process != "web":
                assert env["METRICS_HOST"] == "0.0.0.0"  # the kubelet and Prometheus reach it from outside the pod
    assert seen == set(CONTRACT_PORTS)
    for obj, _spec in pod_specs():
        annotations = obj["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
        ports = {p["containerPort"] for c in obj["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports


def test_every_environment_variable_is_a_setting_of_the_project() -> None:
    assert set(settings_map()) <= SETTING_KEYS
    for process, container in app_containers():
        assert {variable["name"] for variable in container.get("env", [])} <= SETTING_KEYS, process
    for _obj, spec in pod_specs():
        for container in spec["containers"]:
            if not container["image"].startswith("melody-breeder-"):
                assert {v["name"] for v in container.get("env", [])} <= OTHER_IMAGES_ENV[container["name"]]
                assert "envFrom" not in container


def test_each_process_accepts_the_settings_the_manifests_give_it() -> None:
    """The settings class of each process, built from what its container's environment holds (Secret values
    from the example): a value out of range or of the wrong form fails here, not in a crash-looping pod."""
    from web.access import login_needed

    for process, container in app_containers():
        env = environment(container)
        settings = SETTINGS_OF[process](_env_file=None, **{key.lower(): value for key, value in env.items()})
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.redis_password is not None
        if process == "web":
            token = settings.web_access_token.get_secret_value() if settings.web_access_token else None
            assert settings.web_host == "0.0.0.0"
            assert login_needed(settings.web_host, token, settings.web_trusted_proxy) is None
            assert settings.web_allowed_hosts  # the name the Ingress serves; any other Host is refused


def test_secrets_come_from_the_secret_and_reach_only_the_processes_that_need_them() -> None:
    assert not SECRET_KEYS & set(settings_map())
    readers: dict[str, set[str]] = {key: set() for key in SECRET_KEYS}
    for _obj, spec in pod_specs():
        for container in spec["containers"]:
            for variable in container.get("env", []):
                if variable["name"] in SECRET_KEYS:
                    assert "value" not in variable, (container["name"], variable["name"])
                    ref = variable["valueFrom"]["secretKeyRef"]
                    assert ref == {"name": "melody-breeder", "key": variable["name"]}
                    readers[variable["name"]].add(container["name"])
    assert readers == {"DISCORD_TOKEN": {"bot"}, "WEB_ACCESS_TOKEN": {"web"},
                       "REDIS_PASSWORD": {"bot", "worker", "web", "redis", "exporter"}}


def test_the_secret_example_is_never_applied_and_names_every_key_the_manifests_read() -> None:
    assert "secret.example.yaml" not in KUSTOMIZATION["resources"]
    assert "Secret" not in {obj["kind"] for obj in OBJECTS}
    example = secret_example()
    assert example["kind"] == "Secret" and example["metadata"]["name"] == "melody-breeder"
    assert set(example["stringData"]) == SECRET_KEYS
    assert all(value.startswith("replace-with-") for value in example["stringData"].values())
    assert kubernetes_validate.validate(example, KUBERNETES_VERSION, strict=True)
    text = (K8S / "secret.example.yaml").read_text()
    assert "kubectl -n melody-breeder create secret generic melody-breeder --from-env-file=" in text


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|)", value).groups()
    return float(number) * units[unit]


def _redis_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)(gb|mb|kb|g|m|k|)", value.lower()).groups()
    return int(number) * {"gb": 2**30, "mb": 2**20, "kb": 2**10, "g": 10**9, "m": 10**6, "k": 10**3, "": 1}[unit]


def test_every_container_requests_and_limits_cpu_and_memory() -> None:
    for _obj, spec in pod_specs():
        for container in spec["containers"]:
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request, limit = resources["requests"][resource], resources["limits"][resource]
                assert 0 < _quantity(request) <= _quantity(limit), (container["name"], resource)


def test_a_worker_has_room_for_its_model_soundfont_and_note_cache_and_a_core() -> None:
    [worker] = the("Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    cache_mb = float(environment(worker)["RENDER_CACHE_MB"])
    model_mb, soundfont_mb = 200, 170  # docs/benchmarks.md (bench decode rss_mb=201), deploy/SCALING.md
    assert _quantity(worker["resources"]["requests"]["memory"]) >= (model_mb + soundfont_mb + cache_mb) * 2**20
    assert _quantity(worker["resources"]["requests"]["cpu"]) >= 1


def test_every_process_mounts_the_one_media_folder_with_room_for_its_bound() -> None:
    """The workers write rendered media, the bot and the web page read them: one ReadWriteMany claim at MEDIA_DIR."""
    claim = the("PersistentVolumeClaim", "media")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    max_mb = float(settings_map()["MEDIA_MAX_MB"])
    assert _quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 1.5 * max_mb * 2**20
    processes = set()
    for _obj, spec in pod_specs():
        for container in spec["containers"]:
            if container["name"] not in CONTRACT_PORTS:
                continue
            processes.add(container["name"])
            [volume] = [v["name"] for v in spec["volumes"]
                        if v.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]]
            mount = {"name": volume, "mountPath": environment(container)["MEDIA_DIR"]}
            assert mount in container["volumeMounts"], container["name"]
            assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]
    assert processes == set(CONTRACT_PORTS)


def test_redis_has_room_above_its_maxmemory_and_a_claim_for_its_aof() -> None:
    redis = the("StatefulSet", "redis")
    [container] = [c for c in redis["spec"]["template"]["spec"]["containers"] if c["name"] == "redis"]
    maxmemory = _redis_bytes(settings_map()["REDIS_MAXMEMORY"])
    assert _quantity(container["resources"]["limits"]["memory"]) >= 1.25 * maxmemory
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert _quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 3 * maxmemory
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]


def restricted_problems(spec: dict[str, Any]) -> list[str]:
    """Where a pod breaks the Pod Security Standard "restricted" (the fields these pods could get wrong)."""
    problems = []
    context = spec.get("securityContext", {})
    if context.get("runAsNonRoot") is not True or context.get("runAsUser", 1) == 0:
        problems.append("runs as root or unchecked")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append("shares the host's namespaces")
    if any("hostPath" in volume for volume in spec.get("volumes", [])):
        problems.append("mounts a host path")
    for container in spec["containers"]:
        own = container.get("securityContext", {})
        seccomp = own.get("seccompProfile", context.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{container['name']}: no seccomp profile")
        if own.get("allowPrivilegeEscalation") is not False or own.get("privileged"):
            problems.append(f"{container['name']}: may gain privileges")
        capabilities = own.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []) or set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{container['name']}: keeps capabilities")
    return problems


def test_the_namespace_enforces_the_restricted_pod_security_standard_and_every_pod_meets_it() -> None:
    labels = the("Namespace", KUSTOMIZATION["namespace"])["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj, spec in pod_specs():
        assert restricted_problems(spec) == [], obj["metadata"]["name"]
    assert restricted_problems({"containers": [{"name": "bare"}]}) == [
        "runs as root or unchecked", "bare: no seccomp profile", "bare: may gain privileges",
        "bare: keeps capabilities"]


def test_pods_run_as_a_user_without_capabilities_tokens_or_service_links() -> None:
    for obj, spec in pod_specs():
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, obj["metadata"]["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        # Service links would put e.g. WEB_PORT=tcp://... into the environment the settings read.
        assert spec["enableServiceLinks"] is False
        for container in spec["containers"]:
            assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                                    "readOnlyRootFilesystem": True,
                                                    "capabilities": {"drop": ["ALL"]}}
    for service in (obj for obj in OBJECTS if obj["kind"] == "Service"):
        name = service["metadata"]["name"].upper().replace("-", "_")
        assert not {f"{name}_PORT", f"{name}_SERVICE_HOST"} & SETTING_KEYS


def test_services_select_pods_and_name_their_ports() -> None:
    for service in (obj for obj in OBJECTS if obj["kind"] == "Service"):
        [workload] = [obj for obj, _spec in pod_specs()
                      if service["spec"]["selector"].items() <= obj["spec"]["template"]["metadata"]["labels"].items()]
        ports = {p["name"] for c in workload["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports
    assert the("StatefulSet", "redis")["spec"]["serviceName"] == "redis"
    assert settings_map()["REDIS_URL"] == "redis://redis:6379/0"


def test_keda_scales_the_worker_deployment_on_the_lag_of_the_jobs_group() -> None:
    scaled = the("ScaledObject", "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == the("Deployment", "worker")["metadata"]["name"]
    [trigger] = scaled["spec"]["triggers"]
    metadata = trigger["metadata"]
    assert trigger["type"] == "redis-streams"
    assert (metadata["stream"], metadata["consumerGroup"]) == (JOBS, WORKERS_GROUP) == ("mb:jobs", "workers")
    assert "lagCount" in metadata and "pendingEntriesCount" not in metadata
    # KEDA's operator runs in its own namespace: the Service's full name.
    namespace = KUSTOMIZATION["namespace"]
    assert metadata["address"] == f"redis.{namespace}.svc.cluster.local:6379"
    assert metadata["databaseIndex"] == settings_map()["REDIS_URL"].rsplit("/", 1)[1]  # the workers' database
    auth = the("TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": "melody-breeder",
                                                "key": "REDIS_PASSWORD"}]
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]


def test_the_namespace_object_is_the_kustomization_namespace() -> None:
    assert the("Namespace", KUSTOMIZATION["namespace"])


# --- Redis, run from the manifest's own command line ------------------------------------------------------

def _redis_script(port: int, data: Path) -> tuple[str, str]:
    """The container's command and its probe, pointed at a test port and folder and this machine's binaries."""
    [container] = [c for c in the("StatefulSet", "redis")["spec"]["template"]["spec"]["containers"]
                   if c["name"] == "redis"]
    server = find_redis_server()
    script = container["command"][2]
    assert "exec redis-server --dir /data " in script
    script = script.replace("exec redis-server --dir /data ",
                            f"exec {server} --port {port} --bind 127.0.0.1 --dir {data} ")
    probe = container["readinessProbe"]["exec"]["command"][2]
    assert probe == container["livenessProbe"]["exec"]["command"][2] == container["startupProbe"]["exec"]["command"][2]
    probe = probe.replace("redis-cli ping", f"{server.parent / 'redis-cli'} -p {port} ping")
    return script, probe


def test_the_manifest_redis_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    script, _probe = _redis_script(free_port(), tmp_path)
    for env in ({"REDIS_MAXMEMORY": "32mb"}, {"REDIS_PASSWORD": "", "REDIS_MAXMEMORY": "32mb"}):
        result = subprocess.run(["sh", "-c", script], env={"PATH": "/usr/bin:/bin", **env},
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        assert result.stderr.strip() == "REDIS_PASSWORD is empty: create the Secret melody-breeder"


def test_the_manifest_redis_wants_its_password_keeps_an_aof_and_never_evicts(tmp_path: Path) -> None:
    import redis

    port, password = free_port(), "k8s-password-7"
    script, probe = _redis_script(port, tmp_path)
    env = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": password, "REDIS_MAXMEMORY": "32mb"}
    process = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = redis.Redis(host="127.0.0.1", port=port, password=password)

    def answers() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for_sync(answers, timeout=30, what="the manifest's Redis")
        assert subprocess.run(["sh", "-c", probe], env=env, timeout=30).returncode == 0
        wrong = {**env, "REDIS_PASSWORD": "not-the-password"}
        assert subprocess.run(["sh", "-c", probe], env=wrong, capture_output=True, timeout=30).returncode != 0
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).set("mb:probe", b"1")
        memory, persistence = client.info("memory"), client.info("persistence")
        assert memory["maxmemory"] == 32 * 2**20 and memory["maxmemory_policy"] == "noeviction"
        assert persistence["aof_enabled"] == 1
        client.set("mb:probe", b"1")
        wait_for_sync(lambda: any(tmp_path.rglob("*.aof*")), timeout=10, what="the AOF in the data folder")
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("CONFIG", "GET", "dir")
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=20)
        if process.stderr:
            process.stderr.close()


# --- the Grafana dashboard and the alerts: only the contract's metrics, with their labels ------------------

HISTOGRAMS = {"melody_job_seconds", "melody_stage_seconds", "melody_close_to_post_seconds",
              "melody_redis_roundtrip_seconds"}
# The values a label may take, where the contract fixes them (the sets runtime.metrics refuses others with).
LABEL_VALUES: dict[str, dict[str, frozenset[str]]] = {
    "melody_jobs_total": {"kind": metrics.JOB_KINDS, "outcome": metrics.JOB_OUTCOMES},
    "melody_job_seconds": {"kind": metrics.JOB_KINDS},
    "melody_stage_seconds": {"stage": metrics.STAGES},
    "melody_stream_length": {"stream": metrics.STREAMS},
    "melody_stream_pending": {"stream": metrics.STREAMS, "group": metrics.GROUPS},
    "melody_stream_lag": {"stream": metrics.STREAMS, "group": metrics.GROUPS},
    "melody_discord_errors_total": {"kind": metrics.DISCORD_ERROR_KINDS},
}
# Labels Prometheus adds to every series it scrapes (target labels), and the buckets' bound.
SCRAPE_LABELS = {"job", "instance", "namespace", "pod", "container", "le"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}
DASHBOARD = ROOT / "deploy" / "grafana" / "melody-breeder.json"


def _series(name: str) -> str | None:
    """The contract metric a series name belongs to (a histogram's _bucket, _sum, _count), or None."""
    if name in CONTRACT_METRICS:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS:
            return name.removesuffix(suffix)
    return None


def promql_problems(expr: str, outside: frozenset[str] = frozenset()) -> list[str]:
    """What in a PromQL expression is not the contract: an unknown metric (other than `outside`), a label the
    metric does not have, a label value the contract does not know, a grouping label no metric has."""
    problems: list[str] = []
    text = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana's variables ($__rate_interval)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    labels_seen: set[str] = set(SCRAPE_LABELS)
    for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", text):
        metric = _series(name)
        for label, op, value in re.findall(r"(\w+)\s*(=~|!~|!=|=)\s*\"([^\"]*)\"", matchers):
            if metric is None:
                continue
            if label not in CONTRACT_METRICS[metric] | SCRAPE_LABELS:
                problems.append(f"{name} has no label {label}")
            elif label in LABEL_VALUES.get(metric, {}):
                allowed = LABEL_VALUES[metric][label]
                values = set(value.split("|")) if "~" in op else {value}
                if not values <= allowed:
                    problems.append(f"{label} never takes {sorted(values - allowed)}")
    text = re.sub(r"\{[^}]*\}", "", text)
    grouping = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
    for words in re.findall(grouping, text):
        labels_seen |= {word.strip() for word in words.split(",") if word.strip()}
    text = re.sub(grouping, " ", text)
    names = {token for token in re.findall(r"(?<![\w.\"])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
             if token.lower() not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]", token)}
    used_labels: set[str] = set(SCRAPE_LABELS)
    for name in names:
        metric = _series(name)
        if metric is not None:
            used_labels |= CONTRACT_METRICS[metric]
        elif name not in outside:
            problems.append(f"{name} is not a metric of the contract")
    if names - outside:
        problems += [f"no metric here has the label {label}" for label in sorted(labels_seen - used_labels)]
    return problems


def test_the_contract_is_what_the_processes_register() -> None:
    """runtime.metrics registers exactly the contract's metrics, with its labels, and takes only its values."""
    from prometheus_client.metrics import MetricWrapperBase

    registered: dict[str, set[str]] = {}
    collectors = [c for c in vars(metrics.Metrics()).values() if isinstance(c, MetricWrapperBase)]
    for collector in collectors:
        # prometheus-client keeps a metric's name, type and label names only in these attributes.
        name = f"{collector._name}_total" if collector._type == "counter" else collector._name
        registered[name] = set(collector._labelnames)
        assert (collector._type == "histogram") == (name in HISTOGRAMS), name
    assert registered == CONTRACT_METRICS
    assert LABEL_VALUES["melody_jobs_total"]["kind"] == {"start", "evolve", "finish", "morph", "tree", "compose",
                                                         "tune", "render"}
    assert LABEL_VALUES["melody_jobs_total"]["outcome"] == {"done", "failed", "abandoned", "dead_lettered"}
    assert metrics.STAGES == {"decode", "render", "write", "post"} and metrics.STREAMS == {"jobs", "events"}


def test_the_promql_check_catches_unknown_metrics_labels_and_values() -> None:
    assert promql_problems('sum by (kind) (rate(melody_jobs_total{outcome="done"}[5m]))') == []
    assert promql_problems("rate(melody_job_total[5m])") == ["melody_job_total is not a metric of the contract"]
    assert promql_problems('melody_stream_lag{stream="mb:jobs", group="workers"}') == ["stream never takes ['mb:jobs']"]
    assert promql_problems('melody_open_breeds{kind="start"}') == ["melody_open_breeds has no label kind"]
    assert promql_problems("sum by (stage) (melody_jobs_total)") == ["no metric here has the label stage"]
    assert promql_problems("histogram_quantile(0.95, sum by (le) (rate(melody_votes_total_bucket[5m])))") == [
        "melody_votes_total_bucket is not a metric of the contract"]


def dashboard_panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = []
    for panel in dashboard["panels"]:
        panels += [panel, *panel.get("panels", [])]
    return panels


def test_the_dashboard_reads_prometheus_through_its_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41 and dashboard["uid"] == "melody-breeder"
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    panels = dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        source = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
        assert panel["datasource"] == source and panel["targets"], panel["title"]
        assert all(target["datasource"] == source for target in panel["targets"])
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])


def test_every_dashboard_expression_names_only_the_contract_and_the_panels_cover_it() -> None:
    used: set[str] = set()
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            assert promql_problems(target["expr"]) == [], (panel["title"], target["expr"])
            used |= {_series(name) for name in re.findall(r"melody_\w+", target["expr"])}
    assert used == set(CONTRACT_METRICS)
    texts = " ".join(target["expr"] for panel in dashboard_panels() for target in panel.get("targets", []))
    for needed in ('melody_stream_lag{stream="jobs", group="workers"}', "histogram_quantile(0.95",
                   "melody_stage_seconds_bucket", "melody_close_to_post_seconds_bucket", "by (kind, outcome)",
                   'outcome=~"failed|dead_lettered'):
        assert needed in texts


# --- docs/operations.md: its alerts, its restore pod, and its backup and restore run against a real Redis ---

OPERATIONS = ROOT / "docs" / "operations.md"
# Metrics of other exporters the alerts read: kube-state-metrics, and the redis_exporter beside Redis.
EXPORTER_METRICS = frozenset({"kube_pod_container_status_ready", "redis_memory_used_bytes", "redis_memory_max_bytes"})


def operations_blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/operations.md in `language`, without their list indentation."""
    blocks = []
    for indent, body in re.findall(rf"^( *)```{language}\n(.*?)^ *```", OPERATIONS.read_text(), re.M | re.S):
        blocks.append("\n".join(line.removeprefix(indent) for line in body.splitlines()) + "\n")
    return blocks


def operations_script(first_line: str) -> str:
    """The shell lines of docs/operations.md that start with the comment `first_line`."""
    for block in operations_blocks("sh"):
        if first_line in block:
            script = block[block.index(first_line):]
            return script.split("\nSCRIPT\n")[0] + "\n"
    raise AssertionError(f"docs/operations.md has no script starting with {first_line!r}")


def test_the_alerts_are_prometheus_rules_on_the_contract_and_the_exporters() -> None:
    [rules] = [yaml.safe_load(block) for block in operations_blocks("yaml") if "groups:" in block]
    [group] = rules["groups"]
    alerts = {rule["alert"]: rule for rule in group["rules"]}
    assert set(alerts) == {"MelodyBreederQueueGrowing", "MelodyBreederSlowPosts", "MelodyBreederDeadLetters",
                           "MelodyBreederNotReady", "MelodyBreederRedisNearlyFull"}
    for rule in alerts.values():
        assert promql_problems(rule["expr"], outside=EXPORTER_METRICS) == [], rule["alert"]
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    assert alerts["MelodyBreederQueueGrowing"]["for"] == "5m"
    assert "melody_close_to_post_seconds_bucket" in alerts["MelodyBreederSlowPosts"]["expr"]
    assert alerts["MelodyBreederSlowPosts"]["expr"].endswith("> 3")
    assert 'outcome="dead_lettered"' in alerts["MelodyBreederDeadLetters"]["expr"]
    # The readiness alert names the containers whose readinessProbe reads /readyz.
    ready = re.search(r'container=~"([^"]+)"', alerts["MelodyBreederNotReady"]["expr"]).group(1)
    assert set(ready.split("|")) == set(CONTRACT_PORTS)


def test_the_operations_page_lists_every_metric_with_its_labels_and_values() -> None:
    text = OPERATIONS.read_text()
    section = text[text.index("## Metrics and health"):text.index("## Deploying")]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `melody_")]
    listed: dict[str, set[str]] = {}
    for names, _kind, labels, _who in rows:
        for name in re.findall(r"`(melody_\w+)`", names):
            listed[name] = set(re.findall(r"`(\w+)`", labels))
            for label in listed[name]:
                values = re.search(rf"`{label}` \(([^)]*)\)", labels)
                if values and label in LABEL_VALUES.get(name, {}):
                    named = {value.strip() for value in values.group(1).replace(";", ",").split(",")}
                    assert named == set(LABEL_VALUES[name][label]), (name, label)
    assert listed == CONTRACT_METRICS
    for path in ("/healthz", "/readyz", "/metrics"):
        assert f"| `{path}` |" in section


def test_the_restore_pod_is_valid_and_mounts_the_redis_claim() -> None:
    [pod] = [yaml.safe_load(block) for block in operations_blocks("yaml") if "kind: Pod" in block]
    assert kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    redis = the("StatefulSet", "redis")
    claim = f"{redis['spec']['volumeClaimTemplates'][0]['metadata']['name']}-{redis['metadata']['name']}-0"
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim
    assert pod["metadata"]["namespace"] == KUSTOMIZATION["namespace"]
    redis_user = redis["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert pod["spec"]["securityContext"]["runAsUser"] == redis_user
    assert restricted_problems(pod["spec"]) == []  # the namespace admits only restricted pods


def test_a_redis_backed_up_and_restored_as_the_operations_page_says_keeps_what_it_held(tmp_path: Path) -> None:
    """The manifest's Redis with its AOF; the page's snapshot lines; a write after the snapshot; the page's
    restore lines on the same folder; the manifest's Redis again: what the snapshot held, and only that."""
    import redis

    password = "k8s-backup-password"
    env = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": password, "REDIS_MAXMEMORY": "32mb"}
    data = tmp_path / "data"
    data.mkdir()

    def start() -> tuple[subprocess.Popen[bytes], redis.Redis, int]:
        port = free_port()
        script, _probe = _redis_script(port, data)
        process = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, password=password)

        def answers() -> bool:
            assert process.poll() is None, "the manifest's Redis exited"
            try:
                return bool(client.ping())
            except (redis.ConnectionError, redis.BusyLoadingError):
                return False

        wait_for_sync(answers, timeout=30, what="the manifest's Redis")
        return process, client, port

    def stop(process: subprocess.Popen[bytes], client: redis.Redis) -> None:
        client.close()
        process.terminate()
        process.wait(timeout=20)

    cli = f"{find_redis_server().parent / 'redis-cli'}"
    process, client, port = start()
    try:
        client.set("mb:breed:kept", b"before the snapshot")
        client.xgroup_create(JOBS, WORKERS_GROUP, id="0", mkstream=True)
        client.xadd(JOBS, {"payload": b"{}"})
        backup = operations_script("# take a snapshot").replace("redis-cli", f"{cli} -p {port}")
        result = subprocess.run(["sh", "-c", backup], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        snapshot = tmp_path / "melody-breeder.rdb"
        shutil.copy(data / "dump.rdb", snapshot)  # `kubectl cp` while Redis runs
        client.set("mb:breed:after", b"after the snapshot")
    finally:
        stop(process, client)
    assert (data / "appendonlydir").is_dir()
    shutil.copy(snapshot, data / "restore.rdb")  # `kubectl cp` into the restore pod

    restore = operations_script("# restore the snapshot as the AOF's base").replace("/data", str(data))
    result = subprocess.run(["sh", "-c", restore], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not (data / "restore.rdb").exists() and not (data / "dump.rdb").exists()

    process, client, _port = start()
    try:
        assert client.get("mb:breed:kept") == b"before the snapshot"
        assert client.get("mb:breed:after") is None
        [group] = client.xinfo_groups(JOBS)
        assert group["name"] == WORKERS_GROUP.encode() and client.xlen(JOBS) == 1
        assert client.info("persistence")["aof_enabled"] == 1
    finally:
        stop(process, client)


# --- deploy/compose.yaml: the bot's and the workers' healthchecks read /readyz ------------------------------

class _Readiness(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        ready = self.path == "/readyz" and self.status == 200
        self.send_response(200 if ready else 503 if self.path == "/readyz" else 404)
        self.end_headers()
        self.wfile.write(json.dumps({"ready": ready, "checks": {}}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("service", ["bot", "worker"])
def test_the_compose_healthcheck_is_healthy_only_while_readyz_answers_200(service: str) -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert compose["services"][service]["environment"]["METRICS_HOST"] == "0.0.0.0"  # Prometheus on the network
    check = compose["services"][service]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    assert f"os.environ.get('METRICS_PORT', '{CONTRACT_PORTS[service]}')" in check[3]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readiness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {"PATH": "/usr/bin:/bin", "METRICS_PORT": str(server.server_address[1])}
    try:
        outcomes = {}
        for status in (200, 503):
            _Readiness.status = status
            outcomes[status] = subprocess.run([sys.executable, "-c", check[3]], env=env, capture_output=True,
                                              timeout=30).returncode
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    nobody = subprocess.run([sys.executable, "-c", check[3]], env=env, capture_output=True, timeout=30).returncode
    assert outcomes[200] == 0 and outcomes[503] != 0 and nobody != 0
