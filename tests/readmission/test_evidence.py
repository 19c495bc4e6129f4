import hashlib

import pytest

from passage.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from passage.readmission.agreements import get_preset
from passage.readmission.evidence import check_upload, classify, strongest_category, verify_checksum
from passage.readmission.schemas import EvidenceCategory

PDF = b"%PDF-1.7\n" + b"0" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"1" * 50


def test_upload_accepted_with_checksum():
    checked = check_upload(PDF, declared_media_type="application/pdf")
    assert checked.media_type == "application/pdf" and checked.size == len(PDF)
    assert checked.sha256 == hashlib.sha256(PDF).hexdigest()
    assert verify_checksum(PDF, checked.sha256.upper())
    assert not verify_checksum(PDF + b"x", checked.sha256)
    assert check_upload(PNG).media_type == "image/png"


def test_oversized_unknown_mismatched_empty():
    with pytest.raises(PayloadTooLarge) as err:
        check_upload(PDF, max_bytes=10)
    assert err.value.status == 413
    with pytest.raises(UnsupportedMediaType) as err:
        check_upload(b"MZ\x90\x00 executable")
    assert err.value.status == 415
    with pytest.raises(UnsupportedMediaType):
        check_upload(b"MZ\x90\x00", declared_media_type="application/pdf")
    with pytest.raises(UnsupportedMediaType):
        check_upload(PNG, declared_media_type="application/pdf")
    with pytest.raises(InvalidInput):
        check_upload(b"")


def test_classification_per_agreement():
    pk = get_preset("eu-pakistan").latest()
    assert classify(pk, "passport").category is EvidenceCategory.proof_of_nationality
    assert classify(pk, "driving_licence").category is EvidenceCategory.starts_identification
    serbia = get_preset("eu-serbia-template").latest()
    assert classify(serbia, "driving_licence").category is EvidenceCategory.prima_facie
    with pytest.raises(InvalidInput):
        classify(pk, "hukou_extract")
    assert strongest_category(pk, ["own_statement", "passport"]) is EvidenceCategory.proof_of_nationality
    assert strongest_category(pk, ["own_statement"]) is EvidenceCategory.starts_identification
    assert strongest_category(pk, []) is None
