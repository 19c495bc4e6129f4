import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from passage.core.errors import InvalidInput
from passage.mobility.ingest import read_boundaries
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.service import ingest_dataset

from .conftest import write_tiny

KEY = PseudonymKey(b"data-owner-key-0123456789abcdef!")
RAW = "RAW-SUBSCRIBER-0000000001"


def _events() -> list[tuple[str, str, str]]:
    return [
        (RAW, "2024-01-01T08:00:00+00:00", "c1"),
        (RAW, "2024-01-01T23:30:00+00:00", "c3"),  # 2024-01-02 in Kathmandu (+05:45)
        ("RAW-SUBSCRIBER-0000000002", "2024-01-02 10:00:00", "c3"),
        ("RAW-SUBSCRIBER-0000000002", "yesterday-ish", "c3"),
        ("RAW-SUBSCRIBER-0000000002", "2024-01-02 11:00:00", "c9"),
        ("RAW-SUBSCRIBER-0000000002", "2024-02-20 11:00:00", "c1"),
    ]


def test_ingest_reports_reasons_pseudonymises_and_partitions_by_local_day(tmp_path: Path) -> None:
    events, cells, areas = write_tiny(tmp_path, _events())
    out = tmp_path / "ds"
    report = ingest_dataset(events=events, cells=cells, areas=areas, out_dir=out, key=KEY, period="2024-01-01..2024-01-31", timezone="Asia/Kathmandu", max_rejected_share=0.5)
    assert report.rows_read == 6 and report.rows_kept == 3
    assert report.rejected == {"missing_subscriber": 0, "unparseable_time": 1, "outside_period": 1, "unknown_cell": 1}
    assert sorted(p.name for p in (out / "events").iterdir()) == ["date=2024-01-01", "date=2024-01-02"]
    table = pq.read_table(out / "events" / "date=2024-01-02").to_pydict()
    # events carry a dense integer id; subscribers.parquet maps it to the HMAC pseudonym, numbered in pseudonym order
    pseudonyms = dict(zip(*pq.read_table(out / "subscribers.parquet").to_pydict().values(), strict=True))
    expected = sorted([KEY.pseudonym(RAW), KEY.pseudonym("RAW-SUBSCRIBER-0000000002")])
    assert pseudonyms == {1: expected[0], 2: expected[1]} and report.subscribers == 2
    assert sorted(pseudonyms[s] for s in table["subscriber"]) == expected
    assert pq.read_schema(out / "events" / "date=2024-01-02" / next(iter(p.name for p in (out / "events" / "date=2024-01-02").iterdir()))).field("subscriber").type == "int32"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["report"]["rows_kept"] == 3 and manifest["key_fingerprint"] == KEY.fingerprint()
    # Raw identifiers appear in no output file, neither decoded nor as bytes.
    for path in out.rglob("*"):
        if path.is_file():
            assert b"RAW-SUBSCRIBER" not in path.read_bytes()
            if path.suffix == ".parquet":
                assert "RAW-SUBSCRIBER" not in str(pq.read_table(path).to_pydict())


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([(RAW, "2024-01-01 08:00:00", "nope")], "unknown cell"),
        ([(RAW, "2024-01-01 08:00:00", "c1"), (RAW, "31/01/2024", "c1")], "unparseable time"),
    ],
)
def test_rejections_above_the_share_write_nothing(tmp_path: Path, events: list[tuple[str, str, str]], message: str) -> None:
    ev, cells, areas = write_tiny(tmp_path, events)
    with pytest.raises(InvalidInput) as info:
        ingest_dataset(events=ev, cells=cells, areas=areas, out_dir=tmp_path / "ds", key=KEY)
    assert any(message.replace(" ", "_") in f.path for f in info.value.fields)
    assert RAW not in info.value.one_line()
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]


def test_cell_validity_is_respected(tmp_path: Path) -> None:
    cells = "cell_id,lon,lat,valid_from,valid_to\nc1,0.2,0.5,,2024-01-01\nc1,1.5,0.5,2024-01-02,\nc3,1.5,0.5,,\n"
    ev, cells_path, areas = write_tiny(tmp_path, [(RAW, "2024-01-01 08:00:00", "c1"), (RAW, "2024-01-02 08:00:00", "c1")], cells=cells)
    ingest_dataset(events=ev, cells=cells_path, areas=areas, out_dir=tmp_path / "ds", key=KEY)
    cell_areas = pq.read_table(tmp_path / "ds" / "cell_areas.parquet").to_pylist()
    level2 = {r["cell_idx"]: r["pcode"] for r in cell_areas if r["level"] == 2}
    kept = pq.read_table(tmp_path / "ds" / "events").to_pydict()
    by_day = {str(d): level2[c] for d, c in zip(kept["date"], kept["cell_idx"], strict=True)}
    assert by_day == {"2024-01-01": "A1", "2024-01-02": "A2"}


def test_overlapping_cell_validity_is_refused(tmp_path: Path) -> None:
    cells = "cell_id,lon,lat,valid_from,valid_to\nc1,0.2,0.5,,2024-01-05\nc1,1.5,0.5,2024-01-02,\n"
    ev, cells_path, areas = write_tiny(tmp_path, [(RAW, "2024-01-01 08:00:00", "c1")], cells=cells)
    with pytest.raises(InvalidInput, match="overlaps line 2"):
        ingest_dataset(events=ev, cells=cells_path, areas=areas, out_dir=tmp_path / "ds", key=KEY)


def test_missing_event_column(tmp_path: Path) -> None:
    ev, cells, areas = write_tiny(tmp_path, [])
    ev.write_text("msisdn,timestamp,cell_id\nx,2024-01-01 08:00:00,c1\n")
    with pytest.raises(InvalidInput, match="missing column"):
        ingest_dataset(events=ev, cells=cells, areas=areas, out_dir=tmp_path / "ds", key=KEY)
    assert not (tmp_path / "ds").exists()


def test_boundaries_without_pcode_or_with_points_are_refused(tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "x", "level": 1}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
        {"type": "Feature", "properties": {"pcode": "P", "level": 1}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
    ]}
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as info:
        read_boundaries(path)
    paths = {f.path: f.message for f in info.value.fields}
    assert paths["features[0].properties.pcode"] == "missing P-code"
    assert "Point" in paths["features[1].geometry"]
