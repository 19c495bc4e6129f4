"""Gallery storage and 1:N search: encrypted templates on disk, an MCC index in memory, Bozorth3 re-ranking.

Storage layout of a gallery directory (every file written through `atomic_output`):

* `manifest.json` - `{"version": 1, "entries": [{"record_id", "person_id", "fingers", "nfiq2"}]}`;
  ids only, no personal values, no template bytes.
* `templates/<record_id>.bin` - the ISO/IEC 19794-2:2005 record, passed through `encrypt`.
* `images/<record_id>.bin` - the source image, through `encrypt`, only if `keep_images` is set.

Templates are bytes handed to a pluggable pair `encrypt(data, *, context) -> bytes` /
`decrypt(blob, *, context) -> bytes`, the signature of the foundation's
`passage.security.crypto.encrypt_bytes` / `decrypt_bytes`; the context names the gallery entry so
that a blob moved to another entry fails to decrypt. Wave 2 passes the foundation's functions.

Search (1:N): the probe's MCC cylinders are looked up in the `CylinderIndex` (Cappelli et al. 2010,
2011) to shortlist `shortlist` candidates, which are re-ranked by Bozorth3 and calibrated to log2
LRs (`matching.match_records`), person by person (several fingers of one person are fused).
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from passage.biometrics.codec import MinutiaeRecord, decode, encode
from passage.biometrics.index import CylinderIndex, minutiae_array
from passage.biometrics.matching import (
    DEFAULT_CALIBRATION,
    Calibration,
    MatchResult,
    PreparedRecord,
    match_records,
    view_is_low_quality,
)
from passage.core.errors import Conflict, InvalidInput, NotFound
from passage.core.files import atomic_output
from passage.core.i18n import N_, T_


class Encrypt(Protocol):
    def __call__(self, data: bytes, *, context: str) -> bytes: ...


class Decrypt(Protocol):
    def __call__(self, blob: bytes, *, context: str) -> bytes: ...


ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MANIFEST = "manifest.json"
SHORTLIST_FLOOR = 100
SHORTLIST_FRACTION = 0.002
STAGE_ONE_FLOOR = 1000
STAGE_ONE_FRACTION = 0.06


def _check_id(value: str, what: str) -> str:
    if not ID_PATTERN.match(value or ""):
        raise InvalidInput(T_("{what} must be 1-64 characters of letters, digits, '_', '-' or '.'", what=what))
    return value


@dataclass(frozen=True)
class Enrolment:
    record_id: str
    person_id: str
    record: MinutiaeRecord
    image: bytes | None = None


@dataclass(frozen=True)
class Candidate:
    person_id: str
    record_ids: tuple[str, ...]
    prefilter_score: float
    result: MatchResult

    @property
    def log2_lr(self) -> float:
        return self.result.log2_lr


def default_shortlist(gallery_size: int) -> int:
    """Shortlist size per probe finger: SHORTLIST_FLOOR, growing with the gallery (see docs/biometrics.md).

    Tuned on bench/biometrics/bench_search.py so that every real mate the Bozorth3 linear scan finds
    stays in the shortlist at 10,000 and 100,000 templates, within the 1 s budget on 2 cores.
    """
    return max(SHORTLIST_FLOOR, math.ceil(SHORTLIST_FRACTION * gallery_size))


def default_stage_one(gallery_size: int) -> int:
    """Candidates kept by the hashed-MCC stage for the MCC local similarity stage (see `index.py`)."""
    return max(STAGE_ONE_FLOOR, math.ceil(STAGE_ONE_FRACTION * gallery_size))


class SearchIndex:
    """The in-memory 1:N core shared by the database gallery (`service.py`) and the directory `Gallery`.

    Records are added by id with their person (`add`, or `add_many` to compute cylinders in
    vectorised batches); removal masks at once. `search` shortlists with the MCC index (optionally
    restricted to the ids the caller may see), re-ranks with Bozorth3 and fuses per person. Records
    are kept encoded (ISO bytes); shortlisted ones are decoded and their Bozorth3 templates loaded
    once, then cached (`PREPARED_CACHE` most recent). `to_bytes`/`from_bytes` serialise everything
    (cylinders, ids, persons, templates) for an encrypted copy on disk: the caller encrypts.
    """

    PREPARED_CACHE = 20000

    def __init__(self) -> None:
        self._index = CylinderIndex()
        self._slots: list[tuple[str, int]] = []
        self._slots_of: dict[str, list[int]] = {}
        self._records: dict[str, bytes] = {}
        self._persons: dict[str, str] = {}
        self._prepared: dict[str, PreparedRecord] = {}
        self._lock = threading.RLock()
        self.changes = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records

    def ids(self) -> set[str]:
        return set(self._records)

    def add(self, record_id: str, person_id: str, record: MinutiaeRecord) -> None:
        self.add_many([(record_id, person_id, record)])

    def add_many(self, items: Iterable[tuple[str, str, MinutiaeRecord]]) -> None:
        """Add records (already present ids are skipped); cylinders for the whole batch are computed at once."""
        with self._lock:
            fresh: list[tuple[str, str, MinutiaeRecord]] = []
            seen: set[str] = set()
            for record_id, person_id, record in items:
                if record_id in self._records or record_id in seen:
                    continue
                seen.add(record_id)
                fresh.append((record_id, person_id, record))
            if not fresh:
                return
            points = [minutiae_array(record, view) for _, _, record in fresh for view in range(len(record.views))]
            entries = iter(self._index.add_many(points))
            for record_id, person_id, record in fresh:
                self._records[record_id] = encode(record)
                self._persons[record_id] = person_id
                slots = self._slots_of.setdefault(record_id, [])
                for view_index in range(len(record.views)):
                    slots.append(next(entries))
                    self._slots.append((record_id, view_index))
            self.changes += len(fresh)

    def remove(self, record_id: str) -> None:
        with self._lock:
            if record_id not in self._records:
                return
            for slot in self._slots_of.pop(record_id, []):
                self._index.remove(slot)
            self._records.pop(record_id, None)
            self._persons.pop(record_id, None)
            self._prepared.pop(record_id, None)
            self.changes += 1

    def person_of(self, record_id: str) -> str:
        if record_id not in self._persons:
            raise NotFound(N_("no such gallery record"))
        return self._persons[record_id]

    def record(self, record_id: str) -> MinutiaeRecord:
        if record_id not in self._records:
            raise NotFound(N_("no such gallery record"))
        return decode(self._records[record_id])

    def _prepared_record(self, record_id: str) -> PreparedRecord:
        prepared = self._prepared.get(record_id)
        if prepared is None:
            prepared = PreparedRecord(decode(self._records[record_id]))
            with self._lock:
                if len(self._prepared) >= self.PREPARED_CACHE:
                    self._prepared.pop(next(iter(self._prepared)))
                self._prepared[record_id] = prepared
        return prepared

    def freeze(self) -> None:
        with self._lock:
            self._index.freeze()

    def memory_bytes(self) -> int:
        """Approximate bytes: index arrays plus encoded templates (Python object overhead not counted)."""
        return self._index.memory_bytes() + sum(len(b) for b in self._records.values())

    def to_bytes(self) -> bytes:
        """A self-contained snapshot (NumPy .npz without pickles): index arrays, slots, persons, templates."""
        with self._lock:
            arrays = self._index.to_arrays()
            meta = {"version": 1, "slots": self._slots, "persons": self._persons}
            ids = list(self._records)
            blobs = [self._records[i] for i in ids]
        meta["record_ids"] = ids
        lengths = np.array([len(b) for b in blobs], dtype=np.int64)
        arrays["templates"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays["template_lengths"] = lengths
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # NumPy's stub types **kwds as bool
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SearchIndex:
        """Inverse of `to_bytes`; raises ValueError on anything that does not fit together."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
                arrays = {name: loaded[name] for name in loaded.files}
            meta = json.loads(arrays.pop("meta").tobytes())
            if meta.get("version") != 1:
                raise ValueError("unknown index snapshot version")
            core = cls()
            core._index = CylinderIndex.from_arrays(arrays)
            core._slots = [(str(r), int(v)) for r, v in meta["slots"]]
            if len(core._slots) != len(core._index):
                raise ValueError("index snapshot slots do not match its entries")
            blob = arrays["templates"].tobytes()
            ends = np.cumsum(arrays["template_lengths"])
            starts = ends - arrays["template_lengths"]
            persons = {str(k): str(v) for k, v in meta["persons"].items()}
            for record_id, start, end in zip(meta["record_ids"], starts, ends, strict=True):
                core._records[record_id] = blob[int(start):int(end)]
                core._persons[record_id] = persons[record_id]
            for entry, (record_id, _) in enumerate(core._slots):
                if record_id in core._records:
                    core._slots_of.setdefault(record_id, []).append(entry)
                else:
                    core._index.remove(entry)
        except (KeyError, TypeError, OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a Passage index snapshot ({type(exc).__name__})") from None
        return core

    def search(self, probe: MinutiaeRecord, *, top: int = 10, shortlist: int | None = None,
               calibration: Calibration = DEFAULT_CALIBRATION, allow_low_quality: bool = False,
               visible: Collection[str] | None = None, exclude: Collection[str] = (),
               on_candidate: Callable[[str], None] | None = None) -> list[Candidate]:
        """1:N: MCC prefilter shortlist per probe finger, Bozorth3 re-rank, fused per person, best first."""
        if not probe.views or probe.minutiae_count() == 0:
            raise InvalidInput(N_("the probe template is empty (no minutiae)"))
        usable = [i for i, v in enumerate(probe.views) if allow_low_quality or not view_is_low_quality(v)]
        if not usable:
            raise InvalidInput(N_("the probe's fingerprint quality is too low to search (NFIQ 2 or minutiae count); recapture it"))
        size = len(self._records) if visible is None else len(visible)
        depth = shortlist if shortlist is not None else default_shortlist(size)
        prefilter: dict[str, float] = {}
        with self._lock:
            allowed: np.ndarray | None = None
            if visible is not None or exclude:
                keep = (set(visible) if visible is not None else set(self._records)) - set(exclude)
                allowed = np.fromiter((rid in keep for rid, _ in self._slots), dtype=bool, count=len(self._slots))
            for view_index in usable:
                for hit in self._index.search(minutiae_array(probe, view_index), top=depth, allowed=allowed, stage_one=default_stage_one(size)):
                    record_id = self._slots[hit.entry][0]
                    if record_id in self._records:
                        prefilter[record_id] = max(prefilter.get(record_id, 0.0), hit.score)
        by_person: dict[str, list[str]] = {}
        for record_id in prefilter:
            by_person.setdefault(self._persons[record_id], []).append(record_id)
        prepared_probe = PreparedRecord(probe)
        candidates = []
        for person_id, record_ids in by_person.items():
            best: MatchResult | None = None
            for record_id in record_ids:
                if on_candidate is not None:
                    on_candidate(record_id)
                result = match_records(prepared_probe, self._prepared_record(record_id), calibration=calibration, allow_low_quality=allow_low_quality)
                if best is None or result.log2_lr > best.log2_lr:
                    best = result
            assert best is not None
            candidates.append(Candidate(person_id, tuple(sorted(record_ids)), max(prefilter[r] for r in record_ids), best))
        candidates.sort(key=lambda c: (-c.log2_lr, -c.result.best_score, c.person_id))
        return candidates[:top]


@dataclass
class Gallery:
    """A directory of encrypted templates with an in-memory MCC index (see module docstring)."""

    directory: Path
    encrypt: Encrypt
    decrypt: Decrypt
    keep_images: bool = False
    _entries: list[dict[str, object]] = field(default_factory=list, init=False)
    _core: SearchIndex = field(default_factory=SearchIndex, init=False)

    @classmethod
    def open(cls, directory: str | Path, *, encrypt: Encrypt, decrypt: Decrypt, keep_images: bool = False) -> Gallery:
        gallery = cls(Path(directory), encrypt, decrypt, keep_images)
        gallery._load()
        return gallery

    def _context(self, kind: str, record_id: str) -> str:
        return f"biometrics.{kind}:{record_id}"

    def _load(self) -> None:
        path = self.directory / MANIFEST
        if not path.exists():
            return
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            entries = list(manifest["entries"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(T_("{MANIFEST}: not a Passage gallery manifest", MANIFEST=MANIFEST)) from None
        seen: set[str] = set()
        for position, entry in enumerate(entries):
            record_id = str(entry.get("record_id", ""))
            if record_id in seen:
                raise Conflict(T_("{MANIFEST}: entry {position}: duplicate record id; the gallery is inconsistent", MANIFEST=MANIFEST, position=position))
            seen.add(record_id)
        self._entries = entries
        loaded = []
        for entry in entries:
            record_id = str(entry["record_id"])
            blob = (self.directory / "templates" / f"{record_id}.bin").read_bytes()
            loaded.append((record_id, str(entry["person_id"]), decode(self.decrypt(blob, context=self._context("template", record_id)))))
        self._core.add_many(loaded)

    def __len__(self) -> int:
        return len(self._entries)

    def person_of(self, record_id: str) -> str:
        return self._core.person_of(record_id)

    def record_ids(self) -> list[str]:
        return [str(e["record_id"]) for e in self._entries]

    def enrol(self, enrolments: Iterable[Enrolment]) -> list[str]:
        """Add templates; all are checked first, so a duplicate id changes nothing."""
        batch = list(enrolments)
        check_batch(batch, {str(e["record_id"]) for e in self._entries})
        for item in batch:
            with atomic_output(self.directory / "templates" / f"{item.record_id}.bin", mode="wb") as handle:
                handle.write(self.encrypt(encode(item.record), context=self._context("template", item.record_id)))
            if self.keep_images and item.image is not None:
                with atomic_output(self.directory / "images" / f"{item.record_id}.bin", mode="wb") as handle:
                    handle.write(self.encrypt(item.image, context=self._context("image", item.record_id)))
        new_entries: list[dict[str, object]] = [
            {"record_id": i.record_id, "person_id": i.person_id, "fingers": [v.position for v in i.record.views],
             "quality": [v.quality for v in i.record.views]}
            for i in batch
        ]
        self._write_manifest(self._entries + new_entries)
        self._entries = self._entries + new_entries
        self._core.add_many((item.record_id, item.person_id, item.record) for item in batch)
        self._core.freeze()
        return [i.record_id for i in batch]

    def _write_manifest(self, entries: list[dict[str, object]]) -> None:
        with atomic_output(self.directory / MANIFEST) as handle:
            json.dump({"version": 1, "entries": entries}, handle, indent=1, sort_keys=True)

    def template(self, record_id: str) -> MinutiaeRecord:
        return self._core.record(record_id)

    def drop_images(self) -> int:
        """Delete every stored image, keeping templates; returns how many were deleted."""
        images = self.directory / "images"
        count = 0
        if images.exists():
            for path in images.glob("*.bin"):
                path.unlink()
                count += 1
        return count

    def revoke_person(self, person_id: str) -> list[str]:
        """Delete every template and image of one person; the index masks them at once."""
        revoked = [str(e["record_id"]) for e in self._entries if e["person_id"] == person_id]
        if not revoked:
            raise NotFound(N_("no templates are enrolled for this person"))
        remaining = [e for e in self._entries if e["person_id"] != person_id]
        self._write_manifest(remaining)
        self._entries = remaining
        for record_id in revoked:
            for folder in ("templates", "images"):
                (self.directory / folder / f"{record_id}.bin").unlink(missing_ok=True)
            self._core.remove(record_id)
        return revoked

    def search(self, probe: MinutiaeRecord, *, top: int = 10, shortlist: int | None = None, calibration: Calibration = DEFAULT_CALIBRATION,
               allow_low_quality: bool = False, on_candidate: Callable[[str], None] | None = None) -> list[Candidate]:
        """1:N: see `SearchIndex.search`."""
        return self._core.search(probe, top=top, shortlist=shortlist, calibration=calibration,
                                 allow_low_quality=allow_low_quality, on_candidate=on_candidate)


def check_batch(batch: list[Enrolment], existing: Collection[str]) -> None:
    """Refuse the whole batch on a bad id, a duplicate (in the batch or the gallery) or an empty template."""
    seen: set[str] = set()
    for number, item in enumerate(batch):
        _check_id(item.record_id, f"enrolment {number}: record id")
        _check_id(item.person_id, f"enrolment {number}: person id")
        if item.record_id in existing:
            raise Conflict(T_("enrolment {number}: record id is already in the gallery; nothing was enrolled", number=number))
        if item.record_id in seen:
            raise Conflict(T_("enrolment {number}: record id appears twice in this batch; nothing was enrolled", number=number))
        seen.add(item.record_id)
        if not item.record.views or item.record.minutiae_count() == 0:
            raise InvalidInput(T_("enrolment {number}: empty template (no minutiae); nothing was enrolled", number=number))
