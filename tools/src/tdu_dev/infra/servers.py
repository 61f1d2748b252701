"""Install, start, stop and check the local servers. Every step is idempotent and cached."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tdu_dev.infra.kafka_acl import ADMIN, load_users
from tdu_dev.infra.paths import Paths
from tdu_shared.kafka_auth import KafkaAuth, connection
from tdu_shared.kafka_auth import servers as broker_list

KAFKA_VERSION_RE = re.compile(r"<kafka.version>([^<]+)</kafka.version>")


class InfraError(RuntimeError):
    """A server could not be installed or did not come up; the message says why and shows the log tail."""


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path, what: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise InfraError(f"{what} failed (exit {proc.returncode}); log {log}:\n{log_tail(log)}")


# ---------------------------------------------------------------- a managed process


@dataclass
class Server:
    """One local server process: how to start it, where it logs, how to tell it is ready."""

    name: str
    command: list[str]
    port: int
    paths: Paths
    cwd: Path
    env: dict[str, str] | None = None

    @property
    def pid_file(self) -> Path:
        return self.paths.run / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.paths.logs / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start unless already running; True when it was started now."""
        if self.running():
            return False
        if port_open("127.0.0.1", self.port):
            raise InfraError(
                f"{self.name}: port {self.port} is already taken by another process; "
                "stop it or choose other ports (see `tdu-infra start --help`)"
            )
        for folder in (self.paths.run, self.paths.logs, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("a") as out:
            out.write(f"\n--- starting {self.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            out.flush()
            proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
            )
        self.pid_file.write_text(str(proc.pid))
        return True

    def stop(self, timeout: float = 20) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.2)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wait_ready(self, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise InfraError(
                    f"{self.name} exited during start-up; log {self.log_file}:\n{log_tail(self.log_file)}"
                )
            if check():
                return
            time.sleep(0.5)
        raise InfraError(
            f"{self.name} not ready after {timeout:.0f}s; log {self.log_file}:\n{log_tail(self.log_file)}"
        )


# ---------------------------------------------------------------- Kafka


def kafka_version(paths: Paths) -> str:
    match = KAFKA_VERSION_RE.search((paths.deploy / "kafka" / "pom.xml").read_text())
    if not match:
        raise InfraError("deploy/kafka/pom.xml names no <kafka.version>")
    return match.group(1)


def install_kafka(paths: Paths) -> Path:
    """Kafka's jars from Maven Central into the cache (once per version)."""
    version = kafka_version(paths)
    jars = paths.kafka_jars(version)
    marker = jars / ".complete"
    if marker.exists():
        return jars
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise InfraError("Kafka needs Java 17+ and Maven on the PATH (java, mvn)")
    jars.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "mvn",
            "-B",
            "-q",
            f"-Dmaven.repo.local={paths.cache / 'm2'}",
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={jars}",
        ],
        cwd=paths.deploy / "kafka",
        env=dict(os.environ),
        log=paths.logs / "install-kafka.log",
        what="downloading Kafka jars with Maven",
    )
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise InfraError(f"Maven finished but no kafka_2.13 jar is in {jars}")
    marker.write_text(version)
    return jars


@dataclass(frozen=True)
class KafkaNode:
    node_id: int
    port: int
    controller_port: int


def kafka_nodes(base_port: int, count: int) -> list[KafkaNode]:
    """Broker ports base, base+2, ...; controller ports one above each."""
    return [KafkaNode(i + 1, base_port + 2 * i, base_port + 2 * i + 1) for i in range(count)]


def _kafka_properties(node: KafkaNode, nodes: list[KafkaNode], log_dir: Path, admin_password: str) -> str:
    """One node of the local cluster: clients and brokers authenticate (SASL SCRAM-SHA-512) on the broker
    listener, the StandardAuthorizer enforces the ACLs; the controller listener (loopback, controller
    requests only) is plain, its peers are super users as the nodes themselves."""
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    replication = min(3, len(nodes))
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{admin_password}";'
    )
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{ADMIN};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
            f"log.dirs={log_dir}",
            f"offsets.topic.replication.factor={replication}",
            f"transaction.state.log.replication.factor={replication}",
            f"transaction.state.log.min.isr={min(2, replication)}",
            f"default.replication.factor={replication}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "num.partitions=3",
            "log.segment.bytes=67108864",
            "log.cleaner.dedupe.buffer.size=16777216",
            "",
        ]
    )


def kafka_servers(paths: Paths, *, base_port: int, count: int, heap_mb: int) -> list[Server]:
    version = kafka_version(paths)
    jars = paths.kafka_jars(version)
    profile = "kafka" if count == 1 else "kafka-cluster"
    nodes = kafka_nodes(base_port, count)
    servers = []
    for node in nodes:
        name = profile if count == 1 else f"{profile}-{node.node_id}"
        workdir = paths.run / name
        config = workdir / "server.properties"
        servers.append(
            Server(
                name=name,
                command=[
                    "java",
                    f"-Xmx{heap_mb}m",
                    f"-Xms{min(heap_mb, 256)}m",
                    "-XX:+UseG1GC",
                    f"-Dlog4j2.configurationFile={paths.deploy / 'kafka' / 'log4j2.properties'}",
                    "-cp",
                    f"{jars}/*",
                    "kafka.Kafka",
                    str(config),
                ],
                port=node.port,
                paths=paths,
                cwd=workdir,
            )
        )
    return servers


def prepare_kafka(paths: Paths, servers: list[Server], base_port: int) -> bool:
    """Write each node's properties and format its storage (once; --ignore-formatted). True when storage
    an older checkout formatted (without the principals) was made again, empty."""
    version = kafka_version(paths)
    jars = paths.kafka_jars(version)
    nodes = kafka_nodes(base_port, len(servers))
    cluster_file = (
        paths.run / f"{servers[0].name.rsplit('-', 1)[0] if len(servers) > 1 else servers[0].name}.cluster-id"
    )
    paths.run.mkdir(parents=True, exist_ok=True)
    if not cluster_file.exists():
        cluster_file.write_text(_kafka_cluster_id())
    cluster_id = cluster_file.read_text().strip()
    users = load_users(paths.run)
    marker = f"sasl-scram users: {' '.join(sorted(users))}"
    remade = False
    for node, server in zip(nodes, servers, strict=True):
        server.cwd.mkdir(parents=True, exist_ok=True)
        data = server.cwd / "data"
        config = server.cwd / "server.properties"
        config.write_text(_kafka_properties(node, nodes, data, users[ADMIN]))
        formatted_for = data / "tdu-users"
        if (data / "meta.properties").exists() and (
            not formatted_for.exists() or formatted_for.read_text() != marker
        ):
            # Formatted before these principals existed (an older checkout): local data, made again.
            if server.running():
                raise InfraError(f"{server.name} runs with an older configuration: `tdu-infra stop` first")
            shutil.rmtree(data)
            remade = True
        if not (data / "meta.properties").exists():
            scram = [
                a
                for name in sorted(users)
                for a in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={users[name]}]")
            ]
            _run(
                [
                    "java",
                    "-cp",
                    f"{jars}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                    "--ignore-formatted",
                    *scram,
                ],
                cwd=server.cwd,
                env=dict(os.environ),
                log=server.log_file,
                what=f"formatting {server.name} storage",
            )
            formatted_for.write_text(marker)
    return remade


def _kafka_cluster_id() -> str:
    """A random base64url UUID, as `kafka-storage random-uuid` prints; never starting with '-',
    which a command line would read as an option."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_ready(bootstrap: str, expected_brokers: int = 1, auth: KafkaAuth | None = None) -> bool:
    """Every broker of ``bootstrap`` listens, and the cluster counts ``expected_brokers``. (The count alone
    is not enough: a broker restarted a moment ago is still registered while its listener is closed.)"""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    # While the broker starts, every poll fails to connect: that is expected, not worth a log line.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def check() -> bool:
        admin = AIOKafkaAdminClient(**connection(bootstrap, auth), request_timeout_ms=3000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            await admin.list_topics()
            return len(cluster.get("brokers", [])) >= expected_brokers
        except Exception:
            return False
        finally:
            await admin.close()

    listeners = [server.rsplit(":", 1) for server in broker_list(bootstrap)]
    if not all(port_open(host, int(port)) for host, port in listeners):
        return False
    return asyncio.run(check())


# ---------------------------------------------------------------- FerretDB


FERRETDB_MODULE = "github.com/FerretDB/FerretDB"


def install_ferretdb(paths: Paths) -> Path:
    """Build our FerretDB program (deploy/ferretdb) with the Go toolchain; rebuilt when its sources change.

    The patches under deploy/ferretdb/patches are applied at build time to a copy of FerretDB's module, which
    the build uses through a ``replace`` in a go.mod of its own (``-modfile``): the committed go.mod and the
    module cache stay untouched, and a FerretDB whose code no longer matches a patch fails the build with the
    patch's name instead of building without it.
    """
    source = paths.deploy / "ferretdb"
    binary = paths.ferretdb_binary
    stamp = binary.with_suffix(".stamp")
    fingerprint = "|".join(
        f"{p.relative_to(source)}:{p.stat().st_mtime_ns}:{p.stat().st_size}"
        for p in sorted(source.rglob("*"))
        if p.is_file()
    )
    if binary.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return binary
    if shutil.which("go") is None:
        raise InfraError("FerretDB is built with Go: install the Go toolchain (go) first")
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("GOMODCACHE", str(paths.cache / "go" / "mod"))
    env.setdefault("GOCACHE", str(paths.cache / "go" / "build"))
    env.setdefault("GOFLAGS", "-mod=mod")
    log = paths.logs / "install-ferretdb.log"
    modfile = _patched_ferretdb_modfile(source, binary.parent / "build", env, log)
    _run(
        ["go", "build", "-trimpath", f"-modfile={modfile}", "-o", str(binary), "."],
        cwd=source,
        env=env,
        log=log,
        what="building FerretDB with Go",
    )
    stamp.write_text(fingerprint)
    return binary


def _patched_ferretdb_modfile(source: Path, folder: Path, env: dict[str, str], log: Path) -> Path:
    """Copy FerretDB's module under ``folder``, apply our patches to it, and write a go.mod that uses it."""
    download = ["go", "mod", "download", FERRETDB_MODULE]
    _run(download, cwd=source, env=env, log=log, what="downloading FerretDB")
    listed = subprocess.run(
        ["go", "list", "-m", "-json", FERRETDB_MODULE],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise InfraError(f"cannot locate the FerretDB module: {listed.stderr.strip()}")
    module = folder / "ferretdb-module"
    shutil.rmtree(module, ignore_errors=True)
    shutil.copytree(json.loads(listed.stdout)["Dir"], module, copy_function=shutil.copyfile)
    for folder_inside in (module, *module.rglob("*")):  # the module cache's folders are read-only
        if folder_inside.is_dir():
            folder_inside.chmod(0o755)
    for patch in sorted((source / "patches").glob("*.patch")):
        for relative, hunks in parse_unified_diff(patch.read_text()).items():
            target = module / relative
            target.write_text(replace_hunks(target.read_text(), hunks, what=f"{patch.name} on {relative}"))
    modfile = folder / "go.mod"
    modfile.write_text((source / "go.mod").read_text() + f"\nreplace {FERRETDB_MODULE} => {module}\n")
    shutil.copyfile(source / "go.sum", folder / "go.sum")
    return modfile


Hunk = tuple[str, str]
"""The lines a hunk expects (context and removed) and the lines it leaves (context and added)."""


def parse_unified_diff(text: str) -> dict[str, list[Hunk]]:
    """The hunks of a unified diff, by the path after ``+++ b/``."""
    files: dict[str, list[Hunk]] = {}
    hunks: list[Hunk] = []
    before: list[str] = []
    after: list[str] = []

    def close_hunk() -> None:
        if before or after:
            hunks.append(("".join(before), "".join(after)))
        before.clear()
        after.clear()

    for line in text.splitlines(keepends=True):
        if line.startswith("+++ "):
            close_hunk()
            hunks = files.setdefault(line[4:].strip().removeprefix("b/"), [])
        elif line.startswith(("--- ", "@@")):
            close_hunk()
        elif line.startswith((" ", "-", "+")) or line in ("\n", ""):
            body = line[1:] if line.strip("\n") else "\n"
            if not line.startswith("+"):
                before.append(body)
            if not line.startswith("-"):
                after.append(body)
    close_hunk()
    return files


def replace_hunks(text: str, hunks: list[Hunk], *, what: str) -> str:
    """Apply each hunk where its expected lines stand, once; refuse when they stand nowhere or twice."""
    for expected, result in hunks:
        found = text.count(expected)
        if found != 1:
            raise InfraError(f"{what}: the patched lines are found {found} times; the patch needs updating")
        text = text.replace(expected, result)
    return text


def ferretdb_server(paths: Paths, *, port: int) -> Server:
    workdir = paths.run / "ferretdb"
    return Server(
        name="ferretdb",
        command=[str(paths.ferretdb_binary), "-listen", f"127.0.0.1:{port}", "-data", str(workdir / "data")],
        port=port,
        paths=paths,
        cwd=workdir,
    )


def mongo_ready(url: str) -> bool:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()
