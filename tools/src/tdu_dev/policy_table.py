"""The README's "who can do what" table, written from each service's access policy.

uv run python -m tdu_dev.policy_table           # rewrites the table in README.md
uv run python -m tdu_dev.policy_table --check   # exit 1 if README.md's table is stale
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from tdu_shared.access.policy import Policy

SERVICES = ("offers", "trainings", "matching", "journeys", "notifications")
README = Path(__file__).resolve().parents[3] / "README.md"
BEGIN, END = "<!-- policy table: begin -->", "<!-- policy table: end -->"


def policies() -> list[Policy]:
    return [importlib.import_module(f"{service}.access").POLICY for service in SERVICES]


def markdown() -> str:
    lines = [
        BEGIN,
        "<!-- written by `uv run python -m tdu_dev.policy_table` from each service's access.py -->",
        "| Service | Operation | Who may call it | Checked on the thing itself |",
        "|---|---|---|---|",
    ]
    for policy in policies():
        for rule in policy.rules:
            who = "anyone, no credential" if rule.public else ", ".join(sorted(str(g) for g in rule.allow))
            lines.append(f"| {policy.service} | `{rule.operation}` | {who} | {rule.scope} |")
    lines.append(END)
    return "\n".join(lines)


def rewritten(text: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    return pattern.sub(lambda _: markdown(), text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = README.read_text(encoding="utf-8")
    return write_or_check(README, rewritten(text), "tdu_dev.policy_table", "--check" in args)


def write_or_check(path: Path, fresh: str, module: str, check: bool) -> int:
    """Write ``fresh`` to ``path``, or (``check``) exit 1 when ``path`` does not hold it already."""
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != fresh:
            print(f"{path} is stale: run uv run python -m {module}", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
