"""The Dialogue's Chinese catalogue, read straight from `locale/zh_Hans/LC_MESSAGES/messages.po`.

Reading the .po (rather than a compiled .mo) keeps the catalogue a single reviewed text file; the
foundation may merge it into the application's catalogue at start-up as well.
"""

from __future__ import annotations

import functools
import io
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations


@functools.lru_cache(maxsize=2)
def translations(lang: str) -> NullTranslations:
    """gettext translations for `en` (identity) or `zh` (the module's catalogue)."""
    if lang != "zh":
        return NullTranslations()
    source = resources.files("passage.dialogue").joinpath("locale/zh_Hans/LC_MESSAGES/messages.po")
    with source.open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hans")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)
