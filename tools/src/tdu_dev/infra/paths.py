"""Where the repository, its cache of downloads and builds, and the runtime state of local servers live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def find_repo_root(start: Path | None = None) -> Path:
    """The checkout: TDU_HOME, else the first parent of the working directory holding deploy/kafka/pom.xml."""
    if env := os.environ.get("TDU_HOME"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "deploy" / "kafka" / "pom.xml").is_file():
            return candidate
    raise FileNotFoundError(
        "cannot find the Trait d'Union checkout (deploy/kafka/pom.xml): run from inside it or set TDU_HOME"
    )


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def cache(self) -> Path:
        return Path(os.environ.get("TDU_CACHE_DIR", self.root / ".cache"))

    @property
    def deploy(self) -> Path:
        return self.root / "deploy"

    @property
    def logs(self) -> Path:
        return self.cache / "logs"

    @property
    def run(self) -> Path:
        return self.cache / "run"

    def kafka_jars(self, version: str) -> Path:
        return self.cache / "kafka" / version / "jars"

    @property
    def ferretdb_binary(self) -> Path:
        return self.cache / "ferretdb" / "ferretdb-local"

    @classmethod
    def discover(cls) -> Paths:
        return cls(find_repo_root())
