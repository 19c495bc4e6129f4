"""ISO/IEC 39794-4:2019 finger image data, extensible format, in its ASN.1 tagged binary encoding (DER).

Note on the part number: ISO/IEC 39794-4 is *finger image* data (the successor of ISO/IEC 19794-4, used by
ICAO 9303 for fingerprints in passports' DG3). Finger *minutiae* are ISO/IEC 39794-2, which Passage does not
read: its ASN.1 module could not be obtained here, and no record of it was available to test against.

Written from the structure of ISO's ASN.1 module `ISO-IEC-39794-4-ed-1-v2` (published with the standard at
standards.iso.org/iso-iec/39794/-4/ed-1/en/). The module's definitions were read as quoted in the comments
of JMRTD's `org.jmrtd.lds.iso39794` package (LGPL; none of its code is used here). What is read:

    FingerImageDataBlock ::= [APPLICATION 4] SEQUENCE {
      versionBlock [0] VersionBlock, representationBlocks [1] RepresentationBlocks, ... }
    VersionBlock ::= SEQUENCE { generation [0] INTEGER, year [1] INTEGER, ... }
    RepresentationBlock ::= SEQUENCE {
      position [0] Position, impression [1] Impression, imageDataFormat [2] ImageDataFormat,
      imageData [3] OCTET STRING, captureDateTimeBlock [4] DateTimeBlock OPTIONAL,
      captureDeviceBlock [5] CaptureDeviceBlock OPTIONAL, qualityBlocks [6] QualityBlocks OPTIONAL,
      spatialSamplingRateBlock [7] SpatialSamplingRateBlock OPTIONAL,
      positionComputedByCaptureSystem [8] BOOLEAN OPTIONAL, originalRotation [9] INTEGER (0..359) OPTIONAL,
      imageRotatedToVertical [10] BOOLEAN OPTIONAL, imageHasBeenLossilyCompressed [11] BOOLEAN OPTIONAL,
      segmentationBlocks [12] OPTIONAL, annotationBlocks [13] OPTIONAL, pADDataBlock [14] OPTIONAL,
      commentBlocks [15] SEQUENCE OF VisibleString OPTIONAL, vendorSpecificDataBlocks [16] OPTIONAL, ... }
    Position, Impression, ImageDataFormat, CaptureDeviceTechnologyId ::= CHOICE {
      code [0] <code>, extensionBlock [1] ... }
    DateTimeBlock ::= SEQUENCE { year [0], month [1] OPTIONAL, day [2] OPTIONAL, hour [3] OPTIONAL,
      minute [4] OPTIONAL, second [5] OPTIONAL, millisecond [6] OPTIONAL }
    CaptureDeviceBlock ::= SEQUENCE { modelIdBlock [0] RegistryIdBlock,
      technologyId [1] CaptureDeviceTechnologyId OPTIONAL, certificationIdBlocks [2] SEQUENCE OF RegistryIdBlock OPTIONAL, ... }
    RegistryIdBlock ::= SEQUENCE { organization [0] INTEGER (1..65535), id [1] INTEGER (1..65535) }
    QualityBlock ::= SEQUENCE { algorithmIdBlock [0] RegistryIdBlock, scoreOrError [1] CHOICE {
      score [0] INTEGER (0..100), error [1] ScoringError }, ... }
    SpatialSamplingRateBlock ::= SEQUENCE { samplesPerUnit [0] INTEGER (0..65535), unitDimension [1] { inch(0), cm(1) } }

Image data formats: 0 PGM, 1 WSQ, 2 JPEG 2000 lossy, 3 JPEG 2000 lossless, 4 PNG. Impressions: 0 plain
contact, 1 rolled contact, 4 latent, 8 swipe, 24/25 contactless stationary plain/rolled, 41/42 contactless
moving plain/rolled, 28 other, 29 unknown. Finger positions follow ISO/IEC 19794-4 (0 unknown, 1-10 the
fingers, 11-15 plain multi-finger impressions).

Encoding (X.690 DER, tags as in the module): a context tag [n] on an INTEGER, BOOLEAN, OCTET STRING or
enumeration is primitive (0x80|n, implicit); on a SEQUENCE or SEQUENCE OF it is constructed (0xA0|n,
implicit); on a CHOICE it is constructed and explicit, the chosen alternative inside (so `position [0]`
holding code 1 is A0 03 80 01 01). Fields this reader does not interpret (segmentation, annotation, PAD,
vendor data, and any extension after "...") are kept as their exact TLV bytes so that writing a decoded
record gives back the same bytes. Extension-block alternatives of the CHOICEs are refused: they carry
codes from a later edition which this reader cannot name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from passage.biometrics.codec import RecordFormatError
from passage.core.i18n import N_

APPLICATION_4 = 0x64
"""[APPLICATION 4], constructed: the tag of FingerImageDataBlock."""
IMAGE_FORMATS = {0: "pgm", 1: "wsq", 2: "jpeg2000", 3: "jpeg2000", 4: "png"}
IMPRESSIONS = {0: "plain contact", 1: "rolled contact", 4: "latent", 8: "swipe", 24: "contactless plain (stationary)",
               25: "contactless rolled (stationary)", 41: "contactless plain (moving)", 42: "contactless rolled (moving)",
               28: "other", 29: "unknown"}
INTERPRETED_TAGS = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15})
CM_PER_INCH = 2.54


class Iso39794FormatError(RecordFormatError):
    """A finger image data block that does not follow ISO/IEC 39794-4."""

    code = "iso39794_format"
    record_kind = N_("ISO/IEC 39794-4 finger image record")


@dataclass(frozen=True)
class QualityScore:
    """One QualityBlock: the algorithm's registry identifiers and its score (0-100) or its error code."""

    organization: int
    algorithm: int
    score: int | None = None
    error: int | None = None


@dataclass(frozen=True)
class FingerImageRepresentation:
    position: int
    impression: int
    image_format: int
    image: bytes
    capture: tuple[int, ...] = ()
    """(year[, month, day, hour, minute, second, millisecond]) as present, in that order."""
    device_model: tuple[int, int] | None = None
    device_technology: int | None = None
    certifications: tuple[tuple[int, int], ...] = ()
    quality: tuple[QualityScore, ...] = ()
    sampling_rate: tuple[int, int] | None = None
    """(samples per unit, unit: 0 inch, 1 centimetre)."""
    position_computed: bool | None = None
    rotation: int | None = None
    rotated_to_vertical: bool | None = None
    lossily_compressed: bool | None = None
    comments: tuple[str, ...] = ()
    kept: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    """Fields not interpreted here, as (tag number, exact TLV bytes), written back unchanged."""

    @property
    def compression(self) -> str:
        return IMAGE_FORMATS.get(self.image_format, "unknown")

    @property
    def ppi(self) -> float | None:
        if self.sampling_rate is None or self.sampling_rate[0] == 0:
            return None
        samples, unit = self.sampling_rate
        return float(samples) if unit == 0 else samples * CM_PER_INCH


@dataclass(frozen=True)
class FingerImageRecord:
    generation: int
    year: int
    representations: tuple[FingerImageRepresentation, ...]


# --- DER primitives ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tlv:
    cls: int  # 0 universal, 1 application, 2 context, 3 private
    constructed: bool
    number: int
    start: int  # first byte of the tag
    content: int  # first byte of the value
    end: int  # one past the value


def _read_tlv(data: bytes, pos: int, limit: int) -> _Tlv:
    start = pos
    if pos >= limit:
        raise Iso39794FormatError(pos, "a field is missing (end of its enclosing block)")
    first = data[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:  # high-tag-number form (X.690 8.1.2.4)
        number = 0
        while True:
            if pos >= limit:
                raise Iso39794FormatError(pos, "tag number runs past the end of its block")
            byte = data[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
    if pos >= limit:
        raise Iso39794FormatError(pos, "length is missing")
    length = data[pos]
    pos += 1
    if length == 0x80:
        raise Iso39794FormatError(pos - 1, "indefinite length is not DER")
    if length & 0x80:
        count = length & 0x7F
        if count > 4 or pos + count > limit:
            raise Iso39794FormatError(pos - 1, "length field is too long")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > limit:
        raise Iso39794FormatError(start, "value runs past the end of its enclosing block")
    return _Tlv(first >> 6, bool(first & 0x20), number, start, pos, pos + length)


def _children(data: bytes, parent: _Tlv) -> list[_Tlv]:
    items, pos = [], parent.content
    while pos < parent.end:
        item = _read_tlv(data, pos, parent.end)
        items.append(item)
        pos = item.end
    return items


def _fields(data: bytes, parent: _Tlv, *, where: str) -> dict[int, _Tlv]:
    """A SEQUENCE's context-tagged fields by tag number; tags must ascend (DER order of the module)."""
    found: dict[int, _Tlv] = {}
    last = -1
    for item in _children(data, parent):
        if item.cls != 2:
            raise Iso39794FormatError(item.start, f"{where}: a field is not context-tagged")
        if item.number <= last:
            raise Iso39794FormatError(item.start, f"{where}: field [{item.number}] is out of order or repeated")
        last = item.number
        found[item.number] = item
    return found


def _integer(data: bytes, item: _Tlv, *, where: str, low: int = 0, high: int | None = None) -> int:
    if item.constructed or item.end == item.content:
        raise Iso39794FormatError(item.start, f"{where} is not an integer")
    value = int.from_bytes(data[item.content:item.end], "big", signed=True)
    if value < low or (high is not None and value > high):
        raise Iso39794FormatError(item.start, f"{where} is out of its range ({low}..{high if high is not None else 'MAX'})")
    return value


def _boolean(data: bytes, item: _Tlv, *, where: str) -> bool:
    if item.constructed or item.end - item.content != 1:
        raise Iso39794FormatError(item.start, f"{where} is not a boolean")
    return data[item.content] != 0


def _required(found: dict[int, _Tlv], number: int, parent: _Tlv, where: str) -> _Tlv:
    if number not in found:
        raise Iso39794FormatError(parent.start, f"{where} is missing")
    return found[number]


def _constructed(item: _Tlv, where: str) -> _Tlv:
    if not item.constructed:
        raise Iso39794FormatError(item.start, f"{where} is not a structured block")
    return item


def _code(data: bytes, item: _Tlv, *, where: str) -> int:
    """A CHOICE { code [0] ..., extensionBlock [1] ... } under an explicit context tag."""
    inner = _children(data, _constructed(item, where))
    if len(inner) != 1 or inner[0].cls != 2:
        raise Iso39794FormatError(item.start, f"{where} does not hold exactly one alternative")
    if inner[0].number == 1:
        raise Iso39794FormatError(inner[0].start, f"{where} uses an extension block (a later edition's code), which is not supported")
    if inner[0].number != 0:
        raise Iso39794FormatError(inner[0].start, f"{where} has an unknown alternative")
    return _integer(data, inner[0], where=where, high=255)


def _registry_id(data: bytes, item: _Tlv, *, where: str) -> tuple[int, int]:
    found = _fields(data, _constructed(item, where), where=where)
    return (_integer(data, _required(found, 0, item, f"{where} organization"), where=f"{where} organization", low=1, high=65535),
            _integer(data, _required(found, 1, item, f"{where} id"), where=f"{where} id", low=1, high=65535))


# --- reading ----------------------------------------------------------------------------------------------


def is_finger_image_record(data: bytes) -> bool:
    """True when `data` is one [APPLICATION 4] block spanning the whole input (a 39794-4 record)."""
    if len(data) < 2 or data[0] != APPLICATION_4:
        return False
    try:
        return _read_tlv(data, 0, len(data)).end == len(data)
    except Iso39794FormatError:
        return False


def decode(data: bytes) -> FingerImageRecord:
    """Read a FingerImageDataBlock; refuse with `Iso39794FormatError` (byte offset, no values) otherwise."""
    if not data or data[0] != APPLICATION_4:
        raise Iso39794FormatError(0, "the record does not start with the FingerImageDataBlock tag [APPLICATION 4]")
    top = _read_tlv(data, 0, len(data))
    if top.end != len(data):
        raise Iso39794FormatError(top.end, "bytes follow the end of the FingerImageDataBlock")
    found = _fields(data, top, where="FingerImageDataBlock")
    version = _constructed(_required(found, 0, top, "versionBlock"), "versionBlock")
    version_fields = _fields(data, version, where="versionBlock")
    generation = _integer(data, _required(version_fields, 0, version, "versionBlock generation"), where="versionBlock generation")
    year = _integer(data, _required(version_fields, 1, version, "versionBlock year"), where="versionBlock year")
    blocks = _constructed(_required(found, 1, top, "representationBlocks"), "representationBlocks")
    representations = []
    for index, block in enumerate(_children(data, blocks)):
        if block.cls != 0 or block.number != 16 or not block.constructed:
            raise Iso39794FormatError(block.start, f"representation {index} is not a SEQUENCE")
        representations.append(_representation(data, block, where=f"representation {index}"))
    if not representations:
        raise Iso39794FormatError(blocks.start, "the record holds no representation")
    return FingerImageRecord(generation, year, tuple(representations))


def _representation(data: bytes, block: _Tlv, *, where: str) -> FingerImageRepresentation:
    found = _fields(data, block, where=where)
    position = _code(data, _required(found, 0, block, f"{where} position"), where=f"{where} position")
    impression = _code(data, _required(found, 1, block, f"{where} impression"), where=f"{where} impression")
    image_format = _code(data, _required(found, 2, block, f"{where} imageDataFormat"), where=f"{where} imageDataFormat")
    image_item = _required(found, 3, block, f"{where} imageData")
    if image_item.constructed or image_item.end == image_item.content:
        raise Iso39794FormatError(image_item.start, f"{where} imageData is empty or not an octet string")
    values: dict[str, object] = {}
    if 4 in found:
        moment = _fields(data, _constructed(found[4], f"{where} captureDateTimeBlock"), where=f"{where} captureDateTimeBlock")
        if 0 not in moment:
            raise Iso39794FormatError(found[4].start, f"{where} captureDateTimeBlock year is missing")
        ranges = ((0, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59), (0, 999))
        parts = []
        for number in range(7):
            if number not in moment:
                break
            low, high = ranges[number]
            parts.append(_integer(data, moment[number], where=f"{where} captureDateTimeBlock [{number}]", low=low, high=high))
        values["capture"] = tuple(parts)
    if 5 in found:
        device = _fields(data, _constructed(found[5], f"{where} captureDeviceBlock"), where=f"{where} captureDeviceBlock")
        if 0 in device:
            values["device_model"] = _registry_id(data, device[0], where=f"{where} capture device model")
        if 1 in device:
            values["device_technology"] = _code(data, device[1], where=f"{where} capture device technology")
        if 2 in device:
            values["certifications"] = tuple(_registry_id(data, c, where=f"{where} certification")
                                             for c in _children(data, _constructed(device[2], f"{where} certifications")))
    if 6 in found:
        scores = []
        for quality in _children(data, _constructed(found[6], f"{where} qualityBlocks")):
            quality_fields = _fields(data, _constructed(quality, f"{where} qualityBlock"), where=f"{where} qualityBlock")
            organization, algorithm = _registry_id(data, _required(quality_fields, 0, quality, f"{where} quality algorithm"),
                                                   where=f"{where} quality algorithm")
            choice = _children(data, _constructed(_required(quality_fields, 1, quality, f"{where} quality score"), f"{where} quality score"))
            if len(choice) != 1 or choice[0].cls != 2 or choice[0].number not in (0, 1):
                raise Iso39794FormatError(quality.start, f"{where} quality score is neither a score nor an error")
            if choice[0].number == 0:
                scores.append(QualityScore(organization, algorithm, score=_integer(data, choice[0], where=f"{where} quality score", high=100)))
            else:
                scores.append(QualityScore(organization, algorithm, error=_integer(data, choice[0], where=f"{where} quality error")))
        values["quality"] = tuple(scores)
    if 7 in found:
        rate = _fields(data, _constructed(found[7], f"{where} spatialSamplingRateBlock"), where=f"{where} spatialSamplingRateBlock")
        values["sampling_rate"] = (
            _integer(data, _required(rate, 0, found[7], f"{where} samplesPerUnit"), where=f"{where} samplesPerUnit", high=65535),
            _integer(data, _required(rate, 1, found[7], f"{where} unitDimension"), where=f"{where} unitDimension", high=1))
    for number, name in ((8, "position_computed"), (10, "rotated_to_vertical"), (11, "lossily_compressed")):
        if number in found:
            values[name] = _boolean(data, found[number], where=f"{where} [{number}]")
    if 9 in found:
        values["rotation"] = _integer(data, found[9], where=f"{where} originalRotation", high=359)
    if 15 in found:
        comments = []
        for comment in _children(data, _constructed(found[15], f"{where} commentBlocks")):
            raw = data[comment.content:comment.end]
            if comment.constructed or any(b < 0x20 or b > 0x7E for b in raw):
                raise Iso39794FormatError(comment.start, f"{where} comment is not a VisibleString")
            comments.append(raw.decode("ascii"))
        values["comments"] = tuple(comments)
    kept = tuple((number, data[item.start:item.end]) for number, item in found.items() if number not in INTERPRETED_TAGS)
    return FingerImageRepresentation(position=position, impression=impression, image_format=image_format,
                                     image=data[image_item.content:image_item.end], kept=kept, **values)  # type: ignore[arg-type]


# --- writing ----------------------------------------------------------------------------------------------


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tag(number: int, *, constructed: bool) -> bytes:
    base = 0xA0 if constructed else 0x80
    if number < 31:
        return bytes([base | number])
    groups = []
    while True:
        groups.append(number & 0x7F)
        number >>= 7
        if not number:
            break
    return bytes([base | 0x1F]) + bytes(g | 0x80 for g in reversed(groups[1:])) + bytes([groups[0]])


def _primitive(number: int, value: bytes) -> bytes:
    return _tag(number, constructed=False) + _length(len(value)) + value


def _structured(number: int, value: bytes) -> bytes:
    return _tag(number, constructed=True) + _length(len(value)) + value


def _der_integer(value: int) -> bytes:
    """Minimal two's-complement content octets (X.690 8.3)."""
    return value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)


def _int_field(number: int, value: int) -> bytes:
    return _primitive(number, _der_integer(value))


def _sequence(value: bytes) -> bytes:
    return b"\x30" + _length(len(value)) + value


def _registry(organization: int, identifier: int) -> bytes:
    return _int_field(0, organization) + _int_field(1, identifier)


def encode(record: FingerImageRecord) -> bytes:
    """DER encoding of a FingerImageDataBlock (fields in tag order, kept fields written back unchanged)."""
    if not record.representations:
        raise ValueError("a finger image record needs at least one representation")
    version = _structured(0, _int_field(0, record.generation) + _int_field(1, record.year))
    blocks = _structured(1, b"".join(_sequence(_encode_representation(r)) for r in record.representations))
    body = version + blocks
    return bytes([APPLICATION_4]) + _length(len(body)) + body


def _encode_representation(rep: FingerImageRepresentation) -> bytes:
    parts: list[tuple[int, bytes]] = [
        (0, _structured(0, _int_field(0, rep.position))),
        (1, _structured(1, _int_field(0, rep.impression))),
        (2, _structured(2, _int_field(0, rep.image_format))),
        (3, _primitive(3, rep.image)),
    ]
    if rep.capture:
        parts.append((4, _structured(4, b"".join(_int_field(i, v) for i, v in enumerate(rep.capture)))))
    if rep.device_model is not None or rep.device_technology is not None or rep.certifications:
        device = b""
        if rep.device_model is not None:
            device += _structured(0, _registry(*rep.device_model))
        if rep.device_technology is not None:
            device += _structured(1, _int_field(0, rep.device_technology))
        if rep.certifications:
            device += _structured(2, b"".join(_sequence(_registry(*c)) for c in rep.certifications))
        parts.append((5, _structured(5, device)))
    if rep.quality:
        blocks = b""
        for q in rep.quality:
            outcome = _int_field(0, q.score) if q.score is not None else _int_field(1, q.error or 0)
            blocks += _sequence(_structured(0, _registry(q.organization, q.algorithm)) + _structured(1, outcome))
        parts.append((6, _structured(6, blocks)))
    if rep.sampling_rate is not None:
        parts.append((7, _structured(7, _int_field(0, rep.sampling_rate[0]) + _int_field(1, rep.sampling_rate[1]))))
    for number, flag in ((8, rep.position_computed), (10, rep.rotated_to_vertical), (11, rep.lossily_compressed)):
        if flag is not None:
            parts.append((number, _primitive(number, b"\xff" if flag else b"\x00")))
    if rep.rotation is not None:
        parts.append((9, _int_field(9, rep.rotation)))
    if rep.comments:
        parts.append((15, _structured(15, b"".join(b"\x1a" + _length(len(c)) + c.encode("ascii") for c in rep.comments))))
    parts.extend(rep.kept)
    return b"".join(value for _, value in sorted(parts, key=lambda part: part[0]))
