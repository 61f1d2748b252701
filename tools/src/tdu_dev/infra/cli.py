"""`tdu-infra`: the local Kafka and MongoDB-compatible store, without Docker."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from tdu_dev.infra.kafka_acl import ADMIN, apply_acls, users_file
from tdu_dev.infra.local import LocalInfra
from tdu_dev.infra.servers import InfraError, kafka_ready, log_tail
from tdu_shared import kafka_auth
from tdu_shared.kafka import ensure_topics
from tdu_shared.kafka_auth import KafkaAuth
from tdu_shared.topics import ALL_TOPICS, Topics

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(stderr=True)

KafkaPort = Annotated[int | None, typer.Option(help="Kafka port (default 9092 or TDU_KAFKA_PORT).")]
MongoPort = Annotated[int | None, typer.Option(help="FerretDB port (default 27017 or TDU_MONGO_PORT).")]


def _infra(kafka_port: int | None = None, mongo_port: int | None = None) -> LocalInfra:
    infra = LocalInfra()
    if kafka_port:
        infra.kafka_port = kafka_port
    if mongo_port:
        infra.mongo_port = mongo_port
    return infra


def _fail(exc: Exception) -> NoReturn:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def install() -> None:
    """Download Kafka's jars (Maven Central) and build FerretDB (Go), into the cache. Idempotent."""
    infra = _infra()
    try:
        with console.status("Downloading Kafka jars and building FerretDB (first time: a few minutes)..."):
            infra.install()
    except InfraError as exc:
        _fail(exc)
    console.print(f"installed under {infra.paths.cache}")


@app.command()
def start(
    cluster: Annotated[
        bool, typer.Option(help="Also start the three-node Kafka cluster (fault tests).")
    ] = False,
    kafka_port: KafkaPort = None,
    mongo_port: MongoPort = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 120,
) -> None:
    """Start Kafka (KRaft, single node) and FerretDB; print their endpoints as environment variables."""
    infra = _infra(kafka_port, mongo_port)
    started = time.monotonic()
    try:
        with console.status("Starting Kafka and FerretDB..."):
            endpoints = infra.start(timeout=timeout)
            if cluster:
                console.print(f"cluster bootstrap: {infra.start_cluster(timeout=timeout)}")
    except InfraError as exc:
        _fail(exc)
    console.print(f"ready in {time.monotonic() - started:.1f}s; logs in {infra.paths.logs}")
    for name, value in {
        **endpoints.as_env(),
        "TDU_KAFKA_USERS_FILE": str(users_file(infra.paths.run)),
    }.items():
        print(f"export {name}={value}")


@app.command()
def stop() -> None:
    """Stop every local server this checkout started (single node, cluster, FerretDB)."""
    stopped = _infra().stop()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show which local servers run, their ports and logs."""
    rows = _infra().status()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("server", "running", "pid", "port", "log")
    for r in rows:
        table.add_row(
            str(r["name"]),
            "yes" if r["running"] else "no",
            str(r["pid"] or ""),
            str(r["port"]),
            str(r["log"]),
        )
    Console().print(table)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="kafka, ferretdb, kafka-cluster-1..3")], lines: int = 60
) -> None:
    """Print the tail of a server's log."""
    print(log_tail(_infra().paths.logs / f"{name}.log", lines))


@app.command("cluster-check")
def cluster_check(timeout: float = 180) -> None:
    """Start the three-node cluster, then write and read a topic with replication factor 3 (prints JSON)."""
    from tdu_dev.infra.cluster_check import check_replicated_topic

    infra = _infra()
    try:
        with console.status("Starting the three-node Kafka cluster..."):
            bootstrap = infra.start_cluster(timeout=timeout)
    except InfraError as exc:
        _fail(exc)
    auth = infra.endpoints().kafka_auth()
    print(json.dumps(asyncio.run(check_replicated_topic(bootstrap, auth)), indent=2))


@app.command("kafka-setup")
def kafka_setup(
    bootstrap: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers.")
    ] = "127.0.0.1:9092",
    topic_prefix: Annotated[
        str, typer.Option(envvar="TOPIC_PREFIX", help="Prefix of the topic names (an environment's).")
    ] = "",
    replication_factor: Annotated[
        int, typer.Option(envvar="KAFKA_REPLICATION_FACTOR", help="Replication factor of new topics.")
    ] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker to accept admin.")] = 120,
) -> None:
    """On a broker this command did not start (docker-compose.yml's kafka-setup): create every topic and its
    .dlq twin, then give every principal of tdu_shared.access.kafka its ACLs, as `tdu-infra start` and
    `tdu-platform up` do on the local broker. Connects as the super user admin, from the environment:
    KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT, KAFKA_SASL_MECHANISM=SCRAM-SHA-512, KAFKA_SASL_USERNAME=admin
    and KAFKA_SASL_PASSWORD. Idempotent; prints what it did as JSON."""
    try:
        auth = KafkaAuth.from_env()
    except ValueError as exc:
        _fail(exc)
    if (auth.protocol, auth.mechanism, auth.username) != ("SASL_PLAINTEXT", "SCRAM-SHA-512", ADMIN):
        _fail(
            InfraError(
                f"kafka-setup connects as the broker's super user: KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT, "
                f"KAFKA_SASL_MECHANISM=SCRAM-SHA-512, KAFKA_SASL_USERNAME={ADMIN} and KAFKA_SASL_PASSWORD"
            )
        )
    assert auth.password is not None  # KafkaAuth refuses SASL without one
    deadline = time.monotonic() + timeout
    while not kafka_ready(bootstrap, auth=auth):
        if time.monotonic() >= deadline:
            _fail(InfraError(f"Kafka at {bootstrap} did not accept {ADMIN} within {timeout:.0f}s"))
        time.sleep(1)
    kafka_auth.use(auth)
    topics = Topics(topic_prefix)
    created = asyncio.run(ensure_topics(bootstrap, topics, ALL_TOPICS, replication_factor=replication_factor))
    acls = apply_acls(bootstrap, {ADMIN: auth.password}, topic_prefix)
    print(json.dumps({"bootstrap": bootstrap, "topics_created": created, "acls": acls}))


if __name__ == "__main__":
    app()


@app.command()
def repartition(
    to_prefix: Annotated[str, typer.Option("--to-prefix", help="Topic prefix of the new topics, e.g. v2.")],
    from_prefix: Annotated[str, typer.Option("--from-prefix", help="Prefix of the current topics.")] = "",
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    basins_file: Annotated[
        str | None, typer.Option(help="Region file with the new partitioning (default: Grand Est's).")
    ] = None,
    replication_factor: Annotated[int, typer.Option(help="Replication factor of the new topics.")] = 1,
) -> None:
    """Apply a new basin -> partition assignment: create the topics under --to-prefix and copy the newest
    record of every key of each compacted topic into the partition the new assignment gives it."""
    from tdu_shared.geo import load_basins
    from tdu_shared.repartition import repartition_all
    from tdu_shared.topics import Topics

    assignment = load_basins(basins_file).partitioning
    done = asyncio.run(
        repartition_all(
            bootstrap,
            Topics(from_prefix),
            Topics(to_prefix),
            assignment,
            replication_factor=replication_factor,
        )
    )
    print(json.dumps({"version": assignment.version, **{k: vars(v) for k, v in done.items()}}))
