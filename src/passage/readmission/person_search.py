"""Normalised search keys of a case's person, and the reading of what a user typed in the case-list search box.

Pure (no I/O): the keys are plain strings here; `service` turns them into blind-index tokens
(`passage.security.blind_index`) before anything is stored or compared.

Keys, per kind (the kind is bound into each token, so a surname key never matches a given-name key):
- `surname`, `given`: every reading the identification engine derives for a name part
  (`identity.service.name_part_keys`: pinyin of characters, and the pinyin a Wade-Giles, Cantonese,
  Hokkien, Yale ... spelling may stand for), for the Latin name, the name in characters and each alias;
- `birth`: the date of birth as recorded (ISO `YYYY-MM-DD`, or `YYYY-MM` / `YYYY` when partial);
- `document`: passport, resident ID and travel document numbers, upper case, letters and digits only.
A name query matches a case when one surname key AND one given-name key of the same reading match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from passage.identity import service as identity

KINDS = ("surname", "given", "birth", "document")
_DOC_RE = re.compile(r"^[A-Z0-9]{5,30}$")
_REFERENCE_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,8}-[A-Z0-9]{3,8}$")
_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
def document_key(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def birth_key(text: str) -> str | None:
    """ISO form of a typed date (`identity.service.normalise_written_date`); a bare year is not a birth key."""
    key = identity.normalise_written_date(text)
    return key if key and len(key) >= 7 else None


def stored_birth_key(value: str | None) -> str | None:
    """The key of a stored date of birth (already validated as YYYY, YYYY-MM or YYYY-MM-DD)."""
    if not value:
        return None
    value = value.strip()
    return value if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value) else birth_key(value)


def _name_parts(surname: str | None, given: str | None) -> list[tuple[str, str]]:
    return [(surname or "", given or "")] if (surname or given) else []


def _characters_parts(characters: str | None) -> list[tuple[str, str]]:
    if not characters or not characters.strip():
        return []
    readings = identity.name_readings(characters)
    # characters are written surname first: keep only those readings (not the swapped ones)
    return [r for r in readings if characters.replace(" ", "").startswith(r[0])] or readings[:1]


def person_keys(*, surname: str | None, given_names: str | None, name_in_characters: str | None, aliases: Iterable[str],
                date_of_birth: str | None, documents: Iterable[str | None]) -> dict[str, set[str]]:
    """Every key of a case's person, by kind."""
    keys: dict[str, set[str]] = {kind: set() for kind in KINDS}
    readings = _name_parts(surname, given_names) + _characters_parts(name_in_characters)
    for alias in aliases:
        readings.extend(identity.name_readings(alias))
    for family, given in readings:
        keys["surname"].update(identity.name_part_keys(family, surname=True))
        keys["given"].update(identity.name_part_keys(given, surname=False))
    birth = stored_birth_key(date_of_birth)
    if birth:
        keys["birth"].add(birth)
    for number in documents:
        if number:
            key = document_key(number)
            if key:
                keys["document"].add(key)
    return keys


@dataclass
class PersonQuery:
    """What a search box holds: a reference, and/or a name (its readings), a date of birth, document numbers."""

    reference: str = ""
    name_readings: list[tuple[frozenset[str], frozenset[str]]] = field(default_factory=list)
    birth: str | None = None
    documents: list[str] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        """What was searched for (the audit entry names these, never the values)."""
        out = []
        if self.name_readings:
            out.append("name")
        if self.birth:
            out.append("birth")
        if self.documents:
            out.append("document")
        return out

    @property
    def empty(self) -> bool:
        return not (self.name_readings or self.birth or self.documents)


def parse_query(text: str) -> PersonQuery:
    """Read a search box: words that are dates become the date of birth, words of letters and digits with
    at least one digit become document numbers, everything else is the name (in any order or script)."""
    query = PersonQuery()
    text = " ".join(text.split())[:200]
    if not text:
        return query
    if _REFERENCE_RE.match(text.upper()):
        query.reference = text.upper()
    name_words: list[str] = []
    for word in re.split(r"[\s,;]+", text):
        if not word:
            continue
        birth = birth_key(word)
        if birth and query.birth is None:
            query.birth = birth
            continue
        document = document_key(word)
        if _DOC_RE.match(document) and any(ch.isdigit() for ch in document) and not _HAN_RE.search(word):
            query.documents.append(document)
            continue
        name_words.append(word)
    if name_words and not query.reference:
        name = " ".join(name_words)
        readings: list[tuple[frozenset[str], frozenset[str]]] = []
        for family, given in identity.name_readings(name):
            family_keys = frozenset(identity.name_part_keys(family, surname=True))
            given_keys = frozenset(identity.name_part_keys(given, surname=False))
            if family_keys or given_keys:
                readings.append((family_keys, given_keys))
        query.name_readings = list(dict.fromkeys(readings))
    elif query.reference:
        query.documents = []
    return query
