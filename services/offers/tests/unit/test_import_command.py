"""`offers import --dry-run --json` and the file formats it reads."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from offers.cli import app
from offers.files import Unreadable, read_records

from .fakes import SAMPLE, real_records

runner = CliRunner()


def dry_run(path: Path) -> dict[str, object]:
    result = runner.invoke(app, ["import", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_dry_run_accounts_for_every_record_of_a_real_file() -> None:
    report = dry_run(SAMPLE)
    assert report["read"] == len(real_records()) == 58
    assert report["accepted"] + report["rejected"] == report["read"]  # type: ignore[operator]
    reasons = report["reasons"]
    assert isinstance(reasons, dict)
    assert {"cdd_under_6_months", "interim", "unlocated", "rome_rolled_up"} <= set(reasons)


def test_dry_run_counts_bad_records_with_their_reason(tmp_path: Path) -> None:
    lines = [json.dumps(real_records()[0]), "{not json", json.dumps({"intitule": "sans id"})]
    path = tmp_path / "offers.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    report = dry_run(path)
    assert (report["read"], report["accepted"], report["rejected"]) == (3, 1, 2)
    reasons = report["reasons"]
    assert isinstance(reasons, dict)
    assert reasons["rejected:not JSON"] == 1
    assert reasons["rejected:id"] == 1


def test_response_pages_are_read_as_their_results(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"resultats": real_records()[:3], "filtresPossibles": []}), encoding="utf-8")
    assert [r["id"] for r in read_records(path)] == [r["id"] for r in real_records()[:3]]


def test_unreadable_json_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "offers.jsonl"
    path.write_text('{"id": "A"}\n{"id": \n', encoding="utf-8")
    records = list(read_records(path))
    assert records[0] == {"id": "A"}
    assert isinstance(records[1], Unreadable) and records[1].line == 2
