"""Blocking keys of the identity index: which keys a registry record and a query share.

Blocking (candidate generation) follows Christen (2012), "Data Matching", ch. 4: several keys per record
("multi-pass blocking") so that one wrong field still leaves a shared key: pinyin surname + given name;
surname + birth year; given name + birth year; full date of birth + surname initial; date + given-name
initial; three overlapping pieces of the ID number. Registries in Latin script also get keys that survive
typing errors in *every* field (Christen 2012, §4.3-4.5): Soundex codes of both name parts (phonetic
encoding; Russell 1918, Knuth 1973), the first two letters of both parts, the last three letters of both
parts (a typo early in a name), and Soundex of the given name + year-month. A key shared by more than
`segments.MAX_BLOCK` rows is narrowed at query time by the query's birth year, sex and place (`narrow_blocks`).

Keys are tuples (kind, a, b) of integers; strings enter through a 64-bit BLAKE2b hash, and the tuple is
mixed to one 64-bit hash with SplitMix64 (Steele et al. 2014) in numpy, so that millions of keys are
hashed in one vectorised pass. Pure: no files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

from passage.identity import compare, dates, places, resident_id
from passage.identity.romanisation import compact, is_han, latin_to_pinyin_keys, pinyin_keys

Key = tuple[int, int, int]
# Key kinds (the first element of a key tuple).
K_NAME, K_SURNAME_YEAR, K_GIVEN_YEAR, K_DATE_SURNAME, K_DATE_GIVEN, K_ID, K_ID_PIECE = 1, 2, 3, 4, 5, 6, 7
K_SOUNDEX, K_PREFIX, K_SUFFIX, K_GIVEN_SOUNDEX_MONTH = 8, 9, 10, 11
K_DATE_ONLY, K_SURNAME_ONLY, K_GIVEN_ONLY = 12, 13, 14


@lru_cache(maxsize=1_000_000)
def _sh(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def key_hashes(keys: Sequence[Key]) -> np.ndarray:
    """64-bit hashes of key tuples, vectorised (uint64)."""
    if not keys:
        return np.zeros(0, dtype=np.uint64)
    arr = np.array(keys, dtype=np.uint64).reshape(-1, 3)
    with np.errstate(over="ignore"):
        h = _splitmix(arr[:, 0])
        h = _splitmix(h ^ arr[:, 1])
        return _splitmix(h ^ arr[:, 2])


@lru_cache(maxsize=200_000)
def soundex(word: str) -> str:
    """American Soundex code (Russell 1918; Knuth 1973, TAOCP vol. 3) of a folded Latin word, '' if none."""
    word = "".join(ch for ch in word if "a" <= ch <= "z")
    if not word:
        return ""
    codes = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"), "l": "4",
             **dict.fromkeys("mn", "5"), "r": "6"}
    out = word[0]
    last = codes.get(word[0], "")
    for ch in word[1:]:
        code = codes.get(ch, "")
        if code and code != last:
            out += code
            if len(out) == 4:
                break
        if ch not in "hw":
            last = code
    return out.ljust(4, "0")


def _latin_typo_keys(s: str, g: str, years: Sequence[int], month_keys: Sequence[int], days: Sequence[int] = ()) -> list[Key]:
    """Keys of a Latin-script name that survive a typing error in the name and in the date (Christen 2012, ch. 4).

    Also the single-field keys a careful Splink user blocks on (date of birth alone, surname alone, given
    name alone): a record whose other fields are all mistyped still shares one of them.
    """
    keys: list[Key] = [(K_DATE_ONLY, d, 0) for d in days]
    if s:
        keys.append((K_SURNAME_ONLY, _sh(s), 0))
    if g:
        keys.append((K_GIVEN_ONLY, _sh(g), 0))
    if not s or not g:
        return keys
    sx_s, sx_g = soundex(s), soundex(g)
    keys.append((K_SOUNDEX, _sh(sx_s), _sh(sx_g)))
    keys.append((K_SUFFIX, _sh(s[-3:]), _sh(g[-3:])))
    keys += [(K_PREFIX, _sh(s[:2] + "|" + g[:2]), y) for y in years]
    keys += [(K_GIVEN_SOUNDEX_MONTH, _sh(sx_g), ym) for ym in month_keys]
    return keys


@lru_cache(maxsize=500_000)
def _record_name_keys(family: str, given: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[tuple[str, str], ...]]:
    """Hashed surname keys, given keys, their initials, and the Latin (surname, given) pair for typo keys."""
    surnames = pinyin_keys(family, surname=True)[:4] if family else ()
    givens = pinyin_keys(given, surname=False)[:4] if given else ()
    latin: tuple[tuple[str, str], ...] = ()
    if (family or given) and not is_han(family + given):
        latin = ((compact(family), compact(given)),)
    return (tuple(_sh(s) for s in surnames), tuple(_sh(g) for g in givens), tuple(dict.fromkeys(_sh(s[:1]) for s in surnames)),
            tuple(dict.fromkeys(_sh(g[:1]) for g in givens)), latin)


def _date_int(date: dt.date | None) -> int:
    return date.year * 10000 + date.month * 100 + date.day if date is not None else 0


def record_keys(record: compare.Record) -> list[Key]:
    """Blocking keys of one registry record."""
    surnames, givens, s_init, g_init, latin = _record_name_keys(record.family_name, record.given_name)
    keys: list[Key] = [(K_NAME, s, g) for s in surnames for g in givens]
    day = _date_int(record.birth_date)
    if record.birth_date is not None:
        year = record.birth_date.year
        keys += [(K_SURNAME_YEAR, s, year) for s in surnames]
        keys += [(K_GIVEN_YEAR, g, year) for g in givens]
        keys += [(K_DATE_SURNAME, day, i) for i in s_init]
        # Date + given-name initial: finds a record whose surname and given name both carry a typo.
        keys += [(K_DATE_GIVEN, day, i) for i in g_init]
    for s, g in latin:
        years = [record.birth_date.year] if record.birth_date is not None else [0]
        months = [day // 100] if record.birth_date is not None else []
        keys += _latin_typo_keys(s, g, years, months, [day] if day else [])
    if record.id_number:
        keys += _id_keys(record.id_number)
    return list(dict.fromkeys(keys))


def _id_keys(number: str) -> list[Key]:
    clean = resident_id.clean(number)
    if not clean:
        return []
    return [(K_ID, _sh(clean), 0), *((K_ID_PIECE, _sh(k), 0) for k in resident_id.blocking_keys(number))]


@lru_cache(maxsize=200_000)
def _name_keys(text: str, *, surname: bool, limit: int) -> tuple[str, ...]:
    if not text:
        return ()
    if is_han(text):
        return pinyin_keys(text, surname=surname)[:limit]
    return latin_to_pinyin_keys(text, limit=limit)


def _query_date_parts(birth: dates.PartialDate | None) -> tuple[list[int], list[int], int, list[int]]:
    """The date parts of a query's keys: years (±1), year-months (also day and month swapped), the full date
    as YYYYMMDD (0 if not given to the day), and the full dates (also swapped)."""
    if birth is None:
        return [], [], 0, []
    years = [birth.year + d for d in (0, -1, 1)]
    months: list[int] = []
    if birth.month is not None:
        months = [birth.year * 100 + birth.month]
        if birth.day is not None and birth.day <= 12 and birth.day != birth.month:
            months.append(birth.year * 100 + birth.day)  # day and month swapped
    if birth.precision != "day":
        return years, months, 0, []
    assert birth.month is not None and birth.day is not None
    day = birth.year * 10000 + birth.month * 100 + birth.day
    swapped = [birth.year * 10000 + birth.day * 100 + birth.month] if birth.day <= 12 and birth.day != birth.month else []
    return years, months, day, [day, *swapped]


def query_keys(query: compare.Query) -> list[Key]:
    """Blocking keys of a query, over every reading of its names (see `compare.name_interpretations`)."""
    keys: list[Key] = []
    years, months, day, day_keys = _query_date_parts(query.birth_date)
    for family, given in compare.name_interpretations(query):
        surnames = [_sh(s) for s in _name_keys(family, surname=True, limit=16)]
        givens = [_sh(g) for g in _name_keys(given, surname=False, limit=24)]
        surname_texts = _name_keys(family, surname=True, limit=16)
        given_texts = _name_keys(given, surname=False, limit=24)
        keys += [(K_NAME, s, g) for s in surnames for g in givens]
        for year in years:
            keys += [(K_SURNAME_YEAR, s, year) for s in surnames[:12]]
            keys += [(K_GIVEN_YEAR, g, year) for g in givens[:12]]
        if day:
            keys += [(K_DATE_SURNAME, day, _sh(s[:1])) for s in surname_texts]
            keys += [(K_DATE_GIVEN, day, _sh(g[:1])) for g in given_texts]
        if (family or given) and not is_han(family + given):
            keys += _latin_typo_keys(compact(family), compact(given), years or [0], months, day_keys)
    if query.id_number:
        keys += _id_keys(query.id_number)
    return list(dict.fromkeys(keys))


def _partial_mix(kind: int, a: np.ndarray) -> np.ndarray:
    """The first two SplitMix64 rounds of `key_hashes` for keys (kind, a, ·); finish with `_splitmix(partial ^ b)`."""
    with np.errstate(over="ignore"):
        return _splitmix(_splitmix(np.full(len(a), kind, dtype=np.uint64)) ^ a)


@dataclass(frozen=True)
class _ReadingHashes:
    """Blocking-key hashes of one (family, given) reading of a query, as far as they do not depend on its date."""

    names: np.ndarray  # finished hashes of (K_NAME, surname reading, given reading)
    surname_year: np.ndarray  # partial hashes of (K_SURNAME_YEAR, surname reading, ·)
    given_year: np.ndarray  # partial hashes of (K_GIVEN_YEAR, given reading, ·)
    surname_initials: np.ndarray  # hashes of the surname readings' initials (K_DATE_SURNAME's third part)
    given_initials: np.ndarray


@lru_cache(maxsize=100_000)
def _reading_hashes(family: str, given: str) -> _ReadingHashes:
    surnames = np.array([_sh(x) for x in _name_keys(family, surname=True, limit=16)], dtype=np.uint64)
    givens = np.array([_sh(x) for x in _name_keys(given, surname=False, limit=24)], dtype=np.uint64)
    with np.errstate(over="ignore"):
        names = _splitmix(np.repeat(_partial_mix(K_NAME, surnames), len(givens)) ^ np.tile(givens, len(surnames)))
    return _ReadingHashes(names, _partial_mix(K_SURNAME_YEAR, surnames[:12]), _partial_mix(K_GIVEN_YEAR, givens[:12]),
                          np.array([_sh(x[:1]) for x in _name_keys(family, surname=True, limit=16)], dtype=np.uint64),
                          np.array([_sh(x[:1]) for x in _name_keys(given, surname=False, limit=24)], dtype=np.uint64))


def query_key_hashes(query: compare.Query) -> np.ndarray:
    """The distinct hashes of `query_keys(query)`, computed with numpy broadcasting (the search path).

    Same keys as `query_keys`, which stays the readable definition (and is what Spark uses).
    """
    years, months, day, day_keys = _query_date_parts(query.birth_date)
    year_array = np.array(years, dtype=np.uint64)
    finished: list[np.ndarray] = []
    unfinished: list[np.ndarray] = []  # (partial hash ^ last part), finished by one SplitMix64 round at the end
    latin: list[Key] = []
    with np.errstate(over="ignore"):
        if day:
            day_surname, day_given = _partial_mix(K_DATE_SURNAME, np.array([day], dtype=np.uint64)), _partial_mix(K_DATE_GIVEN, np.array([day], dtype=np.uint64))
        for family, given in compare.name_interpretations(query):
            reading = _reading_hashes(family, given)
            finished.append(reading.names)
            if len(year_array):
                unfinished.append((reading.surname_year[:, None] ^ year_array[None, :]).ravel())
                unfinished.append((reading.given_year[:, None] ^ year_array[None, :]).ravel())
            if day:
                unfinished.append(day_surname ^ reading.surname_initials)
                unfinished.append(day_given ^ reading.given_initials)
            if (family or given) and not is_han(family + given):
                latin += _latin_typo_keys(compact(family), compact(given), years or [0], months, day_keys)
        if unfinished:
            finished.append(_splitmix(np.concatenate(unfinished)))
    if query.id_number:
        latin += _id_keys(query.id_number)
    finished.append(key_hashes(latin))
    return np.unique(np.concatenate(finished))



@lru_cache(maxsize=500_000)
def _frequency_parts(family: str, given: str) -> tuple[str, str, str]:
    s = (pinyin_keys(family, surname=True) or ("",))[0] if family else ""
    g = (pinyin_keys(given, surname=False) or ("",))[0] if given else ""
    return f"{s}|{g}", s, g


# --- narrowing an oversized block ----------------------------------------------------------------------------

MAX_NARROWED_BLOCK = 250_000
"""The largest block (postings of one key) that is narrowed (`narrow_blocks`) rather than skipped: reading it costs
about 1 ms per 25,000 rows. At 10M records the largest name block holds 26,782 rows; a key held by more rows than
this is a surname or a year alone and narrows nothing a query's other keys do not."""

_PLACE_PROVINCE = frozenset({"county", "prefecture", "province", "written_close"})
_PLACE_COUNTY = frozenset({"county"})


@dataclass(frozen=True)
class Narrowing:
    """The evidence of a query that narrows an oversized block: birth year (±1), sex code (1 M, 2 F), place of birth.

    A block of more than `segments.MAX_BLOCK` rows (王勇 has 23,116 records at 10M) is not skipped but narrowed
    step by step, each step adding one more field the query gives, until it holds at most `limit` rows
    (`narrow_blocks`). This is sub-blocking by a further blocking variable (Christen 2012, "Data Matching",
    ch. 4.2, on block size and multi-pass blocking) applied only where a block is too large, instead of
    block purging, which drops such blocks whole (Papadakis et al. 2020, "Blocking and filtering techniques for
    entity resolution: a survey", ACM Computing Surveys 53(2), §5.1): a common name with a date, sex or place
    still yields the namesakes that agree on them. A record missing a field is never excluded by it.
    """

    years: tuple[int, int] | None = None
    sex: int = 0
    place: places.Place | None = None
    _place_levels: dict[str, str | None] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, query: compare.Query) -> Narrowing:
        year = query.birth_date.year if query.birth_date is not None else None
        place = places.resolve(query.birth_place) if query.birth_place else None
        return cls(years=(year - 1, year + 1) if year else None, sex=query.sex_code,
                   place=place if place is not None and not place.empty else None)

    @property
    def empty(self) -> bool:
        return not self.steps()

    def steps(self) -> list[str]:
        """The narrowing steps this query can take, in order: birth year within one year, sex, place of birth in
        the same province, then in the same county."""
        return [*(["year"] if self.years is not None else []), *(["sex"] if self.sex else []),
                *(["province", "county"] if self.place is not None else [])]

    def passes(self, step: str, columns: BlockColumns, positions: np.ndarray) -> np.ndarray:
        """Which of the postings at `positions` agree with the query on `step` (a missing value agrees)."""
        if step == "year":
            assert self.years is not None
            year = np.asarray(columns.year(positions))
            return (year == 0) | ((year >= self.years[0]) & (year <= self.years[1]))
        if step == "sex":
            sex = np.asarray(columns.sex(positions))
            return (sex == 0) | (sex == self.sex)
        assert self.place is not None
        place_keys, place_of = columns.places(positions)
        accepted = _PLACE_PROVINCE if step == "province" else _PLACE_COUNTY
        ok = np.array([lv is None or lv in accepted for lv in (self._place_level(key) for key in place_keys)], dtype=bool)
        return ok[place_of] if len(ok) else np.ones(len(positions), dtype=bool)

    def _place_level(self, key: str) -> str | None:
        """The place level of a registry place key against the query's place, each key compared once per query."""
        level = self._place_levels.get(key, "")
        if level == "":
            from passage.identity.registry import place_of_key

            assert self.place is not None
            level = self._place_levels[key] = places.compare_places(self.place, place_of_key(key))
        return level


class BlockColumns(Protocol):
    """Values of the rows behind postings of oversized blocks, read only for the postings a step still needs."""

    def year(self, positions: np.ndarray) -> np.ndarray:
        """Years of birth (0 missing)."""

    def sex(self, positions: np.ndarray) -> np.ndarray:
        """Sex codes (0 missing, 1 M, 2 F)."""

    def places(self, positions: np.ndarray) -> tuple[Sequence[str], np.ndarray]:
        """The distinct place keys (`registry._place_key`) and each posting's position among them."""


def narrow_blocks(narrowing: Narrowing, block_of: np.ndarray, blocks: int, columns: BlockColumns, *, limit: int) -> np.ndarray:
    """Which postings of oversized blocks are kept: `block_of[i]` is the block (0..blocks-1) of posting i, `columns`
    reads the values of its row.

    Each block takes the first step of `Narrowing.steps` that leaves it at most `limit` rows and keeps the rows of
    that step; a block that no step brings under `limit` is dropped, as an oversized key was before. Each step reads
    only the postings still in an undecided block. Shared by both engines (`RegistryIndex.candidate_pool`,
    `spark_link.candidate_pairs`), so they keep the same rows.
    """
    kept = np.zeros(len(block_of), dtype=bool)
    steps = narrowing.steps()
    if not len(block_of) or not steps:
        return kept
    alive, block = np.arange(len(block_of), dtype=np.int64), np.asarray(block_of)  # postings still in play, their blocks
    undecided = np.ones(blocks, dtype=bool)
    for step in steps:
        ok = narrowing.passes(step, columns, alive)
        alive, block = alive[ok], block[ok]
        take = (np.bincount(block, minlength=blocks) <= limit) & undecided
        decided_now = take[block]
        kept[alive[decided_now]] = True
        undecided &= ~take
        if not undecided.any():
            break
        alive, block = alive[~decided_now], block[~decided_now]  # rows of blocks decided earlier left before
    return kept
