import json

import pytest

from passage.core.cli import main
from passage.core.db import dispose_engines, make_engine
from passage.core.models import Base
from passage.core.settings import reset_settings_cache
from passage.readmission.agreements import get_preset


@pytest.fixture
def db_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PASSAGE_DATABASE_URL", url)
    monkeypatch.setenv("PASSAGE_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    engine = make_engine(url)
    import passage.readmission.models  # noqa: F401

    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    dispose_engines()
    reset_settings_cache()


def run(capsys, *argv):
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_deadlines_json(capsys, db_env):
    code, out, _ = run(capsys, "readmission", "deadlines", "--agreement", "eu-serbia-template", "--received", "2024-12-20", "--extension-requested")
    assert code == 0
    body = json.loads(out)
    assert body["reply_due"]["due"] == "2024-12-30"
    assert body["latest_extended_due"]["due"] == "2025-01-05"
    assert body["transfer_deadline_if_accepted_on_last_day"]["due"] == "2025-04-05"
    assert "Art. 10(2)" in body["reply_due"]["rule"]


def test_deadlines_errors_are_one_line(capsys, db_env):
    code, _, err = run(capsys, "readmission", "deadlines", "--agreement", "eu-pakistan", "--received", "2024-13-01")
    assert code == 2 and err.startswith("error: --received must be a date") and err.count("\n") == 1
    code, _, err = run(capsys, "readmission", "deadlines", "--agreement", "nope", "--received", "2024-01-01")
    assert code == 2 and "no agreement with id nope" in err
    code, _, err = run(capsys, "readmission", "deadlines", "--agreement", "eu-pakistan", "--received", "2024-01-01", "--extension-requested")
    assert code == 2 and "no extension" in err


def test_list_show_load(capsys, db_env, tmp_path):
    code, out, _ = run(capsys, "agreements", "list")
    assert code == 0 and {row["id"] for row in json.loads(out)} >= {"russia-style", "eu-china-draft"}
    code, out, _ = run(capsys, "agreements", "show", "eu-sri-lanka")
    assert code == 0 and "versions.0.readmission.clock_start_citation" in json.loads(out)["unverified_figures"]

    draft = get_preset("eu-china-draft").model_dump(mode="json")
    draft["versions"][0]["effective_to"] = "2024-12-31"
    v2 = json.loads(json.dumps(draft["versions"][0]))
    v2.update(version=2, label="draft 2", effective_from="2025-01-01", effective_to=None)
    v2["readmission"]["reply_limit"]["value"] = 15
    draft["versions"] = [v2]
    path = tmp_path / "draft2.json"
    path.write_text(json.dumps(draft, ensure_ascii=False), encoding="utf-8")
    code, out, err = run(capsys, "agreements", "load", str(path))
    assert code == 0, err
    assert json.loads(out)["added_versions"] == [2]
    # loading again is a no-op; the DB version now drives deadlines from 2025
    code, out, _ = run(capsys, "agreements", "load", str(path))
    assert json.loads(out)["unchanged_versions"] == [2]
    code, out, _ = run(capsys, "readmission", "deadlines", "--agreement", "eu-china-draft", "--received", "2025-03-03")
    assert json.loads(out)["agreement_version"] == 2 and json.loads(out)["reply_due"]["limit"] == "15 working days"
    # a changed version under the same number is refused
    v2["readmission"]["reply_limit"]["value"] = 16
    path.write_text(json.dumps(draft, ensure_ascii=False), encoding="utf-8")
    code, _, err = run(capsys, "agreements", "load", str(path))
    assert code == 2 and "already loaded with different content" in err


def test_load_refuses_published_preset_and_bad_file(capsys, db_env, tmp_path):
    path = tmp_path / "ru.json"
    path.write_text(json.dumps(get_preset("russia-style").model_dump(mode="json")), encoding="utf-8")
    code, _, err = run(capsys, "agreements", "load", str(path))
    assert code == 2 and "cannot be overridden" in err
    bad = get_preset("eu-pakistan").model_dump(mode="json")
    bad["id"] = "my-agreement"
    bad["versions"][0]["transit"] = {"reply_limit": {"value": 5}}
    path.write_text(json.dumps(bad), encoding="utf-8")
    code, _, err = run(capsys, "agreements", "load", str(path))
    assert code == 2 and "versions.0.transit.reply_limit.unit" in err


def test_tick_from_input_is_idempotent(capsys, db_env, tmp_path):
    snapshots = [
        {"case_id": "a", "agreement_id": "russia-style", "state": "routed", "dates": {"acknowledged_on": "2024-03-01"}},
        {"case_id": "b", "agreement_id": "russia-style", "state": "transferred", "dates": {"acknowledged_on": "2024-03-01"}},
    ]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(snapshots), encoding="utf-8")
    first = run(capsys, "readmission", "tick", "--today", "2024-03-27", "--input", str(path))
    second = run(capsys, "readmission", "tick", "--today", "2024-03-27", "--input", str(path))
    assert first == second and first[0] == 0
    assert json.loads(first[1])["actions"] == [
        {"case_id": "a", "action": "deem_accepted", "deadline": "reply_due", "due": "2024-03-26", "rule": json.loads(first[1])["actions"][0]["rule"]}
    ]
    path.write_text(json.dumps([{"case_id": "x", "state": "nonsense"}]), encoding="utf-8")
    code, _, err = run(capsys, "readmission", "tick", "--input", str(path))
    assert code == 2 and "invalid case snapshot" in err


def test_tick_reads_database(capsys, db_env):
    code, out, _ = run(capsys, "readmission", "tick", "--today", "2024-03-27")
    assert code == 0 and json.loads(out)["cases"] == 0
