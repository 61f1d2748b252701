"""Every region overlay renders with kustomize, and every object it yields is valid: built-in kinds against
the Kubernetes JSON schemas (kubernetes-validate, strict: unknown fields are errors), Strimzi kinds against
the schemas generated from Strimzi's API model, MongoDBCommunity against the operator's CRD. Then what the
layout promises: each service container runs its CLI's `serve`, the roles of matching, autoscaling,
disruption budgets, resources, security contexts, secrets described by their keys only."""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml
from pydantic import SecretStr

from tdu_shared.geo import load_basins

from .helpers import (
    DEPLOY_VARIABLES,
    DEPLOYABLES,
    K8S,
    KAFKA_AUTH_VARIABLES,
    KUBERNETES_VERSION,
    OPERATOR_SECRETS,
    OVERLAYS,
    ROOT,
    SCHEMAS,
    SETTINGS,
    WEB,
    build,
    by_name,
    dockerfile,
    env_names,
    final_stage,
    image_service,
    missing_tools,
    mongodb_crd_path,
    of_kind,
    pod_spec,
    render,
    workloads,
)

STRIMZI_KINDS = ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser")


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    problem = missing_tools()
    assert problem is None, problem


def structural_to_json_schema(node: Any) -> Any:
    """A CRD's openAPIV3Schema as a JSON schema: Kubernetes' extensions spelled in JSON-schema terms, and
    unknown properties refused where the CRD does not preserve them (the API server would drop them)."""
    if isinstance(node, list):
        return [structural_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: structural_to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out = {"anyOf": [{"type": "integer"}, {"type": "string"}], **out}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def quantities_as_strings(node: Any) -> Any:
    """Kubernetes quantities (fabric8's Quantity, an {amount, format} object in Java) are written as a string
    or a number: the generator sees the Java object, the operator reads the string."""
    if isinstance(node, list):
        return [quantities_as_strings(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "object" and set(node.get("properties", {})) == {"amount", "format"}:
        return {"type": ["string", "number"]}
    return {k: quantities_as_strings(v) for k, v in node.items()}


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    if kind in STRIMZI_KINDS:
        schema = json.loads((SCHEMAS / "strimzi" / f"{kind}.json").read_text(encoding="utf-8"))
        return dict(quantities_as_strings(schema))
    if kind == "MongoDBCommunity":
        crd = yaml.safe_load(mongodb_crd_path().read_text(encoding="utf-8"))
        (version,) = [v for v in crd["spec"]["versions"] if v.get("served")]
        schema = structural_to_json_schema(version["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"type": "object"}
        return dict(schema)
    raise KeyError(kind)


def validate(doc: dict[str, Any]) -> None:
    kind = doc["kind"]
    if kind in (*STRIMZI_KINDS, "MongoDBCommunity"):
        jsonschema.validate(doc, crd_schema(kind))
    else:
        kubernetes_validate.validate(copy.deepcopy(doc), KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_the_overlay_is_valid(overlay: str) -> None:
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    expected = {"Deployment", "Service", "CronJob", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert expected | {"Ingress", *STRIMZI_KINDS, "MongoDBCommunity"} <= kinds
    errors = []
    for doc in docs:
        try:
            validate(doc)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            errors.append(f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message[:300]}")
    assert not errors, "\n".join(errors)


def test_the_component_without_kafka_authentication_is_valid_and_removes_it(tmp_path: Path) -> None:
    """The stopgap for clusters whose services cannot authenticate yet (deploy/README.md)."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    up = os.path.relpath(K8S, overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{up}/overlays/grand-est]\n"
        f"components: [{up}/components/kafka-without-authentication]\n",
        encoding="utf-8",
    )
    docs = build(overlay)
    for doc in docs:
        validate(doc)
    assert not of_kind(docs, "KafkaUser")
    (kafka,) = of_kind(docs, "Kafka")
    assert "authorization" not in kafka["spec"]["kafka"]
    assert all("authentication" not in listener for listener in kafka["spec"]["kafka"]["listeners"])
    assert configmap_data(docs, "traitdunion-common")["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert len(docs) == len(render("grand-est")) - len(of_kind(render("grand-est"), "KafkaUser"))


def test_the_validation_refuses_mistakes() -> None:
    """The checks above can fail: a misspelt field, a wrong type, an unknown listener type are caught."""
    docs = render(OVERLAYS[0])
    deployment = copy.deepcopy(of_kind(docs, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["arg"] = ["serve"]
    kafka = copy.deepcopy(of_kind(docs, "Kafka")[0])
    kafka["spec"]["kafka"]["listeners"][0]["authentication"]["type"] = "scram-sha-1024"
    topic = copy.deepcopy(of_kind(docs, "KafkaTopic")[0])
    topic["spec"]["partitions"] = "twelve"
    user = copy.deepcopy(of_kind(docs, "KafkaUser")[0])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Steal"]
    mongo = copy.deepcopy(of_kind(docs, "MongoDBCommunity")[0])
    mongo["spec"]["member"] = 3
    for broken in (deployment, kafka, topic, user, mongo):
        with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
            validate(broken)


# ---------------------------------------------------------------- commands


def entrypoint(service: str) -> list[str]:
    stage = final_stage(dockerfile(ROOT / "services" / service / "Dockerfile"))
    (instruction,) = [i for i in stage if i.keyword == "ENTRYPOINT"]
    return instruction.json()


def cli_commands(service: str) -> dict[str, Any]:
    module = __import__(f"{service}.cli", fromlist=["app"])
    group = typer.main.get_command(module.app)
    return dict(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_container_runs_its_cli_serve(overlay: str) -> None:
    """`args: ["serve"]` with the image's ENTRYPOINT [<service>]: the process is `<service> serve`."""
    deployments = of_kind(render(overlay), "Deployment")
    assert {image_service(pod_spec(d)["containers"][0]["image"]) for d in deployments} == set(DEPLOYABLES)
    for deployment in deployments:
        for container in pod_spec(deployment)["containers"]:
            service = image_service(container["image"])
            assert "command" not in container, f"{deployment['metadata']['name']} replaces the entrypoint"
            argv = entrypoint(service) + container["args"]
            assert argv[:2] == [service, "serve"], argv
            serve = cli_commands(service)["serve"]
            options = {opt for p in serve.params for opt in p.opts}
            flags = [a for a in container["args"][1:] if a.startswith("--")]
            assert set(flags) <= options, f"{service} serve has no {set(flags) - options}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scheduled_imports_run_the_services_commands(overlay: str) -> None:
    cronjobs = by_name(render(overlay), "CronJob")
    fetch = pod_spec(cronjobs["offers-fetch"])["containers"][0]
    assert image_service(fetch["image"]) == "offers"
    assert 'offers fetch --departement "$d" --refresh' in " ".join(fetch["args"])
    assert {"departement", "refresh"} <= {p.name for p in cli_commands("offers")["fetch"].params}
    lheo = pod_spec(cronjobs["trainings-import"])["containers"][0]
    assert image_service(lheo["image"]) == "trainings" and "command" not in lheo
    assert entrypoint("trainings") + lheo["args"][:2] == ["trainings", "import", "/data/catalogue.xml"]
    assert {"source", "as_json"} <= {p.name for p in cli_commands("trainings")["import"].params}
    retention = pod_spec(cronjobs["journeys-retention"])["containers"][0]
    assert image_service(retention["image"]) == "journeys" and retention["args"] == ["retention"]
    assert "retention" in cli_commands("journeys")
    open_data = pod_spec(cronjobs["journeys-open-data"])["containers"][0]
    assert image_service(open_data["image"]) == "journeys" and open_data["args"] == ["open-data"]
    assert "open-data" in cli_commands("journeys")
    backup = pod_spec(cronjobs["mongodb-backup"])["containers"][0]
    assert "mongodump" in backup["args"][0] and "--oplog" in backup["args"][0]
    (user,) = [
        u for u in of_kind(render(overlay), "MongoDBCommunity")[0]["spec"]["users"] if u["name"] == "backup"
    ]
    assert backup["env"][0]["valueFrom"]["secretKeyRef"]["name"] == user["connectionStringSecretName"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_matching_runs_as_matchers_and_search_replicas(overlay: str) -> None:
    deployments = by_name(render(overlay), "Deployment")
    matcher = pod_spec(deployments["matching-matcher"])["containers"][0]
    search = pod_spec(deployments["matching-search"])["containers"][0]
    assert matcher["args"] == ["serve", "--role", "matcher"]
    assert search["args"] == ["serve", "--role", "search"]
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(render(overlay), "HorizontalPodAutoscaler")}
    assert hpas == {"matching-search", "journeys", WEB}
    assert hpas <= set(deployments)


def test_a_search_replica_consumes_matching_eligibility_only() -> None:
    from matching.main import build
    from matching.settings import Settings

    nowhere = {"kafka_bootstrap_servers": "127.0.0.1:1", "mongodb_url": "mongodb://127.0.0.1:1/"}
    topics = {}
    for role in ("search", "matcher", "all"):
        app = build(Settings(role=role, **nowhere))
        subscribers = app.state.components.runtime.broker.subscribers
        topics[role] = {name for s in subscribers for name in s.topic_names}
    assert topics["search"] == {"matching.eligibility"}
    assert topics["matcher"] == {"offers.state", "trainings.sessions"}
    assert topics["all"] == topics["search"] | topics["matcher"]


# ---------------------------------------------------------------- robustness


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_resources_and_a_locked_down_container(overlay: str) -> None:
    docs = render(overlay)
    budgets = [p["spec"]["selector"]["matchLabels"] for p in of_kind(docs, "PodDisruptionBudget")]
    for deployment in of_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        assert any(b.items() <= labels.items() for b in budgets), f"no PodDisruptionBudget for {name}"
    for workload in workloads(docs):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for key in ("cpu", "memory"):
                assert key in container["resources"]["requests"], where
                assert key in container["resources"]["limits"], where
            for mount in container.get("volumeMounts", []):
                if not mount.get("readOnly"):
                    writable = {"emptyDir", "persistentVolumeClaim"} & set(volumes[mount["name"]])
                    assert writable, f"{where}: writable {mount['mountPath']} on a read-only volume"
            if container["name"] in DEPLOYABLES:
                assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, where


# ---------------------------------------------------------------- settings and secrets


def configmap_data(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, str]:
    (found,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith(name)]
    return dict(found["data"])


def secrets_example() -> dict[str, set[str]]:
    docs = list(yaml.safe_load_all((K8S / "secrets.example.yaml").read_text(encoding="utf-8")))
    return {d["metadata"]["name"]: set(d["stringData"]) for d in docs}


def test_the_secrets_example_holds_keys_and_no_value_and_is_deployed_by_nothing() -> None:
    for doc in yaml.safe_load_all((K8S / "secrets.example.yaml").read_text(encoding="utf-8")):
        assert doc["kind"] == "Secret"
        assert "data" not in doc
        assert set(doc["stringData"].values()) == {""}, doc["metadata"]["name"]
    for kustomization in K8S.rglob("kustomization.yaml"):
        doc = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        listed = [*doc.get("resources", []), *doc.get("components", [])]
        assert not [r for r in listed if "secrets.example" in r], kustomization


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_used_is_described_or_written_by_an_operator(overlay: str) -> None:
    docs = render(overlay)
    known = {**secrets_example(), **OPERATOR_SECRETS}
    for user in of_kind(docs, "MongoDBCommunity")[0]["spec"]["users"]:
        known[user["connectionStringSecretName"]] = {
            "connectionString.standard",
            "connectionString.standardSrv",
            "username",
            "password",
        }
        assert user["passwordSecretRef"]["name"] in secrets_example()
    used: list[tuple[str, str | None]] = []
    for workload in workloads(docs):
        for container in pod_spec(workload).get("initContainers", []) + pod_spec(workload)["containers"]:
            used += [(s["secretRef"]["name"], None) for s in container.get("envFrom", []) if "secretRef" in s]
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.append((ref["name"], ref["key"]))
    used += [(tls["secretName"], "tls.crt") for i in of_kind(docs, "Ingress") for tls in i["spec"]["tls"]]
    assert used
    for name, key in used:
        assert name in known, f"Secret {name} is neither in secrets.example.yaml nor written by an operator"
        assert key is None or key in known[name], f"Secret {name} has no key {key}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_variables_are_settings_of_the_service(overlay: str) -> None:
    docs = render(overlay)
    everyone = set().union(*(env_names(s) for s in SETTINGS.values()))
    allowed_extra = KAFKA_AUTH_VARIABLES | DEPLOY_VARIABLES
    common = configmap_data(docs, "traitdunion-common")
    assert set(common) - everyone <= allowed_extra, set(common) - everyone - allowed_extra
    examples = secrets_example()
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            if not container["image"].startswith("traitdunion/"):
                continue  # mongodump: deploy/k8s/base/mongodb/backup.yaml
            service = image_service(container["image"])
            if service == WEB:
                continue  # no Kafka, no store, no Secret: test_web.py
            names = env_names(SETTINGS[service])
            where = f"{workload['metadata']['name']}/{container['name']}"
            explicit = {e["name"] for e in container.get("env", [])}
            assert explicit - names <= KAFKA_AUTH_VARIABLES, f"{where}: {explicit - names}"
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    keys = examples[source["secretRef"]["name"]]
                    assert keys <= names, f"{where}: {keys - names} are not {service} settings"
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if workload["kind"] == "Deployment":
                port = SETTINGS[service]().http_port  # type: ignore[attr-defined]
                assert env["HTTP_PORT"] == str(port)
                assert container["ports"][0]["containerPort"] == port
            database = SETTINGS[service]().mongodb_database  # type: ignore[attr-defined]
            assert env["MONGODB_DATABASE"] == database
            assert env["KAFKA_SASL_USERNAME"] == service
            provided = explicit | {
                key
                for s in container.get("envFrom", [])
                if "secretRef" in s
                for key in examples[s["secretRef"]["name"]]
            }
            assert production_secrets(SETTINGS[service]) <= provided, (
                f"{where}: a production secret is missing"
            )


def production_secrets(settings: type[Any]) -> set[str]:
    """What a service refuses to start without in production (ENVIRONMENT=production)."""
    return {
        name.upper()
        for name, field in settings.model_fields.items()
        if name in settings.production_secrets
        or (field.annotation is SecretStr and field.default is not None)
    }


def test_production_secrets_are_found_in_the_settings() -> None:
    assert "ACCESS_TOKEN_SECRET" in production_secrets(SETTINGS["offers"])
    assert {"LINK_SECRET", "INBOUND_SMS_KEY"} <= production_secrets(SETTINGS["notifications"])


def configmaps_used(spec: dict[str, Any]) -> set[str]:
    names = {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
    for container in spec.get("initContainers", []) + spec["containers"]:
        names |= {s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s}
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                names.add(ref["name"])
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_ingress_point_at_what_exists(overlay: str) -> None:
    docs = render(overlay)
    configmaps = set(by_name(docs, "ConfigMap"))
    for workload in workloads(docs):
        missing = configmaps_used(pod_spec(workload)) - configmaps
        assert not missing, f"{workload['metadata']['name']} uses missing ConfigMaps {missing}"
    deployments = of_kind(docs, "Deployment")
    services = by_name(docs, "Service")
    for service in services.values():
        selector = service["spec"]["selector"]
        assert any(
            selector.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments
        ), service["metadata"]["name"]
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services, (
                    f"the Ingress routes to a missing Service {backend['name']}"
                )
                ports = {p["port"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["number"] in ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_region_basins_file_is_mounted_and_loads(overlay: str, tmp_path: Any) -> None:
    docs = render(overlay)
    common = configmap_data(docs, "traitdunion-common")
    basins_text = configmap_data(docs, "traitdunion-region")["basins.yaml"]
    (tmp_path / "basins.yaml").write_text(basins_text, encoding="utf-8")
    config = load_basins(tmp_path / "basins.yaml")
    assert config.region == common["REGION"]
    assert config.basins
    assert common["BASINS_FILE"] == "/etc/traitdunion/basins.yaml"


def test_grand_est_overlay_ships_the_code_basins_file() -> None:
    shipped = ROOT / "shared" / "src" / "tdu_shared" / "data" / "basins_grand_est.yaml"
    overlay = K8S / "overlays" / "grand-est" / "basins.yaml"
    assert overlay.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
