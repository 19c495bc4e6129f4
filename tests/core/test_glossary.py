"""One Chinese term per concept: every catalogue entry that names a glossary concept uses its Chinese term."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from passage.core import i18n

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"


def glossary_rows() -> list[tuple[str, re.Pattern[str], str]]:
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("`"):
            continue
        rows.append((cells[0], re.compile(cells[1].strip("`"), re.IGNORECASE), cells[2]))
    return rows


def test_the_glossary_has_the_core_concepts() -> None:
    concepts = {concept for concept, _pattern, _term in glossary_rows()}
    assert {"readmission", "deemed acceptance", "identification", "assisted voluntary return and reintegration"} <= concepts


def test_every_translation_uses_the_glossary_term() -> None:
    rows = glossary_rows()
    wrong: list[str] = []
    for locale in i18n.LOCALES:
        if locale == "en":
            continue
        for po_path in i18n.module_catalogue_paths(locale):
            with po_path.open("rb") as handle:
                catalogue = read_po(handle)
            for message in catalogue:
                if not message.id or not message.string:
                    continue
                english = message.id if isinstance(message.id, str) else message.id[0]
                chinese = message.string if isinstance(message.string, str) else message.string[0]
                for concept, pattern, term in rows:
                    if pattern.search(english) and term not in chinese:
                        wrong.append(f"{po_path.parent.parent.parent.parent.name}: {english!r} -> {chinese!r} lacks {term} ({concept})")
    assert wrong == [], f"{len(wrong)} translations do not use the glossary term:\n" + "\n".join(wrong[:80])
