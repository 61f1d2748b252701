"""docker-compose.yml's Kafka authenticates its clients as the development launcher's and the Kubernetes
layout's do, checked without a Docker engine: SASL SCRAM-SHA-512 on every listener a client can reach, the
StandardAuthorizer refusing what no ACL allows, a SCRAM user formatted into the storage for admin and every
principal of tdu_shared.access.kafka, each service connecting as its own principal with a password that the
compose file never defaults, and the one-shot kafka-setup (topics and ACLs, with the launcher's code) done
before any service starts.

The broker's start script (deploy/compose/kafka-start.sh) runs here on the compose file's variables, with
stand-ins for the image's Kafka commands; its storage format is Kafka's own storage tool (same version as the
image) when the launcher's jars are installed, which also validates the broker configuration it writes."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from tdu_dev.infra import cli as infra_cli
from tdu_dev.infra.kafka_acl import ADMIN, USERS
from tdu_dev.infra.paths import Paths
from tdu_dev.infra.servers import kafka_version
from tdu_shared import kafka_auth
from tdu_shared.access.kafka import PRINCIPALS
from tdu_shared.access.kafka import SERVICES as SERVICE_ACCESS
from tdu_shared.topics import ALL_TOPICS

from .helpers import ROOT, SERVICES, compose, dockerfile, final_stage

COMPOSE_DIR = ROOT / "deploy" / "compose"
START_SCRIPT = COMPOSE_DIR / "kafka-start.sh"
ENV_EXAMPLE = COMPOSE_DIR / "kafka.env.example"
SETUP_DOCKERFILE = COMPOSE_DIR / "kafka-setup.Dockerfile"
LOAD_SCRIPT = ROOT / "deploy" / "demo" / "load.sh"
KAFKA = "kafka"
SETUP = "kafka-setup"
DEMO_LOADER = "demo-loader"
REQUIRED = re.compile(r"\$\{(?P<name>\w+):\?[^}]+\}")
"""``${VAR:?message}``: no default, compose refuses to start while VAR is unset or empty."""
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
DONE = {"condition": "service_completed_successfully"}


def password_variable(principal: str) -> str:
    """The compose variable holding a principal's password (kafka-start.sh reads the same name)."""
    return "TDU_KAFKA_PASSWORD_" + principal.upper().replace("-", "_")


def required_variable(value: object) -> str | None:
    match = REQUIRED.fullmatch(str(value))
    return match["name"] if match else None


def services() -> dict[str, Any]:
    return dict(compose()["services"])


def environment(service: str) -> dict[str, str]:
    return {key: str(value) for key, value in services()[service].get("environment", {}).items()}


def kafka_users() -> list[str]:
    return environment(KAFKA)["TDU_SCRAM_USERS"].split()


def protocol_map(server: dict[str, str]) -> dict[str, str]:
    """listener.security.protocol.map: {listener name: security protocol}."""
    pairs = (entry.partition(":") for entry in server["listener.security.protocol.map"].split(","))
    return {name: protocol for name, _, protocol in pairs}


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {NAME: (host, port)}."""
    found = {}
    for item in value.split(","):
        name, address = item.split("://")
        host, port = address.rsplit(":", 1)
        found[name] = (host, int(port))
    return found


# ---------------------------------------------------------------- the start script, run on compose's values


@dataclass(frozen=True)
class Started:
    passwords: dict[str, str]
    """variable -> the value this run gave it"""
    server: dict[str, str]
    """server.properties as the broker reads it"""
    storage_args: list[str]
    start_args: list[str]
    admin_client: dict[str, str]
    logs: Path
    real_storage_tool: bool


def read_properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def kafka_jars() -> Path | None:
    paths = Paths(ROOT)
    jars = paths.kafka_jars(kafka_version(paths))
    return jars if (jars / ".complete").exists() and shutil.which("java") else None


def run_start_script(
    tmp: Path, passwords: dict[str, str], *, jars: Path | None
) -> subprocess.CompletedProcess[str]:
    """kafka-start.sh with the compose file's Kafka variables, ``passwords`` for its ${...:?} ones, and
    stand-ins for the image's kafka-storage.sh (Kafka's storage tool when ``jars``) and
    kafka-server-start.sh."""
    home, out = tmp / "kafka", tmp / "out"
    (home / "bin").mkdir(parents=True)
    out.mkdir()
    storage = 'printf "%s\\n" "$@" > "$TEST_OUT/storage.args"\n'
    if jars:
        storage += f'exec java -cp "{jars}/*" kafka.tools.StorageTool "$@"\n'
    commands = {
        "kafka-storage.sh": storage,
        "kafka-server-start.sh": 'printf "%s\\n" "$@" > "$TEST_OUT/start.args"\n',
    }
    for name, body in commands.items():
        (home / "bin" / name).write_text(f"#!/usr/bin/env bash\nset -eu\n{body}")
        (home / "bin" / name).chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "TEST_OUT": str(out),
        "TDU_KAFKA_HOME": str(home),
        "TDU_KAFKA_CONFIG_DIR": str(tmp / "config"),
    }
    for key, value in environment(KAFKA).items():
        variable = required_variable(value)
        assert variable or "$" not in value, f"kafka: {key}={value}"
        if variable is None:
            env[key] = value
        elif variable in passwords:
            env[key] = passwords[variable]
    env["KAFKA_LOG_DIRS"] = str(tmp / "logs")
    return subprocess.run(
        ["bash", str(START_SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Started:
    tmp = tmp_path_factory.mktemp("compose-kafka")
    passwords = {password_variable(user): secrets.token_hex(12) for user in kafka_users()}
    jars = kafka_jars()
    result = run_start_script(tmp, passwords, jars=jars)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp / "out"
    return Started(
        passwords=passwords,
        server=read_properties(tmp / "config" / "server.properties"),
        storage_args=(out / "storage.args").read_text().splitlines(),
        start_args=(out / "start.args").read_text().splitlines(),
        admin_client=read_properties(tmp / "config" / "admin.properties"),
        logs=tmp / "logs",
        real_storage_tool=jars is not None,
    )


def test_compose_runs_the_committed_start_script_on_the_launchers_kafka_version() -> None:
    kafka = services()[KAFKA]
    assert kafka["image"] == f"apache/kafka:{kafka_version(Paths(ROOT))}", "the launcher's Kafka version"
    assert kafka["command"][0] == "bash"
    mounted = kafka["command"][1]
    assert f"./{START_SCRIPT.relative_to(ROOT)}:{mounted}:ro" in kafka["volumes"]
    assert "entrypoint" not in kafka, "the image's entry point (CA certificates) still runs first"


def test_every_listener_a_client_reaches_authenticates_with_scram(started: Started) -> None:
    server = started.server
    bound = listeners(server["listeners"])
    protocols = protocol_map(server)
    controllers = set(server["controller.listener.names"].split(","))
    for name, (host, _) in bound.items():
        if not protocols[name].startswith("SASL_"):
            assert name in controllers and host in LOOPBACK, (
                f"listener {name} takes unauthenticated clients on {host or 'every interface'}"
            )
    assert {protocols[name] for name in listeners(server["advertised.listeners"])} == {"SASL_PLAINTEXT"}
    assert server["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert protocols[server["inter.broker.listener.name"]] == "SASL_PLAINTEXT"
    assert server["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    admin_password = started.passwords[password_variable(ADMIN)]
    for name, protocol in protocols.items():
        if protocol.startswith("SASL_"):
            jaas = server[f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config"]
            assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required ")
            assert f'username="{ADMIN}" password="{admin_password}";' in jaas
    sasl_ports = {port for name, (_, port) in bound.items() if protocols[name].startswith("SASL_")}
    for published in services()[KAFKA]["ports"]:
        assert int(str(published).rsplit(":", 1)[-1]) in sasl_ports, f"port {published} is not SASL"
    assert server["auto.create.topics.enable"] == "false"


def test_the_authorizer_refuses_what_no_acl_allows(started: Started) -> None:
    server = started.server
    assert server["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert server["allow.everyone.if.no.acl.found"] == "false"
    supers = set(server["super.users"].split(";"))
    assert f"User:{ADMIN}" in supers
    # ANONYMOUS is the node itself on its plain controller listener, which only the loopback reaches
    # (checked above); no principal a client can authenticate as is a super user but admin.
    assert supers <= {f"User:{ADMIN}", "User:ANONYMOUS"}, supers


def test_the_storage_is_formatted_with_a_scram_user_for_admin_and_every_principal(started: Started) -> None:
    assert set(kafka_users()) == set(USERS) == {ADMIN, *(a.principal for a in PRINCIPALS)}
    args = started.storage_args
    assert args[0] == "format" and "--ignore-formatted" in args
    assert f"--cluster-id={environment(KAFKA)['CLUSTER_ID']}" in args
    formatted = {}
    for flag, value in itertools.pairwise(args):
        if flag == "--add-scram":
            match = re.fullmatch(r"SCRAM-SHA-512=\[name=([a-z0-9-]+),password=([^,\]]+)\]", value)
            assert match, value
            formatted[match[1]] = match[2]
    assert formatted == {user: started.passwords[password_variable(user)] for user in USERS}
    assert started.start_args == [args[args.index("-c") + 1]], "the broker starts on the formatted config"


def test_kafkas_own_storage_tool_writes_the_scram_users_into_the_metadata(started: Started) -> None:
    jars = kafka_jars()
    if not started.real_storage_tool or jars is None:
        pytest.skip("Kafka's jars are not installed (`make install`): the format ran on a stand-in")
    meta = read_properties(started.logs / "meta.properties")
    assert meta["cluster.id"] == environment(KAFKA)["CLUSTER_ID"] and meta["node.id"] == "1"
    dump = subprocess.run(
        [
            *("java", "-cp", f"{jars}/*", "kafka.tools.DumpLogSegments", "--cluster-metadata-decoder"),
            *("--files", str(started.logs / "bootstrap.checkpoint")),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    scram = re.findall(r'"USER_SCRAM_CREDENTIAL_RECORD".*?"name":"([^"]+)","mechanism":(\d)', dump)
    assert sorted(scram) == sorted((user, "2") for user in USERS), scram  # 2: SCRAM-SHA-512


@pytest.mark.parametrize("problem", ["missing", "short", "quote"])
def test_the_start_script_refuses_a_missing_or_unsafe_password(tmp_path: Path, problem: str) -> None:
    passwords = {password_variable(user): secrets.token_hex(12) for user in kafka_users()}
    victim = password_variable("notifications")
    if problem == "missing":
        del passwords[victim]
    else:
        passwords[victim] = "short" if problem == "short" else 'abc"def;ghijklmnop'
    result = run_start_script(tmp_path, passwords, jars=None)
    assert result.returncode != 0 and victim in result.stderr
    assert not (tmp_path / "out" / "storage.args").exists()
    assert not (tmp_path / "out" / "start.args").exists()


def test_the_healthcheck_asks_as_admin_with_the_file_the_start_script_writes(started: Started) -> None:
    test = services()[KAFKA]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1].endswith("/kafka-topics.sh")
    client_file = Path(test[test.index("--command-config") + 1])
    default_dir = re.search(r'conf="\$\{TDU_KAFKA_CONFIG_DIR:-([^}]+)\}"', START_SCRIPT.read_text())
    assert default_dir and client_file == Path(default_dir[1]) / "admin.properties"
    port = int(test[test.index("--bootstrap-server") + 1].rsplit(":", 1)[1])
    bound = listeners(started.server["listeners"])
    protocols = protocol_map(started.server)
    assert {protocols[name] for name, (_, p) in bound.items() if p == port} == {"SASL_PLAINTEXT"}
    client = started.admin_client
    assert client["security.protocol"] == "SASL_PLAINTEXT" and client["sasl.mechanism"] == "SCRAM-SHA-512"
    admin_password = started.passwords[password_variable(ADMIN)]
    assert f'username="{ADMIN}" password="{admin_password}";' in client["sasl.jaas.config"]


# ---------------------------------------------------------------- passwords: configuration only


def test_no_password_has_a_default_in_compose_and_the_example_holds_none() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    references = re.findall(r"\$\{[^}]*\}|\$\w+", text.replace("$$", ""))
    variables = set()
    for reference in references:
        variable = required_variable(reference)
        assert variable, f"{reference}: every compose variable is ${{NAME:?message}}, without a default"
        variables.add(variable)
    assert variables == {password_variable(user) for user in USERS}
    for name, entry in services().items():
        for key, value in entry.get("environment", {}).items():
            if "PASSWORD" in key:
                assert required_variable(value), f"{name}: {key} must come from the environment"
    example = [
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {key for key, _ in example} == variables
    assert all(value == "" for _, value in example), "the example file holds no value, not even a sample"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str((COMPOSE_DIR / "kafka.env").relative_to(ROOT))], cwd=ROOT
    )
    assert ignored.returncode == 0, "deploy/compose/kafka.env (the real passwords) is git-ignored"


def test_each_service_connects_as_its_own_principal() -> None:
    principals = {access.principal for access in SERVICE_ACCESS}
    users = set(kafka_users())
    kafka_env = environment(KAFKA)
    for service in SERVICES:
        env = environment(service)
        where = f"compose service {service}"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", where
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", where
        assert env["KAFKA_SASL_USERNAME"] == service and service in principals & users, where
        variable = required_variable(env["KAFKA_SASL_PASSWORD"])
        assert variable == password_variable(service), where
        assert required_variable(kafka_env[variable]) == variable, f"{where}: the broker formats this one"
        assert env["CREATE_TOPICS"] == "false", f"{where}: kafka-setup made the topics"
    for name, entry in services().items():
        env = {key: str(value) for key, value in entry.get("environment", {}).items()}
        if "KAFKA_BOOTSTRAP_SERVERS" in env:
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
            assert env.get("KAFKA_SASL_USERNAME", ADMIN) in users, name


def test_the_demo_loader_runs_each_command_as_its_principal() -> None:
    env = environment(DEMO_LOADER)
    lines = LOAD_SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    ran_as = {}
    for line in lines:
        command = re.search(r"\b(trainings|offers) import\b", line)
        if command:
            user = re.search(r"KAFKA_SASL_USERNAME=(\S+)", line)
            password = re.search(r'KAFKA_SASL_PASSWORD="\$\{(\w+):-\}"', line)
            assert user and password, line
            ran_as[command[1]] = (user[1], password[1])
    assert ran_as == {s: (s, password_variable(s)) for s in ("trainings", "offers")}
    text = "\n".join(lines)
    variable = password_variable("access-admin")
    access = text.index(f'export KAFKA_SASL_USERNAME=access-admin KAFKA_SASL_PASSWORD="${{{variable}:-}}"')
    assert access < text.index("tdu-access keys create") and access < text.index("tdu-access session")
    for user in ("trainings", "offers", "access-admin"):
        assert user in kafka_users()
        assert required_variable(env[password_variable(user)]) == password_variable(user)
    assert env["CREATE_TOPICS"] == "false"


# ---------------------------------------------------------------- kafka-setup: topics and ACLs first


def waits_for_setup(name: str) -> bool:
    depends = services()[name].get("depends_on", {})
    return depends.get(SETUP) == DONE or (bool(depends) and all(waits_for_setup(d) for d in depends))


def test_kafka_setup_runs_once_kafka_is_healthy_and_before_every_kafka_client() -> None:
    setup = services()[SETUP]
    assert setup["restart"] == "no"
    assert setup["depends_on"] == {KAFKA: {"condition": "service_healthy"}}
    env = environment(SETUP)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert (env["KAFKA_SECURITY_PROTOCOL"], env["KAFKA_SASL_MECHANISM"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
    )
    assert env["KAFKA_SASL_USERNAME"] == ADMIN
    assert required_variable(env["KAFKA_SASL_PASSWORD"]) == password_variable(ADMIN)
    for service in SERVICES:
        assert services()[service]["depends_on"][SETUP] == DONE, service
    for name, entry in services().items():
        if name != SETUP and "KAFKA_BOOTSTRAP_SERVERS" in entry.get("environment", {}):
            assert waits_for_setup(name), f"{name} may start before the topics and ACLs exist"


def test_the_kafka_setup_image_runs_tdu_infra_kafka_setup() -> None:
    setup = services()[SETUP]
    assert setup["build"]["dockerfile"] == str(SETUP_DOCKERFILE.relative_to(ROOT))
    instructions = dockerfile(SETUP_DOCKERFILE)
    syncs = [i.arguments for i in instructions if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert syncs and all(
        {"--frozen", "--no-dev", "--package tdu-dev"} <= set(re.findall(r"--[\w-]+(?: tdu-\w+)?", s))
        for s in syncs
    )
    runtime = final_stage(instructions)
    (entry,) = [i.json() for i in runtime if i.keyword == "ENTRYPOINT"]
    scripts = tomllib.loads((ROOT / "tools" / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry == ["tdu-infra"] and scripts["tdu-infra"] == "tdu_dev.infra.cli:app"
    (user,) = [i.arguments for i in runtime if i.keyword == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    command = setup["command"]
    assert command[0] in typer.main.get_command(infra_cli.app).commands  # type: ignore[attr-defined]


def setup_env() -> dict[str, str | None]:
    """kafka-setup's environment in compose, its password given, nothing of this shell's Kafka settings."""
    return {
        **environment(SETUP),
        "KAFKA_SASL_PASSWORD": "test-admin-password-0123",
        "TOPIC_PREFIX": None,
        "KAFKA_REPLICATION_FACTOR": None,
    }


def test_kafka_setup_creates_every_topic_and_applies_the_acl_table_as_admin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: dict[str, Any] = {}

    async def ensure_topics(bootstrap: str, topics: Any, specs: Any, **options: Any) -> list[str]:
        calls["topics"] = (bootstrap, topics.prefix, tuple(specs), options, kafka_auth.current())
        return ["offers.state"]

    def apply_acls(bootstrap: str, users: dict[str, str], prefix: str = "") -> int:
        calls["acls"] = (bootstrap, users, prefix)
        return 42

    monkeypatch.setattr(infra_cli, "kafka_ready", lambda bootstrap, auth=None: True)
    monkeypatch.setattr(infra_cli, "ensure_topics", ensure_topics)
    monkeypatch.setattr(infra_cli, "apply_acls", apply_acls)
    monkeypatch.setattr(kafka_auth, "_current", None)
    result = CliRunner().invoke(infra_cli.app, services()[SETUP]["command"], env=setup_env())
    assert result.exit_code == 0, result.output
    bootstrap, prefix, specs, options, auth = calls["topics"]
    assert (bootstrap, prefix, specs, options) == ("kafka:9092", "", ALL_TOPICS, {"replication_factor": 1})
    assert (auth.username, auth.password) == (ADMIN, "test-admin-password-0123")
    assert calls["acls"] == ("kafka:9092", {ADMIN: "test-admin-password-0123"}, "")
    assert '"acls": 42' in result.stdout


def test_kafka_setup_refuses_to_run_as_anyone_but_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra_cli, "kafka_ready", lambda bootstrap, auth=None: pytest.fail("connected"))
    monkeypatch.setattr(kafka_auth, "_current", None)
    for change in ({"KAFKA_SASL_USERNAME": "offers"}, {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}):
        result = CliRunner().invoke(infra_cli.app, ["kafka-setup"], env={**setup_env(), **change})
        assert result.exit_code == 1, (change, result.output)


def test_the_acls_kafka_setup_applies_cover_every_principal() -> None:
    from tdu_dev.infra.kafka_acl import _entries

    granted = {acl.principal for acl in _entries("", as_filter=False)}
    assert granted == {f"User:{access.principal}" for access in PRINCIPALS}
