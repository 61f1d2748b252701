"""`tdu-platform`: the whole platform on this machine, with demo data.

    tdu-platform up      Kafka + FerretDB + the five services + a mail catcher + an SMS provider stand-in,
                         demo data imported through the services' own import commands; Ctrl-C stops all
    tdu-platform down    stop whatever a previous run left

Each service runs as its own process (``python -m <service> serve``) with its own port and database, logs
in .cache/logs/. The same class serves the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from tdu_dev.infra.kafka_acl import apply_acls
from tdu_dev.infra.local import Endpoints, LocalInfra
from tdu_dev.infra.paths import Paths
from tdu_dev.infra.servers import InfraError, port_open
from tdu_dev.testing import access
from tdu_dev.testing.processes import ServiceProcess
from tdu_shared import kafka_auth
from tdu_shared.kafka import ensure_topics
from tdu_shared.settings import ServiceSettings
from tdu_shared.topics import ALL_TOPICS, Topics

SERVICES = ("offers", "trainings", "matching", "journeys", "notifications")
"""The services on Kafka and the store."""
WEB = "web"
"""The web pages: no Kafka, no store; they call the services' HTTP APIs."""
OIDC_CLIENT_ID = "traitdunion-dev"
"""The client the ProConnect stand-in knows (its secret is made per run)."""
PLATFORM_MARK = "TDU_PLATFORM_ROOT"
"""Set in the environment of every process the platform starts: `down` finds strays of this checkout only."""
DEFAULT_PORTS = {
    "web": 8000,
    "offers": 8001,
    "trainings": 8002,
    "matching": 8003,
    "journeys": 8004,
    "notifications": 8005,
}


@dataclass
class PlatformPorts:
    services: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    smtp: int = 1025
    sms: int = 8025
    oidc: int = 8026


@dataclass
class Platform:
    """The five services and the demo's mail catcher and SMS stand-in, as processes of this machine."""

    endpoints: Endpoints
    paths: Paths
    ports: PlatformPorts = field(default_factory=PlatformPorts)
    topic_prefix: str = ""
    database_prefix: str = ""
    outbox: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    access_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """ACCESS_TOKEN_SECRET of this run's services: sessions are signed with it."""
    with_web: bool = False
    """The web pages run too: e-mails link to them and operators come back to them from ProConnect."""
    replication_factor: int = 1
    """Of this platform's topics (3 on the three-node cluster, ``min.insync.replicas`` 2)."""
    mail_dedupe: bool = True
    """The mail catcher keeps one copy per Message-ID, as a deduplicating relay; off: every copy is kept."""

    @property
    def mail_dir(self) -> Path:
        return (self.outbox or self.paths.cache / "demo-outbox") / "mail"

    @property
    def sms_file(self) -> Path:
        return (self.outbox or self.paths.cache / "demo-outbox") / "sms.jsonl"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.services[service]}"

    def web_env(self) -> dict[str, str]:
        """The web pages' environment: where each service is, no Kafka, no store, no secret."""
        env = {
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.ports.services[WEB]),
            "PUBLIC_BASE_URL": self.url(WEB),
            "LOG_JSON": "true",
            PLATFORM_MARK: str(self.paths.root),
            **{f"{service.upper()}_URL": self.url(service) for service in SERVICES},
        }
        return {**env, **self.extra_env}

    def service_env(self, service: str, principal: str | None = None) -> dict[str, str]:
        """A service's environment: its own Kafka principal (``principal`` for a command of another)."""
        if service == WEB:
            return self.web_env()
        env = {
            **self.endpoints.as_env(principal or service),
            "MONGODB_DATABASE": f"{self.database_prefix}{service}",
            "TOPIC_PREFIX": self.topic_prefix,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.ports.services[service]),
            "PUBLIC_BASE_URL": self.url(service),
            "LOG_JSON": "true",
            "TRACE_FILE": str(self.paths.logs / f"spans-{service}.jsonl"),
            "ACCESS_TOKEN_SECRET": self.access_secret,
            PLATFORM_MARK: str(self.paths.root),
        }
        if self.endpoints.authenticated:
            env["CREATE_TOPICS"] = "false"  # made by prepare_kafka, as the Kubernetes layout's KafkaTopics
        if service == "notifications":
            env.update(
                {
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(self.ports.smtp),
                    "SMS_API_BASE_URL": f"http://127.0.0.1:{self.ports.sms}",
                    "SMS_API_KEY": "demo-key",
                    "OIDC_ISSUER": f"http://127.0.0.1:{self.ports.oidc}",
                    "OIDC_CLIENT_ID": OIDC_CLIENT_ID,
                    "OIDC_CLIENT_SECRET": self.access_secret[:24],
                }
            )
            if self.with_web:
                env["FRONTEND_BASE_URL"] = self.url(WEB)
                env["OIDC_REDIRECT_URI"] = f"{self.url(WEB)}/connexion/operateur/retour"
        return {**env, **self.extra_env}

    def _process(
        self, name: str, module: str, args: list[str], env: dict[str, str], port: int | None
    ) -> ServiceProcess:
        process = ServiceProcess(module, args, env, self.paths.logs / f"{name}.log", port=port)
        self.processes[name] = process
        return process

    def start_catchers(self) -> None:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        env = {"LOG_JSON": "true", PLATFORM_MARK: str(self.paths.root)}
        self._process(
            "mail-catcher",
            "notifications",
            [
                "mail-catcher",
                "--port",
                str(self.ports.smtp),
                "--folder",
                str(self.mail_dir),
                "--dedupe" if self.mail_dedupe else "--no-dedupe",
            ],
            env,
            None,
        ).start()
        self._process(
            "sms-standin",
            "notifications",
            ["sms-standin", "--port", str(self.ports.sms), "--record-file", str(self.sms_file)],
            env,
            None,
        ).start()
        self._process(
            "oidc-standin",
            "notifications",
            [
                "oidc-standin",
                "--port",
                str(self.ports.oidc),
                "--client-id",
                OIDC_CLIENT_ID,
                "--client-secret",
                self.access_secret[:24],
            ],
            env,
            None,
        ).start()
        for port in (self.ports.smtp, self.ports.sms, self.ports.oidc):
            wait_for(lambda p=port: port_open("127.0.0.1", p), 30, f"stand-in on port {port}", interval=0.2)

    def prepare_kafka(self) -> None:
        """This platform's topics, and every principal's rights on them (an authenticating broker only):
        made by the broker's super user, as the Kubernetes layout's KafkaTopics and KafkaUsers are."""
        if not self.endpoints.authenticated:
            return
        kafka_auth.use(self.endpoints.kafka_auth())
        bootstrap = self.endpoints.kafka_bootstrap_servers
        asyncio.run(
            ensure_topics(
                bootstrap,
                Topics(self.topic_prefix),
                ALL_TOPICS,
                replication_factor=self.replication_factor,
            )
        )
        apply_acls(bootstrap, dict(self.endpoints.kafka_users), self.topic_prefix)

    def start_services(self, services: tuple[str, ...] = SERVICES, *, ready_timeout: float = 90) -> None:
        """Start ``services`` (add :data:`WEB` for the pages), each ready before the next starts."""
        self.with_web = self.with_web or WEB in services
        self.prepare_kafka()
        for service in services:
            self._process(
                service, service, ["serve"], self.service_env(service), self.ports.services[service]
            )
            self.processes[service].start(ready_timeout=ready_timeout)

    def start_replica(self, service: str, index: int, port: int, *, ready_timeout: float = 90) -> str:
        """Another instance of a started service (same group, topics and database, its own HTTP port), as
        a second pod would be; its name is ``<service>-<index>``."""
        name = f"{service}-{index}"
        env = {**self.service_env(service), "HTTP_PORT": str(port), "PUBLIC_BASE_URL": self.url(service)}
        env["TRACE_FILE"] = str(self.paths.logs / f"spans-{name}.jsonl")
        self._process(name, service, ["serve"], env, port).start(ready_timeout=ready_timeout)
        return name

    def run_cli(
        self, service: str, args: list[str], *, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run a service's command (``python -m <service> ...``; ``tdu-access``: the operators' access
        command) against this platform."""
        module = "tdu_shared.access.cli" if service == "tdu-access" else service
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            env={
                **os.environ,
                **self.service_env(*(("journeys", "access-admin") if module != service else (service,))),
            },
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def partner_key(
        self, partner: str, capabilities: list[str], basins: list[str], *, by: str = "demo@traitdunion.test"
    ) -> dict[str, str]:
        """``Authorization`` of a partner key made with the operators' ``tdu-access keys create`` (the
        services learn it from the ``access.keys`` topic within seconds)."""
        args = ["keys", "create", "--partner", partner, "--by", by, "--json"]
        args += [a for c in capabilities for a in ("--capability", c)]
        args += [a for b in basins for a in ("--basin", b)]
        made = self.run_cli("tdu-access", args, timeout=120)
        if made.returncode != 0:
            raise InfraError(f"tdu-access keys create failed:\n{made.stderr[-1500:]}")
        return {"Authorization": f"Bearer {json.loads(made.stdout.strip().splitlines()[-1])['key']}"}

    @property
    def region(self) -> str:
        return self.extra_env.get("REGION", "44")

    def session(
        self, role: str, subject: str, *, basins: list[str] | None = None, email: str | None = None
    ) -> dict[str, str]:
        """``Authorization`` of a signed-in person, as ``tdu-access session`` (or the sign-in) issues it."""
        return access.session(
            role,
            subject,
            basins=basins or (),
            email=email,
            region=self.region,
            signing_secret=self.access_secret,
        )

    def operator_session(self, email: str) -> dict[str, str]:
        """``Authorization`` of an operator signed in as a browser does: to the ProConnect stand-in, back."""
        notifications = self.url("notifications")
        with httpx.Client(timeout=10) as browser:
            start = browser.get(f"{notifications}/sign-in/operator", params={"login_hint": email})
            if start.status_code != 302:
                raise InfraError(f"operator sign-in did not start: {start.status_code} {start.text[:300]}")
            back = browser.get(start.headers["location"])
            answer = browser.get(back.headers["location"])
        if self.with_web and answer.status_code == 303:  # back to the web pages: the session is a cookie
            cookie = answer.cookies.get("tdu_session")
            if cookie:
                return {"Authorization": f"Bearer {cookie}"}
        if answer.status_code != 200:
            raise InfraError(f"operator sign-in refused: {answer.status_code} {answer.text[:300]}")
        return {"Authorization": f"Bearer {answer.json()['session']}"}

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"{what}: not reached after {timeout:.0f}s (last answer: {last!r})")


# ---------------------------------------------------------------- CLI

app = typer.Typer(
    help="The whole platform on this machine, with demo data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
METZ = (49.1193, 6.1757)


def _generate_demo(paths: Paths, out: Path) -> dict[str, object]:
    script = paths.root / "deploy" / "demo" / "generate.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(out)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InfraError(f"demo data generation failed:\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _import_demo(platform: Platform, demo: Path) -> None:
    for service, args in (
        ("trainings", ["import", str(demo / "catalogue.xml"), "--source", "demo-carif-grand-est", "--json"]),
        ("offers", ["import", str(demo / "offers.json"), "--json"]),
    ):
        with console.status(f"Importing demo data through `{service} {args[0]}`..."):
            result = platform.run_cli(service, args)
        if result.returncode != 0:
            raise InfraError(
                f"`{service} {' '.join(args)}` failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
            )
        console.print(
            f"  {service}: {result.stdout.strip().splitlines()[-1] if result.stdout.strip() else 'done'}"
        )


def _search_url(platform: Platform) -> str:
    lat, lon = METZ
    return f"{platform.url('matching')}/search?lat={lat}&lon={lon}&radius_km=30"


def _search_count(url: str) -> str:
    """How many offers the search finds ('100+' past one page); '' while there are none."""
    try:
        response = httpx.get(f"{url}&limit=100", timeout=5)
    except httpx.HTTPError:
        return ""
    if response.status_code != 200 or not response.json()["results"]:
        return ""
    body = response.json()
    return f"{len(body['results'])}{'+' if body.get('has_more') else ''}"


def _settled_count(url: str, timeout: float) -> str:
    """Wait until matching has linked offers near Metz and the count holds for a few seconds."""
    wait_for(lambda: _search_count(url), timeout, "eligible offers near Metz")
    last, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = _search_count(url)
        if current == last:
            return current
        last = current
        time.sleep(3)
    return last


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Generate and import the demo data.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each step.")] = 180,
) -> None:
    """Run the platform in the foreground; Ctrl-C (or SIGTERM) stops everything it started."""
    infra = LocalInfra()
    paths = infra.paths
    platform: Platform | None = None
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with console.status(
            "Starting Kafka and FerretDB (first run: downloads and builds, a few minutes)..."
        ):
            endpoints = infra.start(timeout=timeout)
        # The demo signs sessions with ACCESS_TOKEN_SECRET (else its development value), so that
        # `uv run tdu-access session ...` in another terminal makes credentials these services accept.
        platform = Platform(
            endpoints, paths, access_secret=ServiceSettings().access_token_secret.get_secret_value()
        )
        with console.status(
            "Starting the mail catcher, the SMS stand-in, the five services and the web pages..."
        ):
            platform.start_catchers()
            platform.start_services((*SERVICES, WEB), ready_timeout=timeout)
        if demo:
            out = paths.cache / "demo"
            console.print(f"demo data: {_generate_demo(paths, out)}")
            _import_demo(platform, out)
        url = _search_url(platform)
        with console.status("Waiting for matching to link offers and funded sessions near Metz..."):
            found = _settled_count(url, timeout) if demo else "0"
        with console.status("Making the demo's credentials (a partner key, an operator session)..."):
            credentials = _demo_credentials(platform)
        _print_banner(platform, url, found, credentials)
        while True:
            time.sleep(1)
            for name, process in platform.processes.items():
                if process.proc is not None and process.proc.poll() is not None:
                    raise InfraError(
                        f"{name} stopped unexpectedly; log {process.log_path}:\n{process.log_tail()}"
                    )
    except KeyboardInterrupt:
        console.print("stopping...")
    except (InfraError, TimeoutError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        if platform is not None:
            platform.stop()
        infra.stop()
        console.print("stopped: nothing of the platform is left running")


def _interrupt(*_: object) -> None:
    """SIGTERM stops the platform the way Ctrl-C does."""
    raise KeyboardInterrupt


DEMO_OPERATOR = "operateur.metz@traitdunion.eu"


def _demo_credentials(platform: Platform) -> list[str]:
    """What the demo prints to call the APIs as each role."""
    key = platform.partner_key(
        "demo-partenaire-metz",
        ["applications:write", "journeys:read", "journeys:write", "kpis:read", "offers:write"],
        ["4410"],
        by=DEMO_OPERATOR,
    )
    operator = platform.operator_session(DEMO_OPERATOR)  # through the ProConnect stand-in
    return [
        "Credentials (header Authorization: Bearer <value>):",
        f"  partner key, Metz basin (4410):   {key['Authorization'].removeprefix('Bearer ')}",
        f"  operator of Metz, 8 h session:    {operator['Authorization'].removeprefix('Bearer ')}",
        f"  in the browser: {platform.url(WEB)}/connexion/operateur with {DEMO_OPERATOR} (Metz operator,"
        " ProConnect stand-in);",
        f"                  {platform.url(WEB)}/connexion for a seeker, an employer, a provider (the link"
        " arrives in the e-mails above)",
        "  the same by API: POST "
        f"{platform.url('notifications')}/sign-in "
        '{"email": "<address>", "role": "seeker"}, then the jeton of the e-mailed link',
        "                                    to POST /sign-in/session",
        "  any role, for operations:          uv run tdu-access session --role <role> --subject <id>",
        '  more partner keys:                eval "$(uv run tdu-infra start)"  # Kafka credentials, then',
        "                                    uv run tdu-access keys create --help",
        "  e.g. curl -H 'Authorization: Bearer <operator session>' "
        f"'{platform.url('journeys')}/kpis?basin=4410'",
    ]


def _print_banner(platform: Platform, search_url: str, found: str, credentials: list[str]) -> None:
    lines = ["", "Trait d'Union is running. Ctrl-C stops everything.", ""]
    lines += [f"  Web pages (seekers, employers, providers, operators): {platform.url(WEB)}", ""]
    for service in SERVICES:
        base = platform.url(service)
        lines.append(f"  {service:<14} API docs {base}/docs    AsyncAPI {base}/asyncapi")
    lines += [
        "",
        f"  Jobs near Metz with a funded training ({found} found): {search_url}",
        f"  E-mails sent in the demo: {platform.mail_dir} (one .eml per message, SMTP catcher on port "
        f"{platform.ports.smtp})",
        f"  SMS sent in the demo:     {platform.sms_file} (SMS provider stand-in, port {platform.ports.sms})",
        f"  Logs:                     {platform.paths.logs}",
        "",
        *credentials,
        "",
    ]
    print("\n".join(lines), flush=True)


@app.command()
def down() -> None:
    """Stop services, catchers, Kafka and FerretDB left by a previous run (by their pid files and ports)."""
    infra = LocalInfra()
    stopped = _stop_strays(infra.paths) + infra.stop()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


def _stop_strays(paths: Paths) -> list[str]:
    """Service processes are children of `up`; if `up` was killed hard, find them by command line."""
    stopped = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        module = cmdline[2].decode(errors="replace") if len(cmdline) >= 3 else ""
        if cmdline[1:2] != [b"-m"] or module not in (*SERVICES, WEB):
            continue
        try:
            environ = (proc_dir / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{PLATFORM_MARK}={paths.root}".encode() in environ:
            os.kill(int(proc_dir.name), signal.SIGTERM)
            stopped.append(f"{cmdline[2].decode()} (pid {proc_dir.name})")
    return stopped


if __name__ == "__main__":
    app()
