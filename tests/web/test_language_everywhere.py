"""Every page, PDF and CSV export, for every role, reads in the chosen language (issue 16).

The walk signs in as each demo user on the full demo data set, follows every same-site link it finds (one page per
link pattern, so that ten cases count once), and reads what a person would read:

- in **Chinese**, a run of Latin-script words outside the allow-list fails: code, references and proper names are
  allowed when the page marks them `translate="no"` (the HTML attribute for "do not translate") or puts them in
  `<code>`; acronyms and system names are allowed by the list below;
- in **English**, a message code or a raw stored value fails: `snake_case` words, dotted codes and `{placeholders}`.

PDFs are read with `pdftotext` (poppler), spreadsheets with openpyxl.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import _configure, _fresh_sqlite, demo_secret, totp_now

HTML = {"accept": "text/html"}
MAX_PAGES_PER_ROLE = 160

SKIP_PREFIXES = ("/logout", "/api/", "/static/", "/lang", "/healthz", "/login", "/metrics")
QUOTED_CODE = re.compile(r"`[^`\n]*`")
UPLOADED = re.compile(r"/evidence/|/attachments?/|/photos?/")
"""Documents people uploaded (evidence scans, form attachments) are their authors' text, not Passage's."""

SYSTEM_NAMES = {
    # systems, formats, standards and organisations known by their Latin names in Chinese texts; ordinary English
    # words are never here: a system name written with one ("ODK Central") is marked translate="no" where shown
    "passage", "iom", "dtm", "avrr", "hxl", "pdf", "csv", "xlsx", "xls", "json", "geojson", "zip", "api", "url",
    "utc", "odk", "kobo", "kobotoolbox", "xlsform", "xform", "xforms", "enketo", "pyodk", "flowminder", "flowkit",
    "splink", "wsq", "nist", "ansi", "iso", "iec", "totp", "hmac", "parquet", "duckdb", "spark", "postgresql",
    "sqlite", "openapi", "ed25519", "argon2", "sha", "eu", "mps", "unhcr", "ocha", "gps", "id", "ids", "pcode",
    "p-code", "p-codes", "wgs", "epsg", "osm", "sms", "cdr", "imei", "imsi", "msisdn", "wade-giles", "pinyin", "yale",
    "jyutping", "ipa", "www", "http", "https", "mrz", "icao", "eurodac", "frontex", "europol", "interpol", "emn",
    "eumigchina", "icmpd", "giz", "ilo", "undp", "unicef", "wfp", "gdpr", "pipl", "nfiq", "fellegi", "sunter", "jaro",
    "winkler", "tls", "xml", "html", "ascii", "utf", "bom", "eur", "cny", "usd", "gbp", "chf",
}


class VisibleText(HTMLParser):
    """The text a reader sees, without scripts, styles, code and parts marked `translate="no"`."""

    SKIPPED = {"script", "style", "code", "kbd", "samp", "pre", "template", "noscript", "svg"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))
        for name in ("title", "placeholder", "aria-label", "alt"):
            if attributes.get(name) and not self._hidden():
                self.parts.append(str(attributes[name]))
        if tag in self.VOID:
            return
        other_language = tag == "option" and attributes.get("lang") not in (None, "")  # the language chooser names each language in itself
        self._stack.append(tag in self.SKIPPED or attributes.get("translate") == "no" or "hidden" in attributes or other_language)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self._stack:
            self._stack.pop()

    def _hidden(self) -> bool:
        return any(self._stack)

    def handle_data(self, data: str) -> None:
        if not self._hidden() and data.strip():
            self.parts.append(data)

    @property
    def text(self) -> str:
        return "\n".join(self.parts)


LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’\-]*(?:[ \t]+[A-Za-z][A-Za-z'’\-]*)*")
TOKEN = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
REFERENCE_LIKE = re.compile(r"\S*\d\S*")
EMAIL_OR_URL = re.compile(r"\S+@\S+|\w+://\S+|\S+\.(?:org|com|int|cn|eu|net)\S*")


def allowed_token(token: str, proper_names: set[str]) -> bool:
    bare = token.strip("'’-")
    if not bare:
        return True
    lowered = bare.lower()
    if lowered in SYSTEM_NAMES or lowered in proper_names:
        return True
    if bare.isupper() and len(bare) <= 6:  # acronyms, ISO country and currency codes, P-code prefixes
        return True
    if len(bare) == 1:  # a single letter: a list marker, a grade, a unit
        return True
    return False


def latin_runs(text: str, proper_names: set[str]) -> list[str]:
    """Runs of Latin-script words a Chinese reader would have to read, minus the allowed tokens."""
    cleaned = EMAIL_OR_URL.sub(" ", text)
    cleaned = REFERENCE_LIKE.sub(" ", cleaned)
    found = []
    for run in LATIN_RUN.findall(cleaned):
        tokens = TOKEN.findall(run)
        if any(not allowed_token(t, proper_names) for t in tokens):
            found.append(run.strip())
    return found


CODE_LIKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\{[a-z_]+\}|\b[a-z]+\.[a-z_]+\.[a-z_]+\b")


def code_like(text: str) -> list[str]:
    """Message codes and raw stored values that an English reader should never see."""
    cleaned = EMAIL_OR_URL.sub(" ", text)
    return CODE_LIKE.findall(cleaned)


def pdf_text(content: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: `make system-deps` installs it")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.pdf"
        path.write_bytes(content)
        result = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        return f"UNREADABLE PDF: {result.stderr.decode('utf-8', 'replace')[:200]}"
    return result.stdout.decode("utf-8", "replace")


def xlsx_text(content: bytes) -> str:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(content), read_only=True)
    cells = []
    for sheet in workbook.worksheets:
        cells.append(sheet.title)
        for row in sheet.iter_rows(max_row=200, values_only=True):
            cells.extend(str(v) for v in row if v is not None)
    return "\n".join(cells)


def link_pattern(path: str) -> str:
    """One page per link pattern: identifiers, references and numbers in a path collapse to `*`."""
    parts = urlsplit(path)
    segments = []
    for segment in parts.path.split("/"):
        segments.append("*" if re.search(r"\d", segment) or len(segment) >= 20 else segment)
    query_keys = sorted({pair.split("=")[0] for pair in parts.query.split("&") if pair})
    return "/".join(segments) + ("?" + "&".join(query_keys) if query_keys else "")


def web_sign_in(client: Any, username: str) -> None:
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token, "the sign-in page has no login_csrf"
    response = client.post("/login", data={"username": username, "password": "passage-demo-2026", "login_csrf": token.group(1), "next": "/"},
                           headers=HTML, follow_redirects=False)
    assert response.status_code == 303, response.text
    if response.headers["location"].startswith("/login/second-factor"):
        page = client.get(response.headers["location"], headers=HTML)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        done = client.post("/login/second-factor", data={"code": totp_now(demo_secret(username)), "csrf_token": csrf.group(1), "next": "/"},
                           headers=HTML, follow_redirects=False)
        assert done.status_code == 303, done.text


def walk(client: Any, *, locale: str, proper_names: set[str]) -> dict[str, list[str]]:
    """Visit every page pattern reachable from the home page; return page -> problems found on it."""
    problems: dict[str, list[str]] = {}
    queue = ["/"]
    seen_patterns: set[str] = set()
    visited = 0
    while queue and visited < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        pattern = link_pattern(path)
        if pattern in seen_patterns:
            continue
        seen_patterns.add(pattern)
        response = client.get(path, headers=HTML)
        visited += 1
        if response.status_code >= 500:
            problems[path] = [f"HTTP {response.status_code}"]
            continue
        content_type = response.headers.get("content-type", "")
        links: list[str] = []
        if "text/html" in content_type:
            parser = VisibleText()
            parser.feed(response.text)
            text = parser.text
            links = parser.links
        elif "application/pdf" in content_type:
            text = pdf_text(response.content)
        elif "spreadsheetml" in content_type:
            text = xlsx_text(response.content)
        elif "text/csv" in content_type or "text/plain" in content_type:
            text = QUOTED_CODE.sub(" ", response.text)  # a spreadsheet quotes its codes `like this`: it has no markup
        else:
            continue
        found = latin_runs(text, proper_names) if locale == "zh_Hans" else code_like(text)
        if found:
            problems[path] = sorted(set(found))
        for href in links:
            target = urljoin(path, href)
            split = urlsplit(target)
            if split.netloc or split.scheme not in ("", "http", "https") or not split.path.startswith("/"):
                continue
            if split.path.startswith(SKIP_PREFIXES) or UPLOADED.search(split.path):
                continue
            if re.search(r"(?:^|&)lang=(?!" + ("zh" if locale == "zh_Hans" else "en") + ")", split.query):
                continue  # the other language's version of a bilingual report is meant to be in that language
            local = split.path + (f"?{split.query}" if split.query else "")
            if link_pattern(local) not in seen_patterns:
                queue.append(local)
    return problems


@pytest.fixture(scope="module")
def demo_site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from passage.core.db import dispose_engines
    from passage.security.demo import load_demo

    folder = tmp_path_factory.mktemp("walk")
    url = _fresh_sqlite(sqlite_template, folder)
    load_demo()
    dispose_engines()
    yield Path(url.removeprefix("sqlite:///")).parent
    dispose_engines()


def demo_proper_names() -> set[str]:
    from passage.security.demo import DEMO_USERS

    names: set[str] = set()
    for spec in DEMO_USERS:
        for part in re.split(r"[\s.]+", f"{spec['display_name']} {spec['username']}"):
            if part:
                names.add(part.lower())
    # People named in the demo's Dialogue events (participants of the seed reports): pages mark their names
    # translate="no", but a PDF's text (pdftotext) cannot carry that mark, so the names themselves are allowed.
    from passage.dialogue.service import seed_data

    for person in seed_data()["participants"]:
        names.update(part.lower() for part in re.split(r"[\s.]+", str(person["name"])) if part)
        names.update(part.lower() for part in re.split(r"[\s.\-]+", str(person["name"])) if part)  # "Jean-" at a PDF line end
    return names


def roles() -> list[str]:
    from passage.security.demo import DEMO_USERS

    return [str(spec["username"]) for spec in DEMO_USERS]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
@pytest.mark.parametrize("username", roles())
def test_every_page_and_export_reads_in_the_chosen_language(demo_site: Path, username: str, locale: str) -> None:
    from fastapi.testclient import TestClient

    from passage.core.app import create_app
    from passage.core.db import dispose_engines
    from passage.security.service import rate_limiter

    _configure(demo_site, f"sqlite:///{demo_site / 'passage.db'}")  # the module's demo store, for this test's app
    rate_limiter.clear()
    with TestClient(create_app()) as client:
        client.cookies.set("passage_lang", locale)
        web_sign_in(client, username)
        problems = walk(client, locale=locale, proper_names=demo_proper_names())
    dispose_engines()
    report = "\n".join(f"{page}: {' | '.join(found[:12])}" for page, found in sorted(problems.items()))
    what = "Latin-script text on Chinese pages" if locale == "zh_Hans" else "message codes or raw values on English pages"
    assert problems == {}, f"{what} for {username}:\n{report}"
