from __future__ import annotations

import struct
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passage.biometrics.codec import TemplateFormatError, convert, decode, detect_format, encode


@pytest.mark.parametrize("name", ["iso2005", "ansi2004", "ansi2007"])
def test_reference_records_round_trip_byte_for_byte(reference_records: dict[str, bytes], name: str) -> None:
    data = reference_records[name]
    record = decode(data)
    assert record.format == name
    assert encode(record) == data


@pytest.mark.parametrize("name", ["iso2005", "ansi2004", "ansi2007"])
def test_reference_minutiae_are_plausible(reference_records: dict[str, bytes], name: str) -> None:
    record = decode(reference_records[name])
    assert len(record.views) >= 2
    for view in record.views:
        width, height = record.image_size(view)
        assert (width, height) == (512, 512)
        assert record.resolution(view) == (197, 197)
        assert len(view.minutiae) > 10
        for m in view.minutiae:
            assert 0 <= m.x < width and 0 <= m.y < height
            assert 0 <= m.angle_degrees(record.format) < 360
            assert m.kind in (0, 1, 2) and 0 <= m.quality <= 100


def test_same_finger_reads_the_same_across_formats(reference_records: dict[str, bytes]) -> None:
    iso = decode(reference_records["iso2005"]).views[0]
    ansi = decode(reference_records["ansi2007"]).views[0]
    assert [(m.x, m.y) for m in iso.minutiae] == [(m.x, m.y) for m in ansi.minutiae]
    for a, b in zip(iso.minutiae, ansi.minutiae, strict=True):
        assert abs((a.angle_degrees("iso2005") - b.angle_degrees("ansi2007") + 180) % 360 - 180) <= 2.0


def test_strict_mode_reports_the_quirks_of_the_nist_records(reference_records: dict[str, bytes]) -> None:
    with pytest.raises(TemplateFormatError) as iso:
        decode(reference_records["iso2005"], strict=True)
    assert iso.value.offset == 328
    with pytest.raises(TemplateFormatError) as ansi:
        decode(reference_records["ansi2004"], strict=True)
    assert ansi.value.offset == 1236
    assert decode(reference_records["ansi2007"], strict=True).warnings == ()


@pytest.mark.parametrize(("source", "target"), [(s, t) for s in ("iso2005", "ansi2004", "ansi2007") for t in ("iso2005", "ansi2004", "ansi2007") if s != t])
def test_conversion_writes_strict_records(reference_records: dict[str, bytes], source: str, target: str) -> None:
    converted = convert(decode(reference_records[source]), target)  # type: ignore[arg-type]
    again = decode(encode(converted), strict=True)
    assert again == converted
    assert [len(v.minutiae) for v in again.views] == [len(v.minutiae) for v in decode(reference_records[source]).views]


def test_empty_and_wrong_version_are_refused_with_offsets(reference_records: dict[str, bytes]) -> None:
    with pytest.raises(TemplateFormatError, match="empty") as empty:
        decode(b"")
    assert empty.value.offset == 0
    data = bytearray(reference_records["iso2005"])
    data[4:8] = b" 30\x00"  # ISO/IEC 19794-2:2011's version, not supported
    with pytest.raises(TemplateFormatError, match="unsupported format version") as version:
        decode(bytes(data))
    assert version.value.offset == 4
    with pytest.raises(TemplateFormatError, match="not 'FMR") as magic:
        decode(b"XMR\x00 20\x00" + bytes(20))
    assert magic.value.offset == 0


def test_record_without_minutiae_views_is_empty() -> None:
    header = b"FMR\x00 20\x00" + struct.pack(">IHHHHHBB", 24, 0, 400, 500, 197, 197, 0, 0)
    with pytest.raises(TemplateFormatError, match="empty template") as exc:
        decode(header)
    assert exc.value.offset == 22


def test_out_of_image_minutia_is_refused(reference_records: dict[str, bytes]) -> None:
    record = decode(reference_records["ansi2007"])
    view = record.views[0]
    bad = replace(record, views=(replace(view, width=50),) + record.views[1:])
    with pytest.raises(TemplateFormatError, match="outside the image width"):
        decode(encode(bad))


def test_truncation_anywhere_is_refused_not_crashed(reference_records: dict[str, bytes]) -> None:
    for data in reference_records.values():
        for cut in range(0, len(data) - 1, 7):
            with pytest.raises(TemplateFormatError):
                decode(data[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_only_raise_format_errors(data: bytes) -> None:
    try:
        record = decode(data)
    except TemplateFormatError as exc:
        assert 0 <= exc.offset <= max(len(data), 8)
    else:
        assert encode(record) == data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["iso2005", "ansi2004", "ansi2007"]), st.data())
def test_fuzz_mutated_reference_records(name: str, data: st.DataObject) -> None:
    from tests.biometrics.conftest import FIXTURES

    original = bytearray((FIXTURES / f"fmr.{name}").read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    mutated = bytes(original)
    try:
        record = decode(mutated)
    except TemplateFormatError as exc:
        assert 0 <= exc.offset <= len(mutated)
        assert "FMR" in exc.message or "byte" in exc.message
    else:
        assert encode(record) == mutated
        assert detect_format(mutated) == record.format
