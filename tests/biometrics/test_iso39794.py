"""ISO/IEC 39794-4:2019 finger image records (DER).

No published 39794-4 sample record was found in public repositories or test suites (see docs/biometrics.md),
so the input is built here byte by byte from the ASN.1 module's structure and X.690 DER rules, with a
tiny TLV writer of the test's own, independently of `iso39794.encode`. The bytes of the first test were
also checked by hand against the module: FingerImageDataBlock is [APPLICATION 4] (0x64), a CHOICE under
a context tag is explicit (A0 03 80 01 code), an INTEGER, BOOLEAN or OCTET STRING under one is implicit (8n).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from passage.biometrics import iso39794
from passage.biometrics.extract import extract
from passage.biometrics.service import parse_upload
from passage.core.errors import UnsupportedMediaType

DATA = Path(__file__).parent / "data"


def tlv(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        length = bytes([len(value)])
    elif len(value) < 0x100:
        length = bytes([0x81, len(value)])
    elif len(value) < 0x10000:
        length = bytes([0x82]) + len(value).to_bytes(2, "big")
    else:
        length = bytes([0x83]) + len(value).to_bytes(3, "big")
    return bytes([tag]) + length + value


def ctx(number: int, value: bytes) -> bytes:  # implicit, primitive
    return tlv(0x80 | number, value)


def box(number: int, *items: bytes) -> bytes:  # constructed context tag
    return tlv(0xA0 | number, b"".join(items))


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def code(number: int, value: int) -> bytes:  # CHOICE { code [0] ... } under [number]
    return box(number, ctx(0, bytes([value])))


def record(*representations: bytes) -> bytes:
    version = box(0, ctx(0, b"\x01"), ctx(1, (2019).to_bytes(2, "big")))
    return tlv(0x64, version + box(1, *representations))


def test_a_record_built_from_the_module_is_read_field_by_field_and_written_back_identically() -> None:
    representation = seq(
        code(0, 2),  # position: right index finger
        code(1, 0),  # impression: plain contact
        code(2, 1),  # image data format: WSQ
        ctx(3, b"\xff\xa0WSQ-BYTES"),  # image data (opaque here)
        box(4, ctx(0, (2024).to_bytes(2, "big")), ctx(1, b"\x03"), ctx(2, b"\x11"), ctx(3, b"\x08"), ctx(4, b"\x1e"), ctx(5, b"\x00"), ctx(6, b"\x01\xf4")),
        box(5, box(0, ctx(0, b"\x01\x01"), ctx(1, b"\x00\x80")), code(1, 1), box(2, seq(ctx(0, b"\x07"), ctx(1, b"\x09")))),
        box(6, seq(box(0, ctx(0, b"\x01\x02"), ctx(1, b"\x03")), box(1, ctx(0, b"\x3c"))),
            seq(box(0, ctx(0, b"\x01\x02"), ctx(1, b"\x04")), box(1, ctx(1, b"\x02")))),
        box(7, ctx(0, b"\x01\xf4"), ctx(1, b"\x00")),  # 500 per inch
        ctx(8, b"\xff"),
        ctx(9, b"\x00\xb4"),  # 180 degrees: 0xB4 alone would be negative in two's complement
        ctx(10, b"\x00"),
        ctx(11, b"\xff"),
        box(12, seq(ctx(0, b"\x05"))),  # a segmentation block: kept, not interpreted
        box(15, tlv(0x1A, b"enrolled at post 3")),
    )
    data = record(representation)
    assert data[:1] == b"\x64"
    parsed = iso39794.decode(data)
    assert (parsed.generation, parsed.year) == (1, 2019)
    (rep,) = parsed.representations
    assert (rep.position, rep.impression, rep.image_format, rep.compression) == (2, 0, 1, "wsq")
    assert rep.image == b"\xff\xa0WSQ-BYTES"
    assert rep.capture == (2024, 3, 17, 8, 30, 0, 500)
    assert (rep.device_model, rep.device_technology, rep.certifications) == ((257, 128), 1, ((7, 9),))
    assert rep.quality == (iso39794.QualityScore(258, 3, score=60), iso39794.QualityScore(258, 4, error=2))
    assert rep.sampling_rate == (500, 0) and rep.ppi == 500.0
    assert (rep.position_computed, rep.rotation, rep.rotated_to_vertical, rep.lossily_compressed) == (True, 180, False, True)
    assert rep.comments == ("enrolled at post 3",)
    assert [number for number, _ in rep.kept] == [12]
    assert iso39794.encode(parsed) == data


def test_centimetre_sampling_rate_and_several_fingers() -> None:
    first = seq(code(0, 1), code(1, 1), code(2, 4), ctx(3, b"png"), box(7, ctx(0, b"\x00\xc5"), ctx(1, b"\x01")))
    second = seq(code(0, 6), code(1, 1), code(2, 4), ctx(3, b"png"))
    parsed = iso39794.decode(record(first, second))
    assert [r.position for r in parsed.representations] == [1, 6]
    assert parsed.representations[0].ppi == pytest.approx(197 * 2.54)
    assert parsed.representations[1].ppi is None


def test_round_trip_from_values() -> None:
    rep = iso39794.FingerImageRepresentation(
        position=7, impression=1, image_format=0, image=bytes(range(256)) * 3, capture=(2026, 12, 7),
        device_model=(1, 2), quality=(iso39794.QualityScore(1, 2, score=100),), sampling_rate=(1000, 0),
        rotation=359, comments=("a", "b"))
    value = iso39794.FingerImageRecord(1, 2019, (rep,))
    data = iso39794.encode(value)
    assert iso39794.is_finger_image_record(data)
    assert iso39794.decode(data) == value


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x30\x00", "[APPLICATION 4]"),
    (record(seq(code(0, 2), code(1, 0), code(2, 1)))[:-1], "past the end"),
    (record(seq(code(0, 2), code(1, 0), code(2, 1))), "imageData is missing"),
    (record(seq(code(1, 0), code(0, 2), code(2, 1), ctx(3, b"x"))), "out of order"),
    (record(seq(box(0, box(1, seq(ctx(0, b"\x02")))), code(1, 0), code(2, 1), ctx(3, b"x"))), "extension block"),
    (record(seq(code(0, 2), code(1, 0), code(2, 1), ctx(3, b"x"), ctx(9, b"\x01\x68"))), "originalRotation is out of its range"),
    (b"\x64\x80\x00\x00", "indefinite length"),
    (record(), "no representation"),
])
def test_malformed_records_are_refused_with_the_byte_offset(data: bytes, reason: str) -> None:
    with pytest.raises(iso39794.Iso39794FormatError) as refused:
        iso39794.decode(data)
    assert reason in str(refused.value) and refused.value.offset >= 0


def _png(name: str) -> bytes:
    return (DATA / f"{name}.png").read_bytes()


def test_upload_of_a_39794_record_extracts_its_image_like_the_image_itself() -> None:
    image = _png("p1_1")
    data = record(seq(code(0, 3), code(1, 0), code(2, 4), ctx(3, image), box(7, ctx(0, b"\x01\xf4"), ctx(1, b"\x00"))))
    parsed = parse_upload(data)
    direct = extract(image, ppi=500, finger_position=3)
    assert parsed.source == "iso39794" and parsed.image_format == "png"
    assert parsed.record.views[0].position == 3
    assert [(m.x, m.y, m.angle) for m in parsed.record.views[0].minutiae] == [(m.x, m.y, m.angle) for m in direct.record.views[0].minutiae]


def test_upload_of_a_pgm_image_and_refusal_of_jpeg2000() -> None:
    with Image.open(io.BytesIO(_png("p2_1"))) as opened:
        buffer = io.BytesIO()
        opened.convert("L").save(buffer, format="PPM")  # Pillow writes a greyscale image as PGM (P5)
    pgm = buffer.getvalue()
    assert pgm[:2] == b"P5"
    parsed = parse_upload(record(seq(code(0, 0), code(1, 0), code(2, 0), ctx(3, pgm))), ppi=500)
    assert parsed.image_format == "png" and parsed.record.minutiae_count() > 0
    with pytest.raises(UnsupportedMediaType):
        parse_upload(record(seq(code(0, 0), code(1, 0), code(2, 3), ctx(3, b"\x00\x00\x00\x0cjP  "))))
