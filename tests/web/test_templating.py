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


def _pager(page: int, pages: int, query: object) -> str:
    from passage.web.templating import templates

    module = templates.env.from_string('{% from "_pagination.html" import pager %}{{ pager(page, pages, query) }}')
    return module.render(page=page, pages=pages, query=query)


def test_pager_encodes_the_filters_and_keeps_them_on_both_links() -> None:
    html = _pager(2, 3, {"q": "Wang & Li 王", "country": "ID", "reference": "a=b#c", "breached": None, "quality": ""})
    # every value URL-encoded ('&', '=', '#', spaces, Chinese), a None filter left out, an empty one kept, and then
    # the HTML attribute escaping of '&'
    query = "q=Wang+%26+Li+%E7%8E%8B&amp;country=ID&amp;reference=a%3Db%23c&amp;quality=&amp;"
    assert f'href="?{query}page=1" rel="prev"' in html
    assert f'href="?{query}page=3" rel="next"' in html
    assert "breached" not in html


def test_pager_without_filters_and_at_the_ends() -> None:
    first = _pager(1, 2, {})
    assert 'href="?page=2"' in first and "rel=\"prev\"" not in first
    last = _pager(2, 2, {"sort": "-updated"})
    assert 'href="?sort=-updated&amp;page=1"' in last and "rel=\"next\"" not in last


def test_pager_reads_as_one_sentence_in_chinese() -> None:
    from passage.core import i18n

    token = i18n.set_locale("zh_Hans")
    try:
        html = _pager(2, 1234, {})
    finally:
        i18n._current_locale.reset(token)
    assert "上一页" in html
    assert '第 <span class="nowrap">2</span> 页，共 <span class="nowrap">1,234</span> 页' in html
