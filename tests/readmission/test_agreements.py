import json

import pytest

from passage.core.errors import InvalidInput, NotFound
from passage.readmission.agreements import (
    agreement_checksum,
    get_preset,
    load_agreement_file,
    parse_agreement,
    preset_agreements,
    unverified_figures,
)
from passage.readmission.schemas import DayUnit, ExtensionMode


def test_all_presets_load_with_issue_figures():
    presets = preset_agreements()
    assert set(presets) == {"russia-style", "eu-serbia-template", "eu-pakistan", "eu-sri-lanka", "transit-template", "eu-china-draft"}
    ru = presets["russia-style"].latest().readmission
    assert ru.reply_limit.value == 25 and ru.reply_limit.unit is DayUnit.calendar_days
    assert ru.extension.mode is ExtensionMode.total and ru.extension.limit.value == 60
    assert ru.silence_means_acceptance.value is True and ru.transfer_limit.value == 90
    rs = presets["eu-serbia-template"].latest().readmission
    assert (rs.reply_limit.value, rs.accelerated.reply_limit.value, rs.accelerated.reply_limit.unit) == (10, 2, DayUnit.working_days)
    assert rs.extension.mode is ExtensionMode.additional and rs.extension.limit.value == 6
    assert (rs.transfer_limit.value, rs.transfer_limit.unit) == (3, DayUnit.months)
    pk = presets["eu-pakistan"].latest()
    assert pk.readmission.reply_limit.value == 30 and (pk.travel_document.validity.value, pk.travel_document.validity.unit) == (6, DayUnit.months)
    lk = presets["eu-sri-lanka"].latest().travel_document
    assert (lk.validity.value, lk.reissue_normal_limit.value, lk.reissue_max_limit.value) == (6, 14, 30)
    tr = presets["transit-template"].latest().transit
    assert (tr.reply_limit.value, tr.transit_limit.value) == (5, 30)
    assert presets["eu-china-draft"].editable and presets["eu-china-draft"].latest().calendar.country == "CN"


def test_unverified_figures_are_listed_and_verified_ones_are_not():
    ru = get_preset("russia-style")
    paths = unverified_figures(ru)
    assert "versions.0.readmission.reply_limit.citation" not in paths
    assert "versions.0.travel_document.validity.citation" in paths
    assert all("verified" not in p for p in paths)
    draft = get_preset("eu-china-draft")
    assert "versions.0.readmission.reply_limit.citation" in unverified_figures(draft)


def test_bad_file_refused_with_field_paths(tmp_path):
    data = get_preset("eu-serbia-template").model_dump(mode="json")
    data["versions"][0]["readmission"]["reply_limit"]["value"] = -3
    data["versions"][0]["readmission"]["reply_limit"]["unit"] = "fortnights"
    del data["versions"][0]["data_protection"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_agreement_file(path)
    paths = {f.path for f in err.value.fields}
    assert "versions.0.readmission.reply_limit.value" in paths
    assert "versions.0.readmission.reply_limit.unit" in paths
    assert "versions.0.data_protection" in paths
    assert "bad.json" in err.value.message


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "id": "x",\n  oops\n}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 3"):
        load_agreement_file(path)


def test_overlapping_versions_and_unknown_fields_refused():
    data = get_preset("eu-pakistan").model_dump(mode="json")
    second = json.loads(json.dumps(data["versions"][0]))
    second["version"] = 2
    data["versions"].append(second)
    with pytest.raises(InvalidInput, match="not a valid agreement") as err:
        parse_agreement(data)
    assert any("overlaps" in f.message for f in err.value.fields)
    data = get_preset("eu-pakistan").model_dump(mode="json")
    data["versions"][0]["data_protection"]["shared_fields"].append("bank_account")
    with pytest.raises(InvalidInput) as err:
        parse_agreement(data)
    assert any("bank_account" in f.message for f in err.value.fields)


def test_version_selection_by_date_and_checksum_stable():
    data = get_preset("eu-pakistan").model_dump(mode="json")
    data["versions"][0]["effective_to"] = "2019-12-31"
    second = json.loads(json.dumps(data["versions"][0]))
    second.update(version=2, effective_from="2020-01-01", effective_to=None)
    second["readmission"]["reply_limit"]["value"] = 20
    data["versions"].append(second)
    agreement = parse_agreement(data)
    import datetime as dt

    assert agreement.version_on(dt.date(2015, 1, 1)).version == 1
    assert agreement.version_on(dt.date(2021, 1, 1)).readmission.reply_limit.value == 20
    assert agreement.version_on(dt.date(2000, 1, 1)) is None
    assert agreement_checksum(agreement) == agreement_checksum(parse_agreement(agreement.model_dump(mode="json")))
    assert agreement_checksum(agreement) != agreement_checksum(get_preset("eu-pakistan"))


def test_unknown_preset():
    with pytest.raises(NotFound):
        get_preset("nope")
