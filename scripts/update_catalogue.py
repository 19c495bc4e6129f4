"""Extract a module's messages and merge them into its Chinese catalogue, keeping existing translations.

    .venv/bin/python scripts/update_catalogue.py web src/passage/web src/passage/security src/passage/core
    .venv/bin/python scripts/update_catalogue.py readmission

The first argument is the module that owns the catalogue (`src/passage/<module>/locale/zh_Hans/...`); the
rest are the source folders to extract from (default: the module's own folder). Untranslated entries are
listed on stdout; `tests/web/test_i18n.py` fails while any visible string lacks a translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from fill_catalogue import report_untranslated

ROOT = Path(__file__).resolve().parents[1]
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "lazy_gettext": None, "T_": None, "P_": (1, 2)}


def extract(folders: list[Path]) -> Catalog:
    catalogue = Catalog(locale="zh_Hans_CN", project="Passage")
    for folder in folders:
        for filename, lineno, message, comments, context in extract_from_dir(folder, METHOD_MAP, OPTIONS, KEYWORDS):
            catalogue.add(message, locations=[(str(Path(folder, filename).relative_to(ROOT)), lineno)], auto_comments=comments, context=context)
    return catalogue


def main(argv: list[str]) -> int:
    module = argv[0]
    folders = [ROOT / a for a in argv[1:]] or [ROOT / "src" / "passage" / module]
    po_path = ROOT / "src" / "passage" / module / "locale" / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    template = extract(folders)
    existing = read_po(po_path.open("rb"), locale="zh_Hans_CN") if po_path.exists() else Catalog(locale="zh_Hans_CN")
    merged = Catalog(locale="zh_Hans_CN", project="Passage", language_team="Passage <passage@example.org>")
    for message in template:
        if not message.id:
            continue
        old = existing.get(message.id, context=message.context)
        merged.add(message.id, old.string if old is not None else "", locations=message.locations, context=message.context)
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("wb") as handle:
        write_po(handle, merged, width=120, omit_header=False, sort_output=True)
    print(f"{po_path.relative_to(ROOT)}: {len(merged)} messages, {report_untranslated(merged)} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
