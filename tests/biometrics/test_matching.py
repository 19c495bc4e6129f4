from __future__ import annotations

from dataclasses import replace

import pytest

from passage.biometrics.codec import convert, decode, encode
from passage.biometrics.extract import Extraction
from passage.biometrics.matching import (
    DEFAULT_CALIBRATION,
    Calibration,
    bozorth3,
    bozorth_template,
    fit_calibration,
    match_records,
)
from passage.core.errors import InvalidInput


def test_genuine_scores_above_impostor(extracted: dict[str, Extraction]) -> None:
    a, b, other = (extracted[k].record for k in ("p1_1", "p1_2", "p2_1"))
    genuine = match_records(a, b)
    impostor = match_records(a, other)
    assert genuine.usable and impostor.usable
    assert genuine.best_score >= 40 > impostor.best_score
    assert genuine.log2_lr > 0 > impostor.log2_lr
    assert "Bozorth3" in genuine.explanation


def test_format_does_not_change_the_score(extracted: dict[str, Extraction]) -> None:
    a, b = extracted["p1_1"].record, extracted["p1_2"].record
    as_ansi = decode(encode(convert(b, "ansi2007")))
    # ANSI stores angles in 2-degree units, so a small rounding difference is allowed.
    assert abs(match_records(a, as_ansi).best_score - match_records(a, b).best_score) <= max(5, match_records(a, b).best_score // 5)


def test_self_match_is_far_above_mates(extracted: dict[str, Extraction]) -> None:
    record = extracted["p2_1"].record
    template = bozorth_template(record, record.views[0])
    assert bozorth3(template, template) > 200


def test_low_quality_views_give_no_evidence_unless_allowed(extracted: dict[str, Extraction]) -> None:
    a, b = extracted["p1_1"].record, extracted["p1_2"].record
    poor = replace(b, views=(replace(b.views[0], quality=10),))
    result = match_records(a, poor)
    assert not result.usable and result.log2_lr == 0.0 and "quality too low" in result.explanation
    assert match_records(a, poor, allow_low_quality=True).usable


def test_multi_finger_fusion_sums_per_finger_evidence(extracted: dict[str, Extraction]) -> None:
    a, b, c = (extracted[k].record for k in ("p1_1", "p1_2", "p2_1"))
    probe = replace(a, views=(replace(a.views[0], position=2), replace(c.views[0], position=3)))
    reference = replace(b, views=(replace(b.views[0], position=2), replace(extracted["p2_1"].record.views[0], position=3)))
    result = match_records(probe, reference)
    assert len(result.fingers) == 2
    assert result.log2_lr == pytest.approx(sum(f.log2_lr for f in result.fingers))
    assert {f.finger_position for f in result.fingers} == {2, 3}


def test_calibration_is_monotone_and_bounded() -> None:
    values = [DEFAULT_CALIBRATION.log2_lr(s) for s in range(0, 400, 5)]
    assert values == sorted(values)
    assert min(values) == DEFAULT_CALIBRATION.floor and max(values) == DEFAULT_CALIBRATION.ceiling


def test_fit_calibration_recovers_the_crossing_point() -> None:
    genuine = [50 + 3 * i for i in range(40)]
    impostor = [2 + (i % 25) for i in range(200)]
    overlap_g, overlap_i = genuine + [30, 35], impostor + [45, 40]
    fitted = fit_calibration(overlap_g, overlap_i)
    assert isinstance(fitted, Calibration)
    assert 25 < fitted.offset < 50  # LR = 1 between the two score populations
    assert fitted.log2_lr(100) > 0 > fitted.log2_lr(5)
    with pytest.raises(InvalidInput):
        fit_calibration([1.0] * 3, impostor)


def test_the_explanation_reads_in_chinese_with_the_fingers_named(extracted: dict[str, Extraction]) -> None:
    a, b = extracted["p1_1"].record, extracted["p1_2"].record
    probe = replace(a, views=(replace(a.views[0], position=2),))
    reference = replace(b, views=(replace(b.views[0], position=2),))
    result = match_records(probe, reference)
    from passage.core.i18n import localise

    chinese = localise(result.explanation, locale="zh_Hans")
    assert "右手食指" in chinese and "比对了1个手指" in chinese and "NIST 指南" in chinese
    assert "finger" not in chinese and "provisional" not in chinese  # issue 16: no English left in the explanation
    assert "right index finger" in localise(result.explanation, locale="en")
