"""Finger minutiae record codecs: ISO/IEC 19794-2:2005 and :2011, ANSI INCITS 378-2004 / 378-2007.

Written from the record layouts of the standards (checked against NIST's libbiomeval reference
records), not wrapped from a vendor library:

* ISO/IEC 19794-2:2005, clause 7 (record format): a 24-byte record header (7.3: format identifier
  "FMR\\0", version " 20\\0", 4-byte record length, capture equipment compliance and id, image
  size, resolution in pixels per centimetre, number of finger views), then per finger view a 4-byte
  finger view header (7.4: position, view number and impression type in one byte, finger quality,
  number of minutiae), 6 bytes per minutia (7.4.1-7.4.4: 2-bit type and 14-bit x, 2 reserved bits
  and 14-bit y, angle in units of 360/256 degrees, quality 0-100) and an extended data block (7.5:
  2-byte length, then the data, kept here as opaque bytes).
* ANSI INCITS 378-2004, clause 6: version " 20\\0", a record length of 2 bytes (or 0x0000 followed
  by 4 bytes when longer than 65535), a 4-byte CBEFF product identifier, then the same image fields
  (resolution in pixels per centimetre) and finger view layout as above; angles in units of 2 degrees
  (0-179).
* ANSI INCITS 378-2007, clause 6: version "030\\0", a 4-byte record length, CBEFF product id,
  capture equipment, number of views; image size and resolution move into each finger view, which
  also carries separate view number and impression type bytes and a 4-byte quality algorithm id.
* ISO/IEC 19794-2:2011 (clause 8, with the general header of ISO/IEC 19794-1:2011): version "030\\0"
  like ANSI 378-2007 but a 15-byte general header (format identifier, version, 4-byte record length,
  2-byte number of finger representations, device certification block flag); each representation
  starts with its 4-byte length, the 9-byte capture date and time, capture device technology (1),
  vendor (2) and type (2) identifiers, the quality blocks (count, then 5 bytes each: score, algorithm
  vendor, algorithm id) and, only when the flag is set, the certification blocks (count, then 3 bytes
  each); then finger position, representation (view) number, horizontal and vertical resolution in
  pixels per centimetre (2 each), impression type, image width and height (2 each), one byte with the
  minutia field length (5 or 6, high nibble) and the ridge ending type (low nibble), the number of
  minutiae, the minutiae (type and x, reserved bits and y, angle in 360/256 degrees, and the quality
  only when the field length is 6) and the extended data block (2-byte length, then the data). It is
  told apart from ANSI 378-2007 by its structure: the representation lengths add up to the record
  length less the 15-byte header. Checked against the ISO 2011 sample of FingerprintIO (see
  `tests/biometrics/test_formats.py` for provenance).

`decode` refuses a malformed record with `TemplateFormatError`, which names the byte offset and the
reason and never echoes the record's content. `encode(decode(b)) == b` for every record `decode`
accepts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Literal

from passage.core.errors import InvalidInput
from passage.core.i18n import N_, T_

RecordFormat = Literal["iso2005", "ansi2004", "ansi2007", "iso2011"]

FORMAT_ID = b"FMR\x00"
ISO_ANGLE_DEGREES = 360.0 / 256.0
ANSI_ANGLE_DEGREES = 2.0
VERSIONS: dict[bytes, RecordFormat] = {b" 20\x00": "iso2005", b"030\x00": "ansi2007"}
"""Version bytes; " 20\\0" is shared by ISO 2005 and ANSI 2004, "030\\0" by ANSI 2007 and ISO 2011; each pair is
told apart by the header's structure."""
ISO_2011_HEADER_BYTES = 15
ISO_FORMATS: frozenset[str] = frozenset({"iso2005", "iso2011"})
VIEW_IMAGE_FORMATS: frozenset[str] = frozenset({"ansi2007", "iso2011"})
"""Formats whose image size and resolution live in each finger view rather than in the record header."""


def angle_unit(record_format: str) -> float:
    """Degrees per angle unit: 360/256 in the ISO formats, 2 in the ANSI ones."""
    return ISO_ANGLE_DEGREES if record_format in ISO_FORMATS else ANSI_ANGLE_DEGREES

MINUTIA_TYPE_NAMES = {0: "other", 1: "ridge_ending", 2: "bifurcation"}
MAX_RECORD_BYTES = 1 << 20


class RecordFormatError(InvalidInput):
    """A biometric record or transaction that does not follow its standard; `offset` is the failing byte.

    The one error of every reader in this package (minutiae records, ISO/IEC 39794-4 blocks, ANSI/NIST-ITL
    transactions); each names what it reads in `record_kind`."""

    code = "record_format"
    record_kind = N_("biometric record")

    def __init__(self, offset: int, reason: str):
        super().__init__(T_("invalid {kind} at byte {offset}: {reason}", kind=T_(self.record_kind), offset=offset, reason=reason),
                         extra={"offset": offset})
        self.offset = offset
        self.reason = reason


class TemplateFormatError(RecordFormatError):
    """A finger minutiae record that does not follow its standard."""

    code = "template_format"
    record_kind = N_("minutiae record")


@dataclass(frozen=True)
class Minutia:
    """One minutia (ISO/IEC 19794-2:2005 7.4.1-7.4.4); `angle` is in the record's own units."""

    kind: int
    x: int
    y: int
    angle: int
    quality: int

    def angle_degrees(self, record_format: RecordFormat) -> float:
        """Angle counter-clockwise from the x axis, in degrees."""
        return self.angle * angle_unit(record_format)


@dataclass(frozen=True)
class FingerView:
    """One finger view. Image fields are filled only for ANSI 378-2007, where they live in the view."""

    position: int
    view_number: int
    impression_type: int
    quality: int
    minutiae: tuple[Minutia, ...]
    extended_data: bytes = b""
    extended_declared_length: int | None = None
    """Set only when a tolerant read met an extended data block cut short by the end of the record."""

    quality_algorithm_id: int = 0
    width: int = 0
    height: int = 0
    x_resolution: int = 0
    y_resolution: int = 0

    # ISO/IEC 19794-2:2011 representation header (ISO/IEC 19794-1:2011 clause 13); empty for the other formats
    capture_datetime: bytes = b""
    """9 bytes: year (2), month, day, hour, minute, second (1 each), millisecond (2); 0xFF where unknown."""
    device_technology: int = 0
    device_vendor: int = 0
    device_type: int = 0
    quality_blocks: tuple[tuple[int, int, int], ...] = ()
    """(score, algorithm vendor id, algorithm id); a score of 255 means the quality could not be computed."""
    certification_blocks: tuple[tuple[int, int], ...] = ()
    """(certification authority id, certification scheme id)."""
    ridge_ending_type: int = 0
    """0: ridge skeleton end point, 1: valley skeleton bifurcation point."""
    minutia_quality_present: bool = True
    """False for 5-byte minutiae (no quality byte); their `quality` is then 254, "not reported"."""


@dataclass(frozen=True)
class MinutiaeRecord:
    """A whole finger minutiae record. Resolutions are pixels per centimetre (197 = 500 ppi)."""

    format: RecordFormat
    capture_equipment_compliance: int
    capture_equipment_id: int
    views: tuple[FingerView, ...]
    width: int = 0
    height: int = 0
    x_resolution: int = 0
    y_resolution: int = 0
    cbeff_owner: int = 0
    cbeff_type: int = 0
    reserved_header_byte: int = 0
    long_length_field: bool = False
    """ANSI 378-2004 only: the length was written as 0x0000 plus 4 bytes even though it fits in 2."""

    trailing_data: bytes = b""
    """Bytes inside the declared record length after the last finger view (tolerant reads only)."""

    warnings: tuple[str, ...] = field(default=(), compare=False)
    """What a tolerant read accepted that a strict read refuses, with byte offsets."""

    certification_flag: int = 0
    """ISO 2011 only: 1 when each representation carries certification blocks."""

    def image_size(self, view: FingerView) -> tuple[int, int]:
        """Width and height that apply to `view` (from the view in ANSI 2007 and ISO 2011, else the header)."""
        if self.format in VIEW_IMAGE_FORMATS:
            return view.width, view.height
        return self.width, self.height

    def resolution(self, view: FingerView) -> tuple[int, int]:
        if self.format in VIEW_IMAGE_FORMATS:
            return view.x_resolution, view.y_resolution
        return self.x_resolution, self.y_resolution

    def minutiae_count(self) -> int:
        return sum(len(v.minutiae) for v in self.views)


class _Reader:
    def __init__(self, data: bytes, start: int = 0, end: int | None = None):
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def take(self, size: int, what: str) -> bytes:
        if self.pos + size > self.end:
            raise TemplateFormatError(self.pos, f"record ends inside {what} ({size} bytes needed, {self.end - self.pos} left)")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int(struct.unpack(">H", self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int(struct.unpack(">I", self.take(4, what))[0])


def detect_format(data: bytes) -> RecordFormat:
    """Tell the three formats apart from the header alone (ISO 2005 and ANSI 2004 share version " 20")."""
    if len(data) < 8:
        raise TemplateFormatError(len(data), "record shorter than its 8-byte format identifier and version")
    if data[:4] != FORMAT_ID:
        raise TemplateFormatError(0, "format identifier is not 'FMR\\0' (not a finger minutiae record)")
    version = data[4:8]
    if version not in VERSIONS:
        raise TemplateFormatError(4, "unsupported format version (supported: ISO/IEC 19794-2:2005 and :2011, ANSI INCITS 378-2004 and 378-2007)")
    if VERSIONS[version] == "ansi2007":
        return "iso2011" if _looks_like_iso2011(data) else "ansi2007"
    # ISO 2005 has a 4-byte length equal to the record size; ANSI 2004 a 2-byte one (or 0x0000 + 4 bytes).
    if len(data) >= 12 and struct.unpack(">I", data[8:12])[0] == len(data):
        return "iso2005"
    if len(data) >= 10:
        short = struct.unpack(">H", data[8:10])[0]
        if short == len(data) or (short == 0 and len(data) >= 14 and struct.unpack(">I", data[10:14])[0] == len(data)):
            return "ansi2004"
    raise TemplateFormatError(8, "record length field does not match the size of the record")


def _looks_like_iso2011(data: bytes) -> bool:
    """ISO/IEC 19794-2:2011 and ANSI 378-2007 share version "030": the 2011 record is the one whose
    representation lengths, walked from byte 15, add up exactly to the record length."""
    if len(data) < ISO_2011_HEADER_BYTES or struct.unpack(">I", data[8:12])[0] != len(data):
        return False
    count = struct.unpack(">H", data[12:14])[0]
    if count == 0:
        return False
    position = ISO_2011_HEADER_BYTES
    for _ in range(count):
        if position + 4 > len(data):
            return False
        length = struct.unpack(">I", data[position : position + 4])[0]
        if length < 14:
            return False
        position += length
    return position == len(data)


def decode(data: bytes, *, expected_format: RecordFormat | None = None, strict: bool = False) -> MinutiaeRecord:
    """Parse a finger minutiae record; raise `TemplateFormatError` (with byte offset) if malformed.

    Two deviations seen in NIST's own reference records are tolerated unless `strict`: bytes after the
    last finger view but inside the declared record length (kept as `trailing_data`), and an extended
    data block of the last view whose declared length runs past the end of the record (the bytes
    present are kept with the declared length). Both are reported in `warnings` and written back
    unchanged, so re-encoding is byte-exact. Everything else that breaks the layout is refused.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TemplateFormatError(0, "record is not bytes")
    data = bytes(data)
    if not data:
        raise TemplateFormatError(0, "the template is empty")
    if len(data) > MAX_RECORD_BYTES:
        raise TemplateFormatError(MAX_RECORD_BYTES, "record is larger than 1 MiB")
    record_format = detect_format(data)
    if expected_format is not None and record_format != expected_format:
        raise TemplateFormatError(4, f"record is {record_format}, expected {expected_format}")
    if record_format == "iso2011":
        return _decode_iso2011(data)
    reader = _Reader(data, 8)
    long_length = False
    cbeff_owner = cbeff_type = 0
    if record_format == "ansi2004":
        length = reader.u16("record length")
        if length == 0:
            length = reader.u32("extended record length")
            long_length = True
    else:
        length = reader.u32("record length")
    if length != len(data):
        raise TemplateFormatError(8, f"record length field says {length} bytes, record has {len(data)}")
    if record_format != "iso2005":
        cbeff_owner = reader.u16("CBEFF product owner")
        cbeff_type = reader.u16("CBEFF product type")
    equipment = reader.u16("capture equipment")
    width = height = x_res = y_res = 0
    if record_format != "ansi2007":
        width = reader.u16("image width")
        height = reader.u16("image height")
        res_offset = reader.pos
        x_res = reader.u16("x resolution")
        y_res = reader.u16("y resolution")
        if x_res == 0 or y_res == 0:
            raise TemplateFormatError(res_offset, "image resolution is zero")
    views_offset = reader.pos
    view_count = reader.u8("number of finger views")
    reserved = reader.u8("reserved header byte")
    if view_count == 0:
        raise TemplateFormatError(views_offset, "record has no finger view (empty template)")
    warnings: list[str] = []
    views = tuple(
        _decode_view(reader, record_format, width, height, index, tolerate_short_extension=not strict and index == view_count - 1,
                     warnings=warnings)
        for index in range(view_count)
    )
    trailing = b""
    if reader.pos != len(data):
        if strict:
            raise TemplateFormatError(reader.pos, f"{len(data) - reader.pos} bytes after the last finger view")
        warnings.append(f"byte {reader.pos}: {len(data) - reader.pos} bytes after the last finger view kept opaque")
        trailing = data[reader.pos :]
    return MinutiaeRecord(
        format=record_format,
        capture_equipment_compliance=equipment >> 12,
        capture_equipment_id=equipment & 0x0FFF,
        views=views,
        width=width,
        height=height,
        x_resolution=x_res,
        y_resolution=y_res,
        cbeff_owner=cbeff_owner,
        cbeff_type=cbeff_type,
        reserved_header_byte=reserved,
        long_length_field=long_length and length <= 0xFFFF,
        trailing_data=trailing,
        warnings=tuple(warnings),
    )


def _decode_view(reader: _Reader, record_format: RecordFormat, width: int, height: int, index: int, *,
                 tolerate_short_extension: bool, warnings: list[str]) -> FingerView:
    start = reader.pos
    position = reader.u8(f"finger position of view {index}")
    if position > 15:
        raise TemplateFormatError(start, f"finger position {position} is outside 0-15 (view {index})")
    quality_algorithm_id = 0
    x_res = y_res = 0
    if record_format == "ansi2007":
        view_number = reader.u8(f"view number of view {index}")
        impression_type = reader.u8(f"impression type of view {index}")
        if view_number > 15 or impression_type > 15:
            raise TemplateFormatError(start + 1, f"view number or impression type out of range (view {index})")
        quality_offset = reader.pos
        quality = reader.u8(f"finger quality of view {index}")
        quality_algorithm_id = reader.u32(f"quality algorithm id of view {index}")
        width = reader.u16(f"image width of view {index}")
        height = reader.u16(f"image height of view {index}")
        res_offset = reader.pos
        x_res = reader.u16(f"x resolution of view {index}")
        y_res = reader.u16(f"y resolution of view {index}")
        if x_res == 0 or y_res == 0:
            raise TemplateFormatError(res_offset, f"image resolution is zero (view {index})")
    else:
        packed = reader.u8(f"view number and impression type of view {index}")
        view_number, impression_type = packed >> 4, packed & 0x0F
        quality_offset = reader.pos
        quality = reader.u8(f"finger quality of view {index}")
    if quality > 100:
        raise TemplateFormatError(quality_offset, f"finger quality {quality} is above 100 (view {index})")
    count_offset = reader.pos
    count = reader.u8(f"number of minutiae of view {index}")
    if reader.pos + 6 * count > reader.end:
        raise TemplateFormatError(count_offset, f"view {index} declares {count} minutiae but the record ends first")
    minutiae = []
    for m in range(count):
        offset = reader.pos
        type_x = reader.u16("minutia type and x")
        reserved_y = reader.u16("minutia y")
        angle = reader.u8("minutia angle")
        quality_m = reader.u8("minutia quality")
        kind, x = type_x >> 14, type_x & 0x3FFF
        if kind == 3:
            raise TemplateFormatError(offset, f"minutia {m} of view {index} has the reserved type 11b")
        if reserved_y >> 14:
            raise TemplateFormatError(offset + 2, f"reserved bits above y are set (minutia {m}, view {index})")
        y = reserved_y & 0x3FFF
        if width and x >= width:
            raise TemplateFormatError(offset, f"minutia {m} of view {index}: x is outside the image width")
        if height and y >= height:
            raise TemplateFormatError(offset + 2, f"minutia {m} of view {index}: y is outside the image height")
        if record_format != "iso2005" and angle > 179:
            raise TemplateFormatError(offset + 4, f"minutia {m} of view {index}: angle {angle} is above 179 (2-degree units)")
        if quality_m > 100:
            raise TemplateFormatError(offset + 5, f"minutia {m} of view {index}: quality {quality_m} is above 100")
        minutiae.append(Minutia(kind=kind, x=x, y=y, angle=angle, quality=quality_m))
    ext_offset = reader.pos
    ext_length = reader.u16(f"extended data block length of view {index}")
    declared: int | None = None
    if reader.pos + ext_length > reader.end:
        if not tolerate_short_extension:
            raise TemplateFormatError(ext_offset, f"extended data block of view {index} runs past the end of the record")
        missing = reader.pos + ext_length - reader.end
        warnings.append(f"byte {ext_offset}: extended data block of view {index} declares {missing} byte(s) more than the record holds")
        declared = ext_length
        ext_length = reader.end - reader.pos
    extended = reader.take(ext_length, "extended data")
    return FingerView(
        position=position,
        view_number=view_number,
        impression_type=impression_type,
        quality=quality,
        minutiae=tuple(minutiae),
        extended_data=extended,
        extended_declared_length=declared,
        quality_algorithm_id=quality_algorithm_id,
        width=width if record_format == "ansi2007" else 0,
        height=height if record_format == "ansi2007" else 0,
        x_resolution=x_res,
        y_resolution=y_res,
    )


def _decode_iso2011(data: bytes) -> MinutiaeRecord:
    """ISO/IEC 19794-2:2011 clause 8 (layout in the module docstring); every length is checked."""
    reader = _Reader(data, 8)
    reader.u32("record length")  # equal to len(data): checked by detect_format
    count_offset = reader.pos
    count = reader.u16("number of finger representations")
    flag_offset = reader.pos
    certification_flag = reader.u8("device certification block flag")
    if count == 0:
        raise TemplateFormatError(count_offset, "record has no finger representation (empty template)")
    if certification_flag > 1:
        raise TemplateFormatError(flag_offset, "device certification block flag is neither 0 nor 1")
    views = []
    for index in range(count):
        start = reader.pos
        length = reader.u32(f"length of representation {index}")
        end = start + length
        if end > len(data):
            raise TemplateFormatError(start, f"representation {index} declares {length} bytes but the record ends first")
        view_reader = _Reader(data, reader.pos, end)
        views.append(_decode_iso2011_view(view_reader, index, certification_flag))
        if view_reader.pos != end:
            raise TemplateFormatError(view_reader.pos, f"representation {index} has {end - view_reader.pos} bytes after its extended data")
        reader.pos = end
    first = views[0]
    return MinutiaeRecord(format="iso2011", capture_equipment_compliance=0, capture_equipment_id=first.device_type,
                          views=tuple(views), certification_flag=certification_flag)


def _decode_iso2011_view(reader: _Reader, index: int, certification_flag: int) -> FingerView:
    capture = reader.take(9, f"capture date and time of representation {index}")
    technology = reader.u8(f"capture device technology of representation {index}")
    vendor = reader.u16(f"capture device vendor of representation {index}")
    device_type = reader.u16(f"capture device type of representation {index}")
    quality_blocks = []
    for q in range(reader.u8(f"number of quality blocks of representation {index}")):
        score_offset = reader.pos
        score = reader.u8(f"quality score {q} of representation {index}")
        if score > 100 and score != 255:
            raise TemplateFormatError(score_offset, f"quality score {score} is neither 0-100 nor 255 (representation {index})")
        quality_blocks.append((score, reader.u16("quality algorithm vendor"), reader.u16("quality algorithm id")))
    certifications = []
    if certification_flag:
        for _ in range(reader.u8(f"number of certification blocks of representation {index}")):
            certifications.append((reader.u16("certification authority"), reader.u8("certification scheme")))
    position_offset = reader.pos
    position = reader.u8(f"finger position of representation {index}")
    if position > 15:
        raise TemplateFormatError(position_offset, f"finger position {position} is outside 0-15 (representation {index})")
    view_number = reader.u8(f"representation number of representation {index}")
    res_offset = reader.pos
    x_res = reader.u16(f"horizontal resolution of representation {index}")
    y_res = reader.u16(f"vertical resolution of representation {index}")
    if x_res == 0 or y_res == 0:
        raise TemplateFormatError(res_offset, f"image resolution is zero (representation {index})")
    impression_type = reader.u8(f"impression type of representation {index}")
    width = reader.u16(f"image width of representation {index}")
    height = reader.u16(f"image height of representation {index}")
    field_offset = reader.pos
    packed = reader.u8(f"minutia field length and ridge ending type of representation {index}")
    field_length, ending_type = packed >> 4, packed & 0x0F
    if field_length not in (5, 6):
        raise TemplateFormatError(field_offset, f"minutia field length {field_length} is neither 5 nor 6 (representation {index})")
    if ending_type > 1:
        raise TemplateFormatError(field_offset, f"ridge ending type {ending_type} is neither 0 nor 1 (representation {index})")
    count_offset = reader.pos
    count = reader.u8(f"number of minutiae of representation {index}")
    if reader.pos + field_length * count > reader.end:
        raise TemplateFormatError(count_offset, f"representation {index} declares {count} minutiae but it ends first")
    minutiae = []
    for m in range(count):
        offset = reader.pos
        type_x = reader.u16("minutia type and x")
        reserved_y = reader.u16("minutia y")
        angle = reader.u8("minutia angle")
        quality = reader.u8("minutia quality") if field_length == 6 else 254
        kind, x = type_x >> 14, type_x & 0x3FFF
        if kind == 3:
            raise TemplateFormatError(offset, f"minutia {m} of representation {index} has the reserved type 11b")
        if reserved_y >> 14:
            raise TemplateFormatError(offset + 2, f"reserved bits above y are set (minutia {m}, representation {index})")
        y = reserved_y & 0x3FFF
        if width and x >= width:
            raise TemplateFormatError(offset, f"minutia {m} of representation {index}: x is outside the image width")
        if height and y >= height:
            raise TemplateFormatError(offset + 2, f"minutia {m} of representation {index}: y is outside the image height")
        if quality > 100 and quality not in (254, 255):
            raise TemplateFormatError(offset + 5, f"minutia {m} of representation {index}: quality {quality} is not 0-100, 254 or 255")
        minutiae.append(Minutia(kind=kind, x=x, y=y, angle=angle, quality=quality))
    ext_offset = reader.pos
    ext_length = reader.u16(f"extended data block length of representation {index}")
    if reader.pos + ext_length > reader.end:
        raise TemplateFormatError(ext_offset, f"extended data block of representation {index} runs past its end")
    extended = reader.take(ext_length, "extended data")
    finger_quality = next((score for score, _, _ in quality_blocks if score <= 100), 0)
    return FingerView(
        position=position, view_number=view_number, impression_type=impression_type, quality=finger_quality,
        minutiae=tuple(minutiae), extended_data=extended, width=width, height=height, x_resolution=x_res, y_resolution=y_res,
        capture_datetime=capture, device_technology=technology, device_vendor=vendor, device_type=device_type,
        quality_blocks=tuple(quality_blocks), certification_blocks=tuple(certifications), ridge_ending_type=ending_type,
        minutia_quality_present=field_length == 6,
    )


UNKNOWN_CAPTURE_TIME = b"\xff" * 9


def _encode_iso2011_view(record: MinutiaeRecord, view: FingerView) -> bytes:
    if len(view.minutiae) > 255:
        raise InvalidInput(N_("a finger representation holds at most 255 minutiae"))
    quality_blocks = view.quality_blocks or ((view.quality, 0, 0),)
    parts = [view.capture_datetime or UNKNOWN_CAPTURE_TIME, struct.pack(">BHH", view.device_technology, view.device_vendor, view.device_type)]
    parts.append(struct.pack(">B", len(quality_blocks)) + b"".join(struct.pack(">BHH", *q) for q in quality_blocks))
    if record.certification_flag:
        parts.append(struct.pack(">B", len(view.certification_blocks)) + b"".join(struct.pack(">HB", *c) for c in view.certification_blocks))
    field_length = 6 if view.minutia_quality_present else 5
    parts.append(struct.pack(">BBHHBHHBB", view.position, view.view_number, view.x_resolution, view.y_resolution, view.impression_type,
                             view.width, view.height, (field_length << 4) | view.ridge_ending_type, len(view.minutiae)))
    for m in view.minutiae:
        parts.append(struct.pack(">HHB", (m.kind << 14) | m.x, m.y, m.angle) + (struct.pack(">B", m.quality) if field_length == 6 else b""))
    parts.append(struct.pack(">H", len(view.extended_data)) + view.extended_data)
    body = b"".join(parts)
    return struct.pack(">I", 4 + len(body)) + body


def _encode_view(record: MinutiaeRecord, view: FingerView) -> bytes:
    parts: list[bytes] = []
    if len(view.minutiae) > 255:
        raise InvalidInput(N_("a finger view holds at most 255 minutiae"))
    if record.format == "ansi2007":
        parts.append(struct.pack(">BBBBIHHHHB", view.position, view.view_number, view.impression_type, view.quality,
                                 view.quality_algorithm_id, view.width, view.height, view.x_resolution, view.y_resolution,
                                 len(view.minutiae)))
    else:
        parts.append(struct.pack(">BBBB", view.position, (view.view_number << 4) | view.impression_type, view.quality, len(view.minutiae)))
    for m in view.minutiae:
        parts.append(struct.pack(">HHBB", (m.kind << 14) | m.x, m.y, m.angle, m.quality))
    declared = len(view.extended_data) if view.extended_declared_length is None else view.extended_declared_length
    parts.append(struct.pack(">H", declared))
    parts.append(view.extended_data)
    return b"".join(parts)


def encode(record: MinutiaeRecord) -> bytes:
    """Serialise a record in its own format; the inverse of `decode`."""
    if not record.views:
        raise InvalidInput(N_("a minutiae record needs at least one finger view"))
    if record.format == "iso2011":
        representations = b"".join(_encode_iso2011_view(record, v) for v in record.views)
        total = ISO_2011_HEADER_BYTES + len(representations)
        return FORMAT_ID + b"030\x00" + struct.pack(">IHB", total, len(record.views), record.certification_flag) + representations
    body = b"".join(_encode_view(record, v) for v in record.views) + record.trailing_data
    equipment = (record.capture_equipment_compliance << 12) | record.capture_equipment_id
    tail = struct.pack(">BB", len(record.views), record.reserved_header_byte)
    image = struct.pack(">HHHH", record.width, record.height, record.x_resolution, record.y_resolution)
    cbeff = struct.pack(">HH", record.cbeff_owner, record.cbeff_type)
    if record.format == "iso2005":
        rest = struct.pack(">H", equipment) + image + tail + body
        return FORMAT_ID + b" 20\x00" + struct.pack(">I", 12 + len(rest)) + rest
    if record.format == "ansi2007":
        rest = cbeff + struct.pack(">H", equipment) + tail + body
        return FORMAT_ID + b"030\x00" + struct.pack(">I", 12 + len(rest)) + rest
    rest = cbeff + struct.pack(">H", equipment) + image + tail + body
    total = 10 + len(rest)
    if total <= 0xFFFF and not record.long_length_field:
        return FORMAT_ID + b" 20\x00" + struct.pack(">H", total) + rest
    return FORMAT_ID + b" 20\x00" + struct.pack(">HI", 0, total + 4) + rest


def _convert_angle(angle: int, source: RecordFormat, target: RecordFormat) -> int:
    if (source in ISO_FORMATS) == (target in ISO_FORMATS):
        return angle
    if target in ISO_FORMATS:
        return round(angle * ANSI_ANGLE_DEGREES / ISO_ANGLE_DEGREES) % 256
    return round(angle * ISO_ANGLE_DEGREES / ANSI_ANGLE_DEGREES) % 180


def convert(record: MinutiaeRecord, target: RecordFormat) -> MinutiaeRecord:
    """Re-express a record in another format: angle units change (ISO 360/256 degrees, ANSI 2 degrees)
    and image fields move between header (ISO 2005, ANSI 2004) and view (ANSI 2007)."""
    if record.format == target:
        return record
    views: list[FingerView] = []
    for view in record.views:
        width, height = record.image_size(view)
        x_res, y_res = record.resolution(view)
        minutiae = tuple(replace(m, angle=_convert_angle(m.angle, record.format, target)) for m in view.minutiae)
        view = replace(view, extended_declared_length=None)
        if target != "iso2011":
            # 2011 minutia qualities 254/255 ("not reported", "failed") have no counterpart in the older formats
            minutiae = tuple(m if m.quality <= 100 else replace(m, quality=0) for m in minutiae)
            view = replace(view, capture_datetime=b"", device_technology=0, device_vendor=0, device_type=0, quality_blocks=(),
                           certification_blocks=(), ridge_ending_type=0, minutia_quality_present=True)
        if target in VIEW_IMAGE_FORMATS:
            views.append(replace(view, minutiae=minutiae, width=width, height=height, x_resolution=x_res, y_resolution=y_res))
        else:
            views.append(replace(view, minutiae=minutiae, width=0, height=0, x_resolution=0, y_resolution=0, quality_algorithm_id=0,
                                 view_number=min(view.view_number, 15), impression_type=min(view.impression_type, 15)))
    first = record.views[0]
    width, height = record.image_size(first)
    x_res, y_res = record.resolution(first)
    # Converted records are written clean: quirks kept for byte-exact round trips are not carried over.
    clean = replace(record, format=target, views=tuple(views), long_length_field=False, trailing_data=b"", warnings=(),
                    certification_flag=record.certification_flag if target == "iso2011" else 0)
    if target == "iso2005":
        return replace(clean, width=width, height=height, x_resolution=x_res, y_resolution=y_res, cbeff_owner=0, cbeff_type=0)
    if target == "ansi2004":
        return replace(clean, width=width, height=height, x_resolution=x_res, y_resolution=y_res)
    return replace(clean, width=0, height=0, x_resolution=0, y_resolution=0, cbeff_owner=0 if target == "iso2011" else clean.cbeff_owner,
                   cbeff_type=0 if target == "iso2011" else clean.cbeff_type)
