from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from passage.biometrics.codec import decode
from tests.biometrics.conftest import DATA, FIXTURES


def _run(*args: str):  # type: ignore[no-untyped-def]
    from passage.core.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_extract_then_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.iso", tmp_path / "b.ansi"
    assert _run("biometrics", "extract", str(DATA / "p1_1.png"), "--out", str(a)) == 0
    assert _run("biometrics", "extract", str(DATA / "p1_2.png"), "--out", str(b), "--format", "ansi2007") == 0
    assert decode(a.read_bytes()).format == "iso2005" and decode(b.read_bytes()).format == "ansi2007"
    capsys.readouterr()
    assert _run("biometrics", "match", str(a), str(b)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["usable"] and result["best_score"] >= 40 and result["log2_lr"] > 0


def test_bad_inputs_give_one_line_errors_and_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.iso"
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert _run("biometrics", "extract", str(tmp_path / "bad.png"), "--out", str(out)) == 2
    assert "unreadable" in capsys.readouterr().err and not out.exists()
    (tmp_path / "empty.iso").write_bytes(b"")
    assert _run("biometrics", "match", str(tmp_path / "empty.iso"), str(FIXTURES / "fmr.iso2005")) == 2
    assert "empty" in capsys.readouterr().err
    wrong = bytearray((FIXTURES / "fmr.iso2005").read_bytes())
    wrong[4:8] = b" 30\x00"
    (tmp_path / "v.iso").write_bytes(bytes(wrong))
    assert _run("biometrics", "match", str(tmp_path / "v.iso"), str(FIXTURES / "fmr.iso2005")) == 2
    assert "unsupported format version" in capsys.readouterr().err


def _org_id(name: str) -> str:
    from sqlalchemy import select

    from passage.core.db import unit_of_work
    from passage.security.models import Organisation

    with unit_of_work() as session:
        return str(session.scalars(select(Organisation.id).where(Organisation.name == name)).one())


def test_enrol_and_search_through_the_database(demo_people: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import select

    from passage.biometrics.models import BiometricTemplate
    from passage.core.db import unit_of_work
    from passage.security.models import AuditEntry

    for name in ("p1_2", "p2_1"):
        shutil.copy(DATA / f"{name}.png", tmp_path / f"{name}.png")
    shutil.copy(FIXTURES / "fmr.ansi2007", tmp_path / "nist.ansi")
    (tmp_path / "manifest.csv").write_text("record_id,person_id,path\nr1,A,p1_2.png\nr2,B,p2_1.png\nr3,C,nist.ansi\n")
    org = "Fujian Exit and Entry Administration Bureau"
    assert _run("biometrics", "enrol", "--gallery", str(tmp_path), "--organisation", org) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["gallery_size"] == 3
    org_id = _org_id(org)
    with unit_of_work() as session:
        rows = session.scalars(select(BiometricTemplate)).all()
        assert {r.organisation_id for r in rows} == {org_id}
        assert all(r.image is None for r in rows)  # images dropped after extraction by default
        enrols = session.scalars(select(AuditEntry).where(AuditEntry.action == "enrol")).all()
        assert len(enrols) == 3 and {e.actor_user_id for e in enrols} == {"system"}
    probe = tmp_path / "probe.iso"
    assert _run("biometrics", "extract", str(DATA / "p1_1.png"), "--out", str(probe)) == 0
    capsys.readouterr()
    assert _run("biometrics", "search", str(probe), "--top", "10") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0]["person_id"] == "A" and lines[0]["rank"] == 1 and lines[0]["log2_lr"] > 0


def test_duplicate_ids_in_manifest_change_nothing(demo_people: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import func, select

    from passage.biometrics.models import BiometricTemplate
    from passage.core.db import unit_of_work

    shutil.copy(FIXTURES / "fmr.ansi2007", tmp_path / "a.ansi")
    manifest = tmp_path / "m.csv"
    manifest.write_text("record_id,person_id,path\nr1,A,a.ansi\nr1,B,a.ansi\n")
    assert _run("biometrics", "enrol", "--gallery", str(manifest), "--organisation", "IOM China") == 2
    assert "duplicate record_id" in capsys.readouterr().err
    (tmp_path / "empty.ansi").write_bytes(b"")
    manifest.write_text("record_id,person_id,path\nr1,A,a.ansi\nr2,B,empty.ansi\n")
    assert _run("biometrics", "enrol", "--gallery", str(manifest), "--organisation", "IOM China") == 2
    assert "line 3" in capsys.readouterr().err
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(BiometricTemplate)) == 0
