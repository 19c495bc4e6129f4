import pytest

from passage.core.errors import InvalidInput
from passage.mobility.privacy import PrivacyPolicy, ThresholdOverride, above_normal_from_published


def test_counts_at_or_below_threshold_are_redacted() -> None:
    policy = PrivacyPolicy()
    assert policy.redact(15) is None
    assert policy.redact(16) == 16
    assert policy.redact(0) is None
    assert PrivacyPolicy(threshold=30).redact(30) is None


def test_threshold_below_15_needs_a_recorded_override() -> None:
    with pytest.raises(InvalidInput, match="override"):
        PrivacyPolicy(threshold=10)
    with pytest.raises(InvalidInput, match="override"):
        PrivacyPolicy.build(threshold=5)
    policy = PrivacyPolicy.build(threshold=5, override_reason="validation against census", actor="analyst-7")
    assert policy.redact(6) == 6
    record = policy.metadata()["override"]
    assert record["threshold"] == 5 and record["actor"] == "analyst-7" and record["reason"] == "validation against census"
    assert record["action"] == "mobility.redaction_threshold_override"
    with pytest.raises(InvalidInput):
        PrivacyPolicy(threshold=5, override=ThresholdOverride(threshold=10, reason="x", actor="a"))


def test_above_normal_never_reveals_a_redacted_count() -> None:
    assert above_normal_from_published(100, 40) == 60
    assert above_normal_from_published(100, None) == 100
    assert above_normal_from_published(None, 40) == -40
    assert above_normal_from_published(None, None) is None
