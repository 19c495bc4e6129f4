"""Fingerprint formats against the standards and reference files (issue 20).

Committed tests build their input independently of Passage's own encoders: ISO/IEC 19794-2:2011 records
byte by byte from the layout in the standard (clause 8 with the ISO/IEC 19794-1:2011 general header), WSQ
images with the `wsq` package's NBIS-based encoder, ANSI/NIST-ITL transactions field by field from NIST
SP 500-290 (ANSI/NIST-ITL 1-2011).

Reference files (public domain or openly licensed) are read from `PASSAGE_NIST_REFERENCE_DIR` if set, otherwise
from the project's shared fixtures folder (`shared/fixtures/biometrics/`, found by tests/biometrics/conftest.py,
which already holds libbiomeval's `fmr.*` records). They are not committed to this repository: the snapshots
they come from may only be used from the shared folder. A test whose file is in neither place is skipped and
names the file. Provenance (repository @ commit, path, licence):
- `img.wsq`, `type9.an2k`, `type9-efs.an2k`, `type9-13.an2k`, `type4-slaps.an2k`: NIST libbiomeval
  `src/test/test_data/` (usnistgov/libbiomeval @ 27f66b458e5cc73bed54f3935c778ef7eeec3850), work of NIST
  employees, public domain in the US (its LICENSE.md grants worldwide rights);
- `nist-type-4-14-flats.eft`, `nist-type-14-tpcard.eft`: NIST ANSI/NIST-ITL 2011 workshop files as copied
  in wct097/eft-viewer `samples/` (@ d3769512375b1c3b82afba5f5703e772702f5d43), US Government work;
- `iso19794p2v2011-sample.dat`/`.json`, `iso19794p2v2005-sample.dat`/`.json`: FingerprintIO
  (robertvazan/fingerprintio-java, Apache-2.0, @ b6138dcea28eb96b0f1df810b25e5483b95e94da)
  `src/test/resources/com/machinezoo/fingerprintio/<format>/`, an independent encoder's output and its decoding.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import pytest
from PIL import Image

from passage.biometrics import ansi_nist
from passage.biometrics.codec import TemplateFormatError, convert, decode, detect_format, encode
from passage.biometrics.extract import load_image, wsq_declared_ppi
from passage.biometrics.service import parse_upload
from tests.biometrics.conftest import FIXTURES

REFERENCE_DIRS = [Path(d) for d in (os.environ.get("PASSAGE_NIST_REFERENCE_DIR"),) if d] + [FIXTURES]


def reference(name: str) -> bytes:
    for folder in REFERENCE_DIRS:
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    pytest.skip(f"reference file {name} is in neither PASSAGE_NIST_REFERENCE_DIR nor {FIXTURES} (see docs/biometrics.md)")


# --- ISO/IEC 19794-2:2011 -------------------------------------------------------------------------------


def iso2011_record(*, minutiae: list[tuple[int, int, int, int, int]], field_length: int = 6, certification: bool = False) -> bytes:
    """One representation built from the standard's layout, independently of `codec.encode`."""
    body = bytes([0x07, 0xDA, 3, 17, 7, 51, 33]) + struct.pack(">H", 789)  # capture 2010-03-17 07:51:33.789
    body += struct.pack(">BHH", 2, 0x1234, 0x5678)  # device technology, vendor, type
    body += struct.pack(">B", 1) + struct.pack(">BHH", 55, 0x5432, 0x9876)  # one quality block
    if certification:
        body += struct.pack(">B", 1) + struct.pack(">HB", 0x1234, 1)
    body += struct.pack(">BBHHBHHBB", 3, 0, 200, 180, 1, 600, 400, (field_length << 4) | 1, len(minutiae))
    for kind, x, y, angle, quality in minutiae:
        body += struct.pack(">HHB", (kind << 14) | x, y, angle) + (bytes([quality]) if field_length == 6 else b"")
    body += struct.pack(">H", 0)
    representation = struct.pack(">I", 4 + len(body)) + body
    return b"FMR\x00030\x00" + struct.pack(">IHB", 15 + len(representation), 1, int(certification)) + representation


def test_iso2011_is_not_read_as_ansi2007() -> None:
    """ISO/IEC 19794-2:2011 and ANSI 378-2007 both write version "030"; the 2011 general header is 15 bytes."""
    data = iso2011_record(minutiae=[(1, 500, 300, 99, 77), (2, 10, 20, 0, 60)])
    assert detect_format(data) == "iso2011"
    record = decode(data)
    view = record.views[0]
    assert (view.position, view.width, view.height, view.x_resolution, view.y_resolution) == (3, 600, 400, 200, 180)
    assert (view.device_technology, view.device_vendor, view.device_type) == (2, 0x1234, 0x5678)
    assert view.quality_blocks == ((55, 0x5432, 0x9876),) and view.quality == 55
    assert view.ridge_ending_type == 1
    assert [(m.kind, m.x, m.y, m.angle, m.quality) for m in view.minutiae] == [(1, 500, 300, 99, 77), (2, 10, 20, 0, 60)]
    assert encode(record) == data


def test_iso2011_five_byte_minutiae_and_certification_blocks() -> None:
    data = iso2011_record(minutiae=[(1, 5, 6, 7, 0)], field_length=5, certification=True)
    record = decode(data)
    assert record.certification_flag == 1 and record.views[0].certification_blocks == ((0x1234, 1),)
    assert record.views[0].minutiae[0].quality == 254  # not reported
    assert encode(record) == data
    # converted to 2005 the unreported quality becomes 0, the angle unit stays 360/256
    old = convert(record, "iso2005")
    assert old.views[0].minutiae[0].quality == 0 and old.views[0].minutiae[0].angle == 7
    assert decode(encode(old)).format == "iso2005"


@pytest.mark.parametrize(("offset", "value", "reason"), [(14, 2, "certification block flag"), (50, 0x71, "minutia field length"), (50, 0x62, "ridge ending type")])
def test_iso2011_malformed_fields_are_refused_with_offsets(offset: int, value: int, reason: str) -> None:
    data = bytearray(iso2011_record(minutiae=[(1, 5, 6, 7, 50)]))
    data[offset] = value
    with pytest.raises(TemplateFormatError) as err:
        decode(bytes(data))
    assert reason in str(err.value) and err.value.offset == offset


def test_ansi2007_reference_still_reads_as_ansi2007(reference_records: dict[str, bytes]) -> None:
    assert decode(reference_records["ansi2007"]).format == "ansi2007"
    converted = convert(decode(reference_records["ansi2007"]), "iso2011")
    assert decode(encode(converted)).format == "iso2011"


def test_iso2011_reference_sample_from_an_independent_encoder() -> None:
    """FingerprintIO's ISO/IEC 19794-2:2011 sample and its published decoding (JSON)."""
    data = reference("iso19794p2v2011-sample.dat")
    expected = json.loads(reference("iso19794p2v2011-sample.json"))
    record = decode(data)
    assert record.format == "iso2011" and len(record.views) == len(expected["fingerprints"])
    for view, fingerprint in zip(record.views, expected["fingerprints"], strict=True):
        assert (view.width, view.height, view.x_resolution) == (fingerprint["width"], fingerprint["height"], fingerprint["resolutionX"])
        kinds = {"ENDING": 1, "BIFURCATION": 2, "OTHER": 0}
        assert [(m.kind, m.x, m.y, m.angle, m.quality) for m in view.minutiae] == [
            (kinds[m["type"]], m["positionX"], m["positionY"], m["angle"], m["quality"]) for m in fingerprint["minutiae"]]
    assert encode(record) == data


def test_iso2005_reference_sample_from_an_independent_encoder() -> None:
    """FingerprintIO's ISO/IEC 19794-2:2005 sample (two views) against its published decoding."""
    data = reference("iso19794p2v2005-sample.dat")
    expected = json.loads(reference("iso19794p2v2005-sample.json"))
    record = decode(data)
    assert record.format == "iso2005" and len(record.views) == len(expected["fingerprints"]) == 2
    kinds = {"ENDING": 1, "BIFURCATION": 2, "OTHER": 0}
    for view, fingerprint in zip(record.views, expected["fingerprints"], strict=True):
        assert [(m.kind, m.x, m.y, m.angle, m.quality) for m in view.minutiae] == [
            (kinds[m["type"]], m["positionX"], m["positionY"], m["angle"], m["quality"]) for m in fingerprint["minutiae"]]
    assert encode(record) == data


# --- WSQ ---------------------------------------------------------------------------------------------------


def _wsq_bytes(width: int = 320, height: int = 360) -> bytes:
    import wsq  # noqa: F401

    picture = Image.new("L", (width, height))
    picture.putdata([(x * 7 + y * 3) % 256 for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    picture.save(buffer, format="WSQ")
    return buffer.getvalue()


def test_wsq_images_are_read_not_refused() -> None:
    """WSQ (FBI IAFIS-IC-0110) is decoded; it used to be refused with 415."""
    data = _wsq_bytes()
    assert data[:2] == b"\xff\xa0"
    image = load_image(data)
    assert (image.width, image.height, image.source_format) == (320, 360, "WSQ")


def test_nist_wsq_reference_image_and_its_declared_resolution() -> None:
    data = reference("img.wsq")
    assert wsq_declared_ppi(data) == 500.0
    image = load_image(data)
    assert (image.width, image.height) == (256, 256) and not image.resolution_assumed


# --- ANSI/NIST-ITL 1-2011 ------------------------------------------------------------------------------------


def _tagged(record_type: int, fields: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(f"{record_type}.{n:03d}:".encode() + v + b"\x1d" for n, v in fields if n != 999)
    tail = b"".join(f"{record_type}.{n:03d}:".encode() + v for n, v in fields if n == 999)
    if tail:
        body += tail + b"\x1c"
    else:
        body = body[:-1] + b"\x1c"
    for digits in range(1, 8):  # the length field counts itself
        length = len(f"{record_type}.001:".encode()) + digits + 1 + len(body)
        if len(str(length)) == digits:
            return f"{record_type}.001:{length}\x1d".encode() + body
    raise AssertionError("record too long")


def _transaction(records: list[tuple[int, bytes]]) -> bytes:
    content = "\x1e".join([f"1\x1f{len(records)}"] + [f"{t}\x1f{i:02d}" for i, (t, _) in enumerate(records, start=1)])
    type1 = _tagged(1, [(2, b"0500"), (3, content.encode()), (4, b"CAR"), (5, b"20260101"), (7, b"DEST"), (8, b"ORIG"), (9, b"TCN1"), (11, b"19.69"), (12, b"19.69")])
    return type1 + b"".join(r for _, r in records)


def test_ansi_nist_type14_wsq_and_type4_and_type9_read_field_by_field() -> None:
    """Type-14 (14.006 HLL, 14.007 VLL, 14.008 SLC=1 ppi, 14.009 THPS, 14.011 CGA=WSQ20, 14.013 FGP, 14.999 data),
    Type-4 (18-byte binary header, GCA 1 = WSQ) and Type-9 legacy minutiae (9.012 'XXXXYYYYTTT')."""
    wsq_image = _wsq_bytes()
    type14 = _tagged(14, [(2, b"01"), (3, b"0"), (4, b"ORIG"), (5, b"20260101"), (6, b"320"), (7, b"360"), (8, b"1"), (9, b"500"),
                          (10, b"500"), (11, b"WSQ20"), (12, b"8"), (13, b"2"), (999, wsq_image)])
    type4 = struct.pack(">IBB", 18 + len(wsq_image), 2, 1) + bytes([7, 255, 255, 255, 255, 255]) + struct.pack(">BHHB", 0, 320, 360, 1) + wsq_image
    mrc = "\x1e".join(["001\x1f01320715248\x1f40\x1fA", "002\x1f02280918078\x1f0\x1fB"]).encode()
    type9 = _tagged(9, [(2, b"03"), (3, b"0"), (4, b"S"), (6, b"2"), (10, b"2"), (12, mrc)])
    transaction = ansi_nist.parse_transaction(_transaction([(14, type14), (4, type4), (9, type9)]))
    assert transaction.version == "0500" and transaction.native_ppmm == 19.69
    first, second = transaction.images
    assert (first.record_type, first.compression, first.width, first.height, first.ppi, first.finger_positions) == (14, "wsq", 320, 360, 500.0, (2,))
    assert (second.record_type, second.idc, second.finger_positions, second.compression) == (4, 2, (7,), "wsq")
    assert second.ppi == pytest.approx(500.1, abs=0.1)  # ISR 0: the native 19.69 ppmm of 1.011
    assert load_image(first.data).width == 320
    (minutiae,) = transaction.minutiae
    m = minutiae.minutiae[0]
    assert (m.x_mm, m.y_mm, m.theta, m.kind, m.quality) == (1.32, 7.15, 248, 1, 40)
    record = minutiae.as_record(image_height_mm=10.0, ppmm=19.69)
    iso = record.views[0].minutiae[0]
    assert (iso.x, iso.y) == (round(1.32 * 19.69), round((10.0 - 7.15) * 19.69))  # origin moved to the upper left
    assert iso.angle == round(248 * 256 / 360)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d: d.replace(b"1.002:0500", b"1.002:0999"), "version"),
    (lambda d: d + b"junk", "after the last record"),
    (lambda d: d[:-10], "declares"),
])
def test_ansi_nist_malformed_transactions_are_refused(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    type9 = _tagged(9, [(2, b"01"), (3, b"0"), (4, b"S"), (10, b"1"), (12, b"001\x1f01320715248\x1f0\x1fA")])
    data = mutate(_transaction([(9, type9)]))
    with pytest.raises(ansi_nist.TransactionFormatError) as err:
        ansi_nist.parse_transaction(data)
    assert reason in str(err.value) and "byte" in str(err.value)


def test_nist_reference_transactions() -> None:
    """NIST's ANSI/NIST-ITL 2011 workshop samples and libbiomeval's Type-9 files."""
    tenprint = ansi_nist.parse_transaction(reference("nist-type-14-tpcard.eft"))
    assert tenprint.version == "0500" and [r.record_type for r in tenprint.records][:3] == [1, 2, 14]
    assert len(tenprint.images) == 14 and all(i.compression == "wsq" for i in tenprint.images)
    first = tenprint.images[0]
    decoded = load_image(first.data)
    assert (decoded.width, decoded.height) == (first.width, first.height) == (804, 752)  # 14.006/14.007 = NISTCOM PIX_WIDTH/HEIGHT
    flats = ansi_nist.parse_transaction(reference("nist-type-4-14-flats.eft"))
    assert [i.record_type for i in flats.images] == [4, 4, 14]
    assert [(i.width, i.height) for i in flats.images[:2]] == [(1608, 1000), (1572, 1000)]
    legacy = ansi_nist.parse_transaction(reference("type9.an2k"))
    (minutiae,) = legacy.minutiae
    assert minutiae.source == "9.012" and len(minutiae.minutiae) == 28  # 9.010 MIN = 28
    assert (minutiae.minutiae[0].x_mm, minutiae.minutiae[0].y_mm, minutiae.minutiae[0].theta) == (1.32, 7.15, 248)
    efs = ansi_nist.parse_transaction(reference("type9-efs.an2k"))
    assert [len(m.minutiae) for m in efs.minutiae] == [60, 35, 68, 37, 54, 48, 53, 59]
    # libbiomeval's deliberately broken file: a duplicate 2.034 field is refused with its offset
    with pytest.raises(ansi_nist.TransactionFormatError, match="2.034 appears twice"):
        ansi_nist.parse_transaction(reference("type9-13.an2k"))


def test_nist_type4_slaps_transaction() -> None:
    """libbiomeval's four-slap file (ANSI/NIST-ITL 1-2007): Type-4 WSQ images at the native 19.69 ppmm,
    finger positions 11-14 (plain thumbs and four-finger slaps), each decoding to its header's size."""
    transaction = ansi_nist.parse_transaction(reference("type4-slaps.an2k"))
    assert transaction.version == "0400"
    assert [(i.record_type, i.compression, i.finger_positions) for i in transaction.images] == [
        (4, "wsq", (14,)), (4, "wsq", (12,)), (4, "wsq", (11,)), (4, "wsq", (13,))]
    for image in transaction.images:
        assert image.ppi == pytest.approx(500.1, abs=0.1)
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.size == (image.width, image.height)


def test_upload_of_a_transaction_uses_its_minutiae() -> None:
    type9 = _tagged(9, [(2, b"01"), (3, b"0"), (4, b"S"), (6, b"3"), (10, b"12"),
                        (12, "\x1e".join(f"{i:03d}\x1f{100 + 40 * i:04d}{200 + 30 * i:04d}{(15 * i) % 360:03d}\x1f50\x1fA" for i in range(1, 13)).encode())])
    parsed = parse_upload(_transaction([(9, type9)]), finger_position=3)
    assert parsed.source == "ansi_nist" and parsed.record.minutiae_count() == 12 and parsed.record.views[0].position == 3
