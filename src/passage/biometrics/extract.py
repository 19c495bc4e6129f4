"""Fingerprint images in, ISO/IEC 19794-2:2005 minutiae records out.

Images: PNG, TIFF and BMP are decoded with Pillow and converted to 8-bit grey. WSQ (the FBI/NIST
wavelet scalar quantisation format, "WSQ Gray-scale Fingerprint Image Compression Specification",
IAFIS-IC-0110(V3), the format of ANSI/NIST-ITL Type-4 and Type-14 images) is recognised by its SOI
marker 0xFFA0 and decoded by the `wsq` package (a Pillow plugin built on NBIS's decoder). Its
resolution comes from the NISTCOM comment segment ("PPI 500"), which NBIS's `cwsq` writes; without
one 500 ppi is assumed and said so.

Extraction: NIST MINDTCT (NBIS; Watson et al., "User's Guide to NIST Biometric Image Software",
NISTIR 7392) through `nbis-py` 0.1.3. Quality: the real NFIQ 2 (ISO/IEC 29794-4:2017 model, as
bundled in nbis-py's native library, `compute_nfiq2=True`), a 0-100 score written as the finger
quality of the view (ISO/IEC 19794-2:2005 7.4.1). An image whose NFIQ 2 score is below the
threshold, or that yields too few minutiae, is flagged `low_quality`; matching refuses to use such a
template as evidence unless the caller says so explicitly.

MINDTCT and Bozorth3 are tuned for 500 ppi, so an image declaring another resolution is refused
rather than silently matched at the wrong scale (no resampling is done).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import nbis
from PIL import Image, UnidentifiedImageError

from passage.biometrics.codec import FingerView, Minutia, MinutiaeRecord
from passage.core.errors import InvalidInput, UnsupportedMediaType
from passage.core.i18n import N_, T_

ACCEPTED_FORMATS = ("PNG", "TIFF", "BMP", "WSQ")
WSQ_MAGIC = b"\xff\xa0"
WSQ_COMMENT_MARKER = b"\xff\xa8"
NOMINAL_PPI = 500.0
PPI_TOLERANCE = 25.0
PIXELS_PER_CM_500PPI = 197
MIN_SIDE, MAX_SIDE = 160, 2000
DEFAULT_MIN_NFIQ2 = 35
"""NFIQ 2 below this is flagged. NFIQ 2 has no official cut-off; uniform noise scored 31 here, and a
real FVC2002 impression 38, so 35 sits between them (to be revisited on a real database)."""
MAX_PLAUSIBLE_MINUTIAE = 140
"""MINDTCT on noise or background texture returns ~150 minutiae; a plain 500 ppi impression has 30-110."""
MIN_MINUTIAE = 12
"""Fewer minutiae than this (the classic 12-point rule) cannot carry identification evidence."""


class ImageError(InvalidInput):
    """An image that cannot be used for extraction (unreadable, wrong size or resolution)."""

    code = "image_invalid"


@dataclass(frozen=True)
class FingerImage:
    pixels_png: bytes
    width: int
    height: int
    ppi: float
    resolution_assumed: bool
    source_format: str


@dataclass(frozen=True)
class Extraction:
    """Result of extracting one finger: the record, NFIQ 2, and whether it is too poor to match."""

    record: MinutiaeRecord
    nfiq2: int
    minutiae: int
    low_quality: bool
    quality_reasons: tuple[str, ...]
    resolution_assumed: bool


def load_image(data: bytes, *, ppi: float | None = None) -> FingerImage:
    """Decode and check an image; `ppi` overrides a missing or meaningless declared resolution."""
    if not data:
        raise ImageError("image is empty (0 bytes)")
    if data[:2] == WSQ_MAGIC:
        import wsq  # noqa: F401  (registers the WSQ plugin with Pillow)

        if ppi is None:
            ppi = wsq_declared_ppi(data)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            source_format = opened.format or "unknown"
            if source_format not in ACCEPTED_FORMATS:
                raise UnsupportedMediaType(T_("image format {source_format} is not accepted (PNG, TIFF, BMP or WSQ)", source_format=source_format))
            opened.load()
            declared = opened.info.get("dpi")
            grey = opened.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image is unreadable ({type(exc).__name__})") from None
    width, height = grey.size
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ImageError(f"image is {width}x{height} pixels; a single finger at 500 ppi must be {MIN_SIDE}-{MAX_SIDE} pixels on each side")
    assumed = False
    if ppi is not None:
        effective = float(ppi)
    else:
        declared_x = float(declared[0]) if declared else 0.0
        # TIFF without a resolution unit and many PNG exporters declare 1 or 72 "dpi": meaningless.
        if declared_x >= 100 and abs(declared_x - 72.0) > 0.5:
            effective = declared_x
        else:
            effective, assumed = NOMINAL_PPI, True
    if abs(effective - NOMINAL_PPI) > PPI_TOLERANCE:
        raise ImageError(f"image resolution is {effective:.0f} ppi; MINDTCT and Bozorth3 need 500 ppi (+/- {PPI_TOLERANCE:.0f}); resample it first")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    return FingerImage(buffer.getvalue(), width, height, effective, assumed, source_format)


def wsq_declared_ppi(data: bytes) -> float | None:
    """The "PPI" of a WSQ file's NISTCOM comment (NBIS `cwsq` writes "NIST_COM", then lines "PPI 500", ...), or None.

    Only the comment segments before the first frame header are read; a value of -1 means "unknown"."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker, length = data[position : position + 2], int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == WSQ_COMMENT_MARKER:
            text = data[position + 4 : position + 2 + length].decode("ascii", errors="replace")
            if text.startswith("NIST_COM"):
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "PPI":
                        try:
                            declared = float(value.strip())
                        except ValueError:
                            return None
                        return declared if declared > 0 else None
        elif marker == b"\xff\xa2":  # start of frame: no NISTCOM before it
            return None
        position += 2 + length
    return None


_local = threading.local()


def _extractor(*, nfiq2: bool = True) -> nbis.NbisExtractor:
    # One native extractor per thread: the nbis handle is not documented as thread-safe.
    name = "extractor" if nfiq2 else "extractor_without_nfiq2"
    extractor = getattr(_local, name, None)
    if extractor is None:
        settings = nbis.NbisExtractorSettings(min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=nfiq2, ppi=NOMINAL_PPI)
        extractor = nbis.new_nbis_extractor(settings)
        setattr(_local, name, extractor)
    return extractor


def extract(data: bytes, *, ppi: float | None = None, finger_position: int = 0, min_nfiq2: int = DEFAULT_MIN_NFIQ2) -> Extraction:
    """Extract minutiae (MINDTCT) and NFIQ 2 from an image; returns an ISO 19794-2:2005 record."""
    if not 0 <= finger_position <= 10:
        raise InvalidInput(N_("finger position must be 0 (unknown) to 10 (ISO/IEC 19794-2:2005 Table 2)"))
    image = load_image(data, ppi=ppi)
    reasons = []
    try:
        found = _extractor().extract_minutiae(image.pixels_png)
        nfiq2 = int(found.quality().score)
    except nbis.NbisError as exc:
        # NFIQ 2 fails on some whole rolled prints (e.g. NIST's ANSI/NIST-ITL ten-print sample, finger 2)
        # that MINDTCT reads; extract anyway and flag the template, rather than refusing a usable print.
        try:
            found = _extractor(nfiq2=False).extract_minutiae(image.pixels_png)
        except nbis.NbisError:
            raise ImageError(f"MINDTCT could not process the image ({type(exc).__name__})") from None
        nfiq2 = 0
        reasons.append("NFIQ 2 could not be computed for this image (quality unknown)")
    minutiae = []
    for m in found.get():
        x, y = int(m.x()), int(m.y())
        if not (0 <= x < image.width and 0 <= y < image.height):
            continue
        kind = 2 if m.kind() == nbis.MinutiaKind.BIFURCATION else 1
        angle = round(float(m.angle()) / (360.0 / 256.0)) % 256
        quality = max(0, min(100, round(float(m.reliability()) * 100)))
        minutiae.append(Minutia(kind=kind, x=x, y=y, angle=angle, quality=quality))
    # Keep the most reliable 255 (the per-view maximum of the record format).
    minutiae.sort(key=lambda m: -m.quality)
    minutiae = minutiae[:255]
    if not minutiae:
        raise ImageError("no minutiae were found in the image (empty template); it is not a usable fingerprint")
    if nfiq2 < min_nfiq2 and not reasons:
        reasons.append(f"NFIQ 2 score {nfiq2} is below {min_nfiq2}")
    if len(minutiae) > MAX_PLAUSIBLE_MINUTIAE:
        reasons.append(f"{len(minutiae)} minutiae: more than a finger holds (noise or background texture)")
    if len(minutiae) < MIN_MINUTIAE:
        reasons.append(f"only {len(minutiae)} minutiae (fewer than {MIN_MINUTIAE})")
    view = FingerView(position=finger_position, view_number=0, impression_type=0, quality=max(0, min(100, nfiq2)), minutiae=tuple(minutiae))
    record = MinutiaeRecord(format="iso2005", capture_equipment_compliance=0, capture_equipment_id=0, views=(view,),
                            width=image.width, height=image.height, x_resolution=PIXELS_PER_CM_500PPI, y_resolution=PIXELS_PER_CM_500PPI)
    return Extraction(record=record, nfiq2=nfiq2, minutiae=len(minutiae), low_quality=bool(reasons), quality_reasons=tuple(reasons),
                      resolution_assumed=image.resolution_assumed)
