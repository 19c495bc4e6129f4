"""Fill Chinese translations into a module's catalogue from a table, keeping every other entry.

    .venv/bin/python scripts/fill_catalogue.py src/passage/web/locale/zh_Hans/LC_MESSAGES/messages.po table.py

`table.py` holds one Python dict literal, English msgid -> Chinese. A plural entry (from `P_`/`ngettext`) is keyed by
its singular and gets the one Chinese form. Entries still without a translation are listed at the end.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po


def untranslated(catalogue: Catalog) -> list[str | tuple[str, ...]]:
    """The msgids without a Chinese text (a plural entry counts as translated only when every form is)."""
    return [m.id for m in catalogue if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]


def report_untranslated(catalogue: Catalog) -> int:
    """Print each untranslated msgid; return how many there are."""
    missing = untranslated(catalogue)
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return len(missing)


def main(argv: list[str]) -> int:
    po_path, table_path = Path(argv[0]), Path(argv[1])
    table: dict[str, str] = ast.literal_eval(table_path.read_text(encoding="utf-8"))
    with po_path.open("rb") as handle:
        catalogue = read_po(handle, locale="zh_Hans_CN")
    filled = 0
    for message in catalogue:
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in table:
            message.string = table[key] if isinstance(message.id, str) else (table[key],)
            filled += 1
    with po_path.open("wb") as handle:
        write_po(handle, catalogue, width=120, sort_output=True)
    print(f"{po_path}: {filled} filled, {report_untranslated(catalogue)} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
