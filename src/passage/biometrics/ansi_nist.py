"""ANSI/NIST-ITL 1-2011 transactions (traditional encoding): the files states exchange fingerprints in.

Written from NIST Special Publication 500-290 (ANSI/NIST-ITL 1-2011, "Data Format for the Interchange of
Fingerprint, Facial & Other Biometric Information"), and read against NIST's own sample files (see
`tests/biometrics/test_formats.py` for their provenance):

* A transaction is a sequence of logical records. The Type-1 record comes first; its field 1.003
  (CNT, file content) lists every following record as (record type, IDC), which is the only way to
  know the type of a binary record. Field 1.002 is the version ("0300" for 1-2000, "0400" for 1-2007,
  "0500" for 1-2011, "0501"/"0502" for its updates); 1.011 (NSR) the native scanning resolution in
  pixels per millimetre.
* Tagged records (Types 1, 2, 9, 10, 13, 14, 15, ...): fields "T.NNN:value" separated by GS (0x1D), the
  record ending with FS (0x1C); subfields are separated by RS (0x1E), information items by US (0x1F).
  Field T.001 is the record length in bytes. Field T.999 holds binary image data up to the final FS.
* Type-4 (high-resolution grey-scale fingerprint image, binary): an 18-byte header - LEN (4 bytes),
  IDC (1), IMP impression type (1), FGP six finger-position bytes (0xFF unused), ISR (1, 0 = the
  transaction's native resolution), HLL width (2), VLL height (2), GCA compression (1: 0 none,
  1 WSQ) - then the image. Other binary types (3, 5, 6, 7, 8) are carried as opaque records.
* Type-14 (variable-resolution fingerprint image): 14.003 IMP, 14.006 HLL, 14.007 VLL, 14.008 SLC
  (scale units: 1 pixels per inch, 2 pixels per centimetre), 14.009/14.010 THPS/TVPS, 14.011 CGA
  ("NONE", "WSQ20", "JP2", "JP2L", "PNG"), 14.012 BPX, 14.013 FGP, 14.999 the image.
* Type-9 (minutiae): the legacy standard format (9.004 FMT = "S") with 9.010 MIN and 9.012 MRC, each
  subfield "index US XXXXYYYYTTT US quality US type ...", X and Y in units of 0.01 mm from the lower
  left corner, theta in degrees counter-clockwise; and the Extended Feature Set, 9.331 EFS minutiae
  "X US Y US theta US type", X and Y in units of 10 micrometres from the upper left corner. The INCITS
  378 block (9.126-9.140) is not read (no reference file was available to check it against); a record
  with only that block is listed with no minutiae and a warning.

`parse_transaction` refuses a malformed file with `TransactionFormatError`, which names the byte offset and
the record, never a value. Images are returned as they are stored (WSQ bytes are decoded by
`extract.load_image`); minutiae can be turned into an ISO/IEC 19794-2:2005 record for matching.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from passage.biometrics.codec import FingerView, Minutia, MinutiaeRecord, RecordFormatError
from passage.core.i18n import N_

FS, GS, RS, US = 0x1C, 0x1D, 0x1E, 0x1F
BINARY_TYPES = frozenset({3, 4, 5, 6, 7, 8})
KNOWN_VERSIONS = frozenset({"0200", "0201", "0300", "0400", "0500", "0501", "0502", "0600"})
TYPE4_HEADER_BYTES = 18
TYPE4_COMPRESSION = {0: "none", 1: "wsq"}
TYPE14_COMPRESSION = {"NONE": "none", "WSQ20": "wsq", "WSQ": "wsq", "JP2": "jpeg2000", "JP2L": "jpeg2000", "PNG": "png"}
MINUTIA_TYPES_LEGACY = {"A": 1, "B": 2, "C": 0, "D": 0}
"""9.012 type letters: A ridge ending, B bifurcation, C compound, D other -> ISO kind (1 ending, 2 bifurcation, 0 other)."""
MINUTIA_TYPES_EFS = {"E": 1, "B": 2, "X": 0}
MM_PER_INCH = 25.4


class TransactionFormatError(RecordFormatError):
    """An ANSI/NIST-ITL transaction that does not follow the standard."""

    code = "transaction_format"
    record_kind = N_("ANSI/NIST-ITL transaction")


@dataclass(frozen=True)
class LogicalRecord:
    record_type: int
    idc: int
    offset: int
    length: int
    fields: dict[int, bytes] = field(default_factory=dict)
    """Tagged records only: field number -> raw value (subfields and items still separated)."""

    def text(self, number: int) -> str | None:
        value = self.fields.get(number)
        return None if value is None else value.decode("latin-1")


@dataclass(frozen=True)
class FingerImage:
    """A Type-4 or Type-14 fingerprint image as stored in the transaction."""

    record_type: int
    idc: int
    impression_type: int
    finger_positions: tuple[int, ...]
    compression: str
    width: int
    height: int
    ppi: float | None
    data: bytes


@dataclass(frozen=True)
class TransactionMinutia:
    x_mm: float
    y_mm: float
    theta: int
    kind: int
    quality: int


@dataclass(frozen=True)
class MinutiaeSet:
    """The minutiae of one Type-9 record, in millimetres from the upper left corner of the image."""

    idc: int
    impression_type: int
    finger_positions: tuple[int, ...]
    source: str
    """"9.012" (legacy standard format) or "9.331" (Extended Feature Set)."""
    minutiae: tuple[TransactionMinutia, ...]

    def as_record(self, *, image_height_mm: float, ppmm: float) -> MinutiaeRecord:
        """An ISO/IEC 19794-2:2005 record at `ppmm` pixels per millimetre (19.69 = 500 ppi).

        Legacy 9.012 coordinates count from the lower left corner, so they need the image height to be
        turned into ISO's upper-left origin (pass the height of the matching image; for EFS it is unused).
        Angles stay counter-clockwise from the x axis as seen on the image, converted to 360/256 units."""
        minutiae = []
        for m in self.minutiae:
            y_mm = image_height_mm - m.y_mm if self.source == "9.012" else m.y_mm
            minutiae.append(Minutia(kind=m.kind, x=max(0, round(m.x_mm * ppmm)), y=max(0, round(y_mm * ppmm)),
                                    angle=round(m.theta * 256 / 360) % 256, quality=min(m.quality, 100)))
        width = max((m.x for m in minutiae), default=0) + 1
        height = max(round(image_height_mm * ppmm), max((m.y for m in minutiae), default=0) + 1)
        view = FingerView(position=self.finger_positions[0] if self.finger_positions else 0, view_number=0,
                          impression_type=min(self.impression_type, 15), quality=0, minutiae=tuple(minutiae))
        resolution = round(ppmm * 10)
        return MinutiaeRecord(format="iso2005", capture_equipment_compliance=0, capture_equipment_id=0, views=(view,),
                              width=width, height=height, x_resolution=resolution, y_resolution=resolution)


@dataclass(frozen=True)
class Transaction:
    version: str
    transaction_type: str
    native_ppmm: float | None
    records: tuple[LogicalRecord, ...]
    images: tuple[FingerImage, ...]
    minutiae: tuple[MinutiaeSet, ...]
    warnings: tuple[str, ...] = ()


def _tagged(data: bytes, start: int, expected_type: int | None) -> LogicalRecord:
    """Read one tagged record starting at `start`; its first field must be T.001 (the length)."""
    colon = data.find(b":", start, start + 16)
    if colon < 0:
        raise TransactionFormatError(start, "expected a tagged field 'T.001:' at the start of a record")
    tag = data[start:colon].decode("latin-1")
    record_type_text, _, number_text = tag.partition(".")
    if not (record_type_text.isdigit() and number_text.isdigit() and int(number_text) == 1):
        raise TransactionFormatError(start, f"a record must start with its length field T.001, found '{tag[:10]}'")
    record_type = int(record_type_text)
    if expected_type is not None and record_type != expected_type:
        raise TransactionFormatError(start, f"record {record_type} is where field 1.003 announced a Type-{expected_type} record")
    end_of_length = data.find(bytes([GS]), colon, colon + 12)
    if end_of_length < 0 or not data[colon + 1 : end_of_length].isdigit():
        raise TransactionFormatError(colon + 1, f"length field {record_type}.001 is not a number")
    length = int(data[colon + 1 : end_of_length])
    end = start + length
    if length < 8 or end > len(data):
        raise TransactionFormatError(colon + 1, f"Type-{record_type} record declares {length} bytes but the file has {len(data) - start} left")
    if data[end - 1] != FS:
        raise TransactionFormatError(end - 1, f"Type-{record_type} record does not end with the FS separator where its length says")
    fields: dict[int, bytes] = {1: data[colon + 1 : end_of_length]}
    position = end_of_length + 1
    while position < end - 1:
        colon = data.find(b":", position, min(end, position + 16))
        if colon < 0:
            raise TransactionFormatError(position, f"field without a 'T.NNN:' tag in the Type-{record_type} record")
        field_tag = data[position:colon].decode("latin-1")
        prefix, _, number_text = field_tag.partition(".")
        if not number_text.isdigit():
            raise TransactionFormatError(position, f"field tag '{field_tag[:10]}' is not 'T.NNN' in the Type-{record_type} record")
        if prefix != str(record_type):
            raise TransactionFormatError(position, f"field {field_tag[:10]} inside a Type-{record_type} record")
        number = int(number_text)
        if number == 999:
            fields[number] = data[colon + 1 : end - 1]  # binary image data runs to the final FS
            position = end - 1
            break
        stop = data.find(bytes([GS]), colon, end - 1)
        stop = end - 1 if stop < 0 else stop
        if number in fields:
            raise TransactionFormatError(position, f"field {record_type}.{number:03d} appears twice")
        fields[number] = data[colon + 1 : stop]
        position = stop + 1
    idc_text = fields.get(2, b"0").decode("latin-1")
    idc = int(idc_text) if idc_text.isdigit() else 0
    return LogicalRecord(record_type=record_type, idc=idc, offset=start, length=length, fields=fields)


def _items(value: bytes) -> list[list[str]]:
    return [subfield.decode("latin-1").split(chr(US)) for subfield in value.split(bytes([RS]))]


def _content(type1: LogicalRecord) -> list[tuple[int, int]]:
    raw = type1.fields.get(3)
    if raw is None:
        raise TransactionFormatError(type1.offset, "the Type-1 record has no content field 1.003")
    subfields = _items(raw)
    try:
        announced = int(subfields[0][1])
        entries = [(int(s[0]), int(s[1]) if len(s) > 1 and s[1] else 0) for s in subfields[1:]]
    except (IndexError, ValueError):
        raise TransactionFormatError(type1.offset, "field 1.003 is not a list of 'record type US IDC' subfields") from None
    if announced != len(entries):
        raise TransactionFormatError(type1.offset, f"field 1.003 announces {announced} records but lists {len(entries)}")
    return entries


def _type4(data: bytes, start: int) -> tuple[LogicalRecord, FingerImage]:
    if start + TYPE4_HEADER_BYTES > len(data):
        raise TransactionFormatError(start, "the file ends inside a Type-4 record header")
    length, idc, impression = struct.unpack(">IBB", data[start : start + 6])
    positions = tuple(p for p in data[start + 6 : start + 12] if p != 0xFF)
    resolution_flag, width, height, compression = struct.unpack(">BHHB", data[start + 12 : start + TYPE4_HEADER_BYTES])
    if length < TYPE4_HEADER_BYTES or start + length > len(data):
        raise TransactionFormatError(start, f"Type-4 record declares {length} bytes but the file has {len(data) - start} left")
    if compression not in TYPE4_COMPRESSION:
        raise TransactionFormatError(start + 17, f"Type-4 compression code {compression} is neither 0 (none) nor 1 (WSQ)")
    record = LogicalRecord(record_type=4, idc=idc, offset=start, length=length)
    image = FingerImage(record_type=4, idc=idc, impression_type=impression, finger_positions=positions,
                        compression=TYPE4_COMPRESSION[compression], width=width, height=height,
                        ppi=None if resolution_flag == 0 else None, data=data[start + TYPE4_HEADER_BYTES : start + length])
    return record, image


def _type14(record: LogicalRecord) -> FingerImage:
    def number(field_number: int, default: int = 0) -> int:
        text = record.text(field_number)
        if text is None or not text.strip().isdigit():
            return default
        return int(text)

    scale, horizontal = number(8), number(9)
    ppi = horizontal if scale == 1 else horizontal * 2.54 if scale == 2 else None
    cga = (record.text(11) or "NONE").strip().upper()
    if cga not in TYPE14_COMPRESSION:
        raise TransactionFormatError(record.offset, f"Type-14 compression '{cga[:8]}' is not one of {sorted(TYPE14_COMPRESSION)}")
    positions = tuple(int(p) for p in (record.text(13) or "").split(chr(RS)) if p.strip().isdigit())
    return FingerImage(record_type=14, idc=record.idc, impression_type=number(3), finger_positions=positions,
                       compression=TYPE14_COMPRESSION[cga], width=number(6), height=number(7),
                       ppi=float(ppi) if ppi else None, data=record.fields.get(999, b""))


def _type9(record: LogicalRecord, warnings: list[str]) -> MinutiaeSet | None:
    impression = int(record.text(3) or 0) if (record.text(3) or "").isdigit() else 0
    positions = tuple(int(p) for p in (record.text(6) or "").split(chr(RS)) if p.strip().isdigit())
    minutiae: list[TransactionMinutia] = []
    if (record.text(4) or "").strip() == "S" and 12 in record.fields:
        for index, items in enumerate(_items(record.fields[12])):
            if len(items) < 2 or len(items[1]) != 11 or not items[1].isdigit():
                raise TransactionFormatError(record.offset, f"9.012 subfield {index + 1}: position must be 'XXXXYYYYTTT' (11 digits)")
            xyt = items[1]
            quality = int(items[2]) if len(items) > 2 and items[2].isdigit() else 0
            kind = MINUTIA_TYPES_LEGACY.get(items[3].strip() if len(items) > 3 else "D", 0)
            minutiae.append(TransactionMinutia(x_mm=int(xyt[:4]) / 100, y_mm=int(xyt[4:8]) / 100, theta=int(xyt[8:]) % 360, kind=kind, quality=quality))
        declared = record.text(10)
        if declared is not None and declared.isdigit() and int(declared) != len(minutiae):
            raise TransactionFormatError(record.offset, f"9.010 says {declared} minutiae, 9.012 lists {len(minutiae)}")
        source = "9.012"
    elif 331 in record.fields:
        for index, items in enumerate(_items(record.fields[331])):
            if len(items) < 3 or not all(v.strip().lstrip("-").isdigit() for v in items[:3]):
                raise TransactionFormatError(record.offset, f"9.331 subfield {index + 1}: X, Y and theta must be numbers")
            kind = MINUTIA_TYPES_EFS.get(items[3].strip() if len(items) > 3 else "X", 0)
            minutiae.append(TransactionMinutia(x_mm=int(items[0]) / 100, y_mm=int(items[1]) / 100, theta=int(items[2]) % 360, kind=kind, quality=0))
        source = "9.331"
    else:
        warnings.append(f"byte {record.offset}: Type-9 record IDC {record.idc} has no legacy (9.012) or EFS (9.331) minutiae; other blocks are not read")
        return None
    return MinutiaeSet(idc=record.idc, impression_type=impression, finger_positions=positions, source=source, minutiae=tuple(minutiae))


def parse_transaction(data: bytes) -> Transaction:
    """Read a whole transaction; every record announced in 1.003 must be there, and nothing after them."""
    if not data:
        raise TransactionFormatError(0, "the file is empty")
    if not data.startswith(b"1.001:"):
        raise TransactionFormatError(0, "an ANSI/NIST-ITL transaction starts with the Type-1 field '1.001:'")
    type1 = _tagged(data, 0, 1)
    version = (type1.text(2) or "").strip()
    if version not in KNOWN_VERSIONS:
        raise TransactionFormatError(type1.offset, f"version '{version[:6]}' in 1.002 is not an ANSI/NIST-ITL version this reader knows ({', '.join(sorted(KNOWN_VERSIONS))})")
    nsr_text = (type1.text(11) or "").strip()
    try:
        native_ppmm: float | None = float(nsr_text) if nsr_text else None
    except ValueError:
        raise TransactionFormatError(type1.offset, "1.011 (native scanning resolution) is not a number") from None
    records = [type1]
    images: list[FingerImage] = []
    minutiae: list[MinutiaeSet] = []
    warnings: list[str] = []
    position = type1.length
    for record_type, _idc in _content(type1):
        if position >= len(data):
            raise TransactionFormatError(position, f"1.003 announces a Type-{record_type} record but the file ends")
        if record_type == 4:
            record, image = _type4(data, position)
            if image.ppi is None and native_ppmm:
                image = FingerImage(**{**image.__dict__, "ppi": round(native_ppmm * MM_PER_INCH, 1)})
            images.append(image)
        elif record_type in BINARY_TYPES:
            (length,) = struct.unpack(">I", data[position : position + 4]) if position + 4 <= len(data) else (0,)
            if length < 5 or position + length > len(data):
                raise TransactionFormatError(position, f"binary Type-{record_type} record declares {length} bytes")
            record = LogicalRecord(record_type=record_type, idc=data[position + 4], offset=position, length=length)
            warnings.append(f"byte {position}: Type-{record_type} record kept opaque")
        else:
            record = _tagged(data, position, record_type)
            if record_type == 14:
                images.append(_type14(record))
            elif record_type == 9:
                found = _type9(record, warnings)
                if found is not None:
                    minutiae.append(found)
        records.append(record)
        position += record.length
    if position != len(data):
        raise TransactionFormatError(position, f"{len(data) - position} bytes after the last record announced in 1.003")
    return Transaction(version=version, transaction_type=(type1.text(4) or "").strip(), native_ppmm=native_ppmm,
                       records=tuple(records), images=tuple(images), minutiae=tuple(minutiae), warnings=tuple(warnings))


def is_transaction(data: bytes) -> bool:
    return data[:6] == b"1.001:"


def raw_image_as_png(image: FingerImage) -> bytes:
    """An uncompressed 8-bit image ("none") as PNG bytes, so that it goes through the same checks as any upload."""
    import io

    from PIL import Image

    if image.width * image.height != len(image.data):
        raise TransactionFormatError(0, f"uncompressed Type-{image.record_type} image IDC {image.idc}: {len(image.data)} bytes for {image.width}x{image.height} pixels")
    buffer = io.BytesIO()
    picture = Image.frombytes("L", (image.width, image.height), image.data)
    if image.ppi:
        picture.save(buffer, format="PNG", dpi=(image.ppi, image.ppi))
    else:
        picture.save(buffer, format="PNG")
    return buffer.getvalue()
