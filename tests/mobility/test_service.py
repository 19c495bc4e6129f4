from pathlib import Path
from typing import Any

import pytest

from passage.core.errors import InvalidInput
from passage.mobility import service
from passage.mobility.privacy import PrivacyPolicy


def test_run_analysis_reports_progress_and_metadata(dataset: Path, truth: dict[str, Any]) -> None:
    seen: list[float] = []
    result = service.run_analysis(dataset=dataset, analysis="displaced_subscribers", params={"benchmark": truth["windows"]["benchmark"], "focal": truth["windows"]["focal"]}, level=2, progress=lambda _s, f: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert result.columns == ["pcode", "residents", "displaced"]
    d01 = next(r for r in result.rows if r[0] == "D01")
    assert abs(d01[2] - truth["planted_displaced"]) <= 0.1 * truth["planted_displaced"] + 60  # plus background movers
    assert result.audit_records() == []


def test_override_is_available_for_the_audit_log(dataset: Path, truth: dict[str, Any], tmp_path: Path) -> None:
    policy = PrivacyPolicy.build(threshold=0, override_reason="QA", actor="analyst-1")
    result = service.run_analysis(dataset=dataset, analysis="active_subscribers", params={"window": truth["windows"]["focal"]}, level="grid:1km", policy=policy, actor="analyst-1")
    [record] = result.audit_records()
    assert record["threshold"] == 0 and record["actor"] == "analyst-1" and record["run_id"] == result.metadata["run_id"]
    service.write_csv(result, tmp_path / "a.csv", hxl=True)
    assert (tmp_path / "a.csv").read_text().splitlines()[1] == "#loc+code,#population+subscribers+num"


def test_unknown_analysis_and_parameters_are_refused(dataset: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown analysis"):
        service.run_analysis(dataset=dataset, analysis="per_subscriber_dump", params={})
    with pytest.raises(InvalidInput, match="missing parameter"):
        service.run_analysis(dataset=dataset, analysis="flows", params={"from_window": "2024-03-01..2024-03-02"})
    with pytest.raises(InvalidInput, match="not an ingested"):
        service.run_analysis(dataset=dataset.parent, analysis="home_locations", params={"window": "2024-03-01..2024-03-02"})
    assert set(service.list_analyses()) >= {"home_locations", "flows_above_normal", "displaced_subscribers"}
