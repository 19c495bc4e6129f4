"""Issue 17 item 7 through the API: a workbook that expands too far is refused with 413 by the limited worker."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

from passage.core.settings import reset_settings_cache
from tests.conftest import api_headers

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _workbook(rows: int) -> bytes:
    buffer = io.BytesIO()
    body = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c></row>' for n in range(1, rows + 1))
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", f"<worksheet><sheetData>{body}</sheetData></worksheet>")
    return buffer.getvalue()


def test_a_workbook_with_too_many_rows_is_413_before_parsing(app_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PASSAGE_IMPORT_MAX_ROWS", "1000")  # the worker process reads the same environment
    reset_settings_cache()
    headers = api_headers(app_client, "analyst")
    started = time.monotonic()
    response = app_client.post("/api/v1/forms", files={"file": ("bomb.xlsx", _workbook(5000), XLSX)}, headers=headers)
    assert response.status_code == 413, response.text
    assert "more than 1000 rows" in response.json()["detail"]
    assert time.monotonic() - started < 60
    reset_settings_cache()


def test_a_workbook_that_expands_too_far_is_413(app_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PASSAGE_IMPORT_MAX_EXPANDED_BYTES", str(1024 * 1024))
    reset_settings_cache()
    headers = api_headers(app_client, "analyst")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/sharedStrings.xml", "<sst>" + "A" * (8 * 1024 * 1024) + "</sst>")
    response = app_client.post("/api/v1/forms", files={"file": ("bomb.xlsx", buffer.getvalue(), XLSX)}, headers=headers)
    assert response.status_code == 413
    assert "expands to more than" in response.json()["detail"]
    reset_settings_cache()
