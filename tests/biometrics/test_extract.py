from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from passage.biometrics.codec import decode, encode
from passage.biometrics.extract import Extraction, ImageError, extract, load_image
from passage.core.errors import UnsupportedMediaType
from tests.biometrics.conftest import DATA


def _as(fmt: str, *, dpi: tuple[int, int] | None = None, size: tuple[int, int] | None = None) -> bytes:
    image = Image.open(DATA / "p1_1.png").convert("L")
    if size:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"dpi": dpi} if dpi else {}))
    return buffer.getvalue()


def test_real_impression_gives_a_usable_iso_record(extracted: dict[str, Extraction]) -> None:
    result = extracted["p1_1"]
    assert result.minutiae > 30 and not result.low_quality
    assert 40 <= result.nfiq2 <= 100
    record = result.record
    assert record.format == "iso2005" and (record.width, record.height) == (400, 500)
    assert record.views[0].quality == result.nfiq2
    assert decode(encode(record), strict=True) == record
    assert all(0 <= m.x < 400 and 0 <= m.y < 500 for m in record.views[0].minutiae)


@pytest.mark.parametrize("fmt", ["TIFF", "BMP"])
def test_tiff_and_bmp_give_the_same_minutiae_as_png(extracted: dict[str, Extraction], fmt: str) -> None:
    again = extract(_as(fmt))
    assert again.record.views[0].minutiae == extracted["p1_1"].record.views[0].minutiae


def test_declared_wrong_resolution_is_refused() -> None:
    with pytest.raises(ImageError, match="300 ppi"):
        extract(_as("PNG", dpi=(300, 300)))
    assert load_image(_as("PNG", dpi=(500, 500))).resolution_assumed is False
    assert load_image(_as("PNG")).resolution_assumed is True


def test_wrong_size_unreadable_and_other_formats_are_refused() -> None:
    with pytest.raises(ImageError, match="pixels"):
        extract(_as("PNG", size=(100, 120)))
    with pytest.raises(ImageError, match="unreadable"):
        extract(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(ImageError, match="empty"):
        extract(b"")
    # WSQ is read (test_formats); a broken WSQ stream is unreadable, not a crash
    with pytest.raises(ImageError, match="unreadable"):
        extract(b"\xff\xa0\xff\xa8" + bytes(100))
    with pytest.raises(UnsupportedMediaType, match="JPEG"):
        extract(_as("JPEG"))


def test_noise_is_flagged_low_quality_not_matched() -> None:
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 256, size=(400, 400), dtype=np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    try:
        result = extract(buffer.getvalue())
    except ImageError as exc:  # MINDTCT may also find nothing at all: refused, which is fine too
        assert "no minutiae" in exc.message
    else:
        assert result.low_quality
        assert any("NFIQ 2" in reason for reason in result.quality_reasons)
