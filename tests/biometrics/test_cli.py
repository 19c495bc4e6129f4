from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from passage.biometrics.codec import decode
from passage.core.settings import reset_settings_cache
from tests.biometrics.conftest import DATA, FIXTURES


@pytest.fixture(autouse=True)
def _test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSAGE_ENVIRONMENT", "test")
    reset_settings_cache()


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


def test_enrol_and_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("p1_2", "p2_1"):
        shutil.copy(DATA / f"{name}.png", tmp_path / f"{name}.png")
    shutil.copy(FIXTURES / "fmr.ansi2007", tmp_path / "nist.ansi")
    manifest = tmp_path / "m.csv"
    manifest.write_text("record_id,person_id,path\nr1,A,p1_2.png\nr2,B,p2_1.png\nr3,C,nist.ansi\n")
    gallery = tmp_path / "gallery"
    assert _run("biometrics", "enrol", str(manifest), "--gallery", str(gallery), "--unencrypted") == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["gallery_size"] == 3
    probe = tmp_path / "probe.iso"
    assert _run("biometrics", "extract", str(DATA / "p1_1.png"), "--out", str(probe)) == 0
    capsys.readouterr()
    assert _run("biometrics", "search", str(probe), "--gallery", str(gallery), "--top", "10", "--unencrypted") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0]["person_id"] == "A" and lines[0]["rank"] == 1


def test_duplicate_ids_in_manifest_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(FIXTURES / "fmr.ansi2007", tmp_path / "a.ansi")
    manifest = tmp_path / "m.csv"
    manifest.write_text("record_id,person_id,path\nr1,A,a.ansi\nr1,B,a.ansi\n")
    assert _run("biometrics", "enrol", str(manifest), "--gallery", str(tmp_path / "g"), "--unencrypted") == 2
    assert "duplicate record_id" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_unencrypted_refused_in_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PASSAGE_ENVIRONMENT", "production")
    monkeypatch.setenv("PASSAGE_SECRET_KEY", "x" * 40)
    reset_settings_cache()
    shutil.copy(FIXTURES / "fmr.ansi2007", tmp_path / "a.ansi")
    (tmp_path / "m.csv").write_text("record_id,person_id,path\nr1,A,a.ansi\n")
    assert _run("biometrics", "enrol", str(tmp_path / "m.csv"), "--gallery", str(tmp_path / "g"), "--unencrypted") == 2
    assert "refused in production" in capsys.readouterr().err

