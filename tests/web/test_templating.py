"""Shared page helpers: the local-redirect guard."""

from __future__ import annotations

import pytest

from passage.web.templating import safe_next


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/readmission/cases/abc", "/readmission/cases/abc"),
        ("//evil.example/phish", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next_only_allows_local_paths(candidate: str | None, expected: str) -> None:
    assert safe_next(candidate) == expected
