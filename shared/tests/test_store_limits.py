"""What the local store can take: the limits the README states, pinned against the real store."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from tdu_dev.infra.paths import Paths
from tdu_dev.infra.servers import InfraError, parse_unified_diff, replace_hunks
from tdu_dev.testing.plans import query_plan
from tdu_dev.testing.processes import free_port
from tdu_shared.mongo import (
    BulkCounts,
    Document,
    bulk_write,
    connect,
    find_by_ids,
    insert_new,
    update_by_ids,
)

PATCHES = Path(__file__).resolve().parents[2] / "deploy" / "ferretdb" / "patches"


@pytest.mark.integration
async def test_one_update_of_a_thousand_statements_on_existing_documents_returns(
    mongo_db: AsyncDatabase[Document], mongodb_url: str
) -> None:
    """Unpatched FerretDB 1.24 hangs here for good (one pooled connection held per statement)."""
    await mongo_db.big.insert_many([{"_id": f"d{i:04}", "v": 1} for i in range(1000)])
    command = {
        "update": "big",
        "updates": [{"q": {"_id": f"d{i:04}"}, "u": {"$set": {"v": 2}}} for i in range(1000)],
        "ordered": False,
    }
    reply = await asyncio.wait_for(mongo_db.command(command), timeout=60)
    assert (reply["n"], reply["nModified"]) == (1000, 1000)
    other = connect(mongodb_url)  # and the store still answers everyone else
    try:
        assert await asyncio.wait_for(other[mongo_db.name].big.count_documents({"v": 2}), timeout=30) == 1000
    finally:
        await other.close()


def test_the_store_patch_names_the_lines_it_changes_and_applies_once() -> None:
    patch = PATCHES / "update-closes-each-statement.patch"
    files = parse_unified_diff(patch.read_text())
    assert list(files) == ["internal/handler/msg_update.go"]
    [(first_before, first_after), (second_before, second_after)] = files["internal/handler/msg_update.go"]
    assert "defer closer.Close()" in first_before and "defer closer.Close()" not in first_after
    assert "closer.Close()" in second_after and "closer.Close()" not in second_before
    original = f"func x() {{\n{first_before}\n// ...\n{second_before}}}\n"
    patched = replace_hunks(original, files["internal/handler/msg_update.go"], what=patch.name)
    assert "defer closer.Close()" not in patched and patched.count("closer.Close()") == 1


def test_a_patch_whose_lines_are_gone_fails_the_build_by_name() -> None:
    patch = PATCHES / "update-closes-each-statement.patch"
    hunks = parse_unified_diff(patch.read_text())["internal/handler/msg_update.go"]
    with pytest.raises(InfraError, match="found 0 times"):
        replace_hunks("package handler\n", hunks, what=patch.name)


@pytest.mark.integration
async def test_an_id_in_is_read_from_the_id_index_and_finds_exactly_its_documents(
    mongo_db: AsyncDatabase[Document],
) -> None:
    """Unpatched FerretDB 1.24 read the whole collection for any ``$in`` (id-pushdown.patch)."""
    documents: list[Document] = [{"_id": f"d{n:04}", "v": n} for n in range(1500)]
    await mongo_db.items.insert_many([*documents, {"_id": 7, "v": -7}])
    wanted = [f"d{n:04}" for n in range(0, 1500, 3)] + ["missing", "d0003"]
    plan = await query_plan(mongo_db.items, {"_id": {"$in": wanted}})
    assert plan["uses_id_index"], plan["plan"]
    found = await find_by_ids(mongo_db.items, wanted, {"v": 1})
    assert found == {f"d{n:04}": {"_id": f"d{n:04}", "v": n} for n in range(0, 1500, 3)}
    # What the index cannot answer is still answered right, by a scan: other types, too many ids.
    mixed = {d["_id"] async for d in mongo_db.items.find({"_id": {"$in": [7, "d0001", 8]}})}
    assert mixed == {7, "d0001"}
    assert not (await query_plan(mongo_db.items, {"_id": {"$in": [7, "d0001"]}}))["uses_id_index"]
    many = [f"d{n:04}" for n in range(1001)]
    assert len(await mongo_db.items.find({"_id": {"$in": many}}).to_list()) == 1001
    assert not (await query_plan(mongo_db.items, {"_id": {"$in": many}}))["uses_id_index"]


@pytest.mark.integration
async def test_insert_new_reports_the_documents_stored_already_and_writes_the_others(
    mongo_db: AsyncDatabase[Document],
) -> None:
    await mongo_db.items.insert_one({"_id": "b", "v": "old"})
    again = await insert_new(mongo_db.items, [{"_id": i, "v": "new"} for i in ("a", "b", "c")])
    assert again == {"b"}
    stored = {d["_id"]: d["v"] async for d in mongo_db.items.find({})}
    assert stored == {"a": "new", "b": "old", "c": "new"}


@pytest.mark.integration
async def test_update_by_ids_updates_each_id_once(
    mongo_db: AsyncDatabase[Document],
) -> None:
    await mongo_db.items.insert_many([{"_id": f"i{n}", "v": 0} for n in range(3)])
    assert await update_by_ids(mongo_db.items, ["i0", "i2", "missing", "i0"], {"$set": {"v": 1}}) == 2
    assert {d["_id"]: d["v"] async for d in mongo_db.items.find({})} == {"i0": 1, "i1": 0, "i2": 1}


@pytest.mark.integration
async def test_small_commands_side_by_side_write_everything_and_report_what_was_stored(
    mongo_db: AsyncDatabase[Document],
) -> None:
    await mongo_db.items.insert_many([{"_id": "i3"}, {"_id": "i8"}])
    operations: list[Any] = [InsertOne({"_id": f"i{n}", "v": n}) for n in range(10)]
    counts = await bulk_write(mongo_db.items, operations, chunk=3, parallel=2)
    assert (counts.inserted, counts.duplicates) == (8, {"i3", "i8"})
    assert await mongo_db.items.count_documents({}) == 10
    updates: list[Any] = [UpdateOne({"_id": f"i{n}"}, {"$set": {"v": -1}}) for n in range(10)]
    assert (await bulk_write(mongo_db.items, updates, chunk=4, parallel=3)).modified == 10
    with pytest.raises(ValueError, match="ordered"):
        await bulk_write(mongo_db.items, updates, ordered=True, parallel=2)


def test_a_chunk_with_an_error_other_than_a_stored_insert_raises() -> None:
    chunk: list[Any] = [InsertOne({"_id": "a"}), UpdateOne({"_id": "b"}, {"$set": {"v": 1}})]
    counts = BulkCounts()
    counts.add_failed_chunk(
        chunk, BulkWriteError({"writeErrors": [{"index": 0, "code": 11000}], "nMatched": 1})
    )
    assert (counts.duplicates, counts.matched) == ({"a"}, 1)
    with pytest.raises(BulkWriteError):
        counts.add_failed_chunk(chunk, BulkWriteError({"writeErrors": [{"index": 1, "code": 11000}]}))
    with pytest.raises(BulkWriteError):
        counts.add_failed_chunk(chunk, BulkWriteError({"writeErrors": [{"index": 0, "code": 2}]}))


@pytest.mark.integration
async def test_a_new_collection_is_read_by_id_from_its_id_index(mongo_db: AsyncDatabase[Document]) -> None:
    """Our FerretDB build writes the `_id` pushdown as FerretDB's unique `_id` index is built, so a
    collection's lookups by `_id` use that index from its first document on (MongoDB: always)."""
    await mongo_db.looked_up.insert_many([{"_id": f"k{n}"} for n in range(20)])
    for lookup in ({"_id": "k3"}, {"_id": {"$in": ["k3", "k7"]}}):
        assert (await query_plan(mongo_db.looked_up, lookup))["uses_id_index"]
    assert await mongo_db.looked_up.find_one({"_id": "k3"}) == {"_id": "k3"}
    assert not (await query_plan(mongo_db.looked_up, {"kind": "x"}))["uses_id_index"]


def test_the_store_program_drops_the_second_id_index_earlier_builds_kept(tmp_path: Path) -> None:
    """Databases written by an earlier build carry `<table>__id_pushdown`, an index every write had to
    maintain: the program removes it at start and keeps the data."""
    binary = Paths.discover().ferretdb_binary
    if not binary.exists():
        pytest.skip("the local store program is not built on this machine")
    data = tmp_path / "data"
    data.mkdir()
    with closing(sqlite3.connect(data / "old.sqlite")) as db:
        db.execute("CREATE TABLE things_1 (_ferretdb_sjson TEXT NOT NULL) STRICT")
        db.execute("CREATE INDEX things_1__id_pushdown ON things_1 (_ferretdb_sjson->'$._id')")
        db.execute("""INSERT INTO things_1 VALUES ('{"_id":"a"}')""")
        db.commit()
    command = [str(binary), "-listen", f"127.0.0.1:{free_port()}", "-data", str(data)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            assert process.stdout is not None
            said = [process.stdout.readline()]
            while "listening on" not in said[-1] and said[-1] and len(said) < 200:
                said.append(process.stdout.readline())
        finally:
            process.terminate()
    assert any("removed 1 extra _id indexes" in line for line in said), said
    with closing(sqlite3.connect(data / "old.sqlite")) as db:
        indexes = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        assert indexes == [] and db.execute("SELECT count(*) FROM things_1").fetchone() == (1,)
