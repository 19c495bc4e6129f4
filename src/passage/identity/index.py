"""A persistent, incrementally updated on-disk index of a registry, with columnar comparison keys.

Layout of an index directory (format 2):
- `manifest.json`: format version, segment names, live record count;
- `model.json`: the scoring model (m, u, prior, registry size);
- per segment `seg-NNNNN`:
  - `.arrow`: the raw rows (Arrow IPC, memory-mapped; read only for the few candidates shown and for updates);
  - `.keys.npy` / `.rows.npy`: inverted postings, sorted 64-bit blocking-key hashes and their row numbers;
  - `.filter.npy`: a bitmap over the top bits of the key hashes (about 8 bits per posting), so that the
    search skips the binary search for keys that are certainly absent (older indexes compute it on open);
  - `.deleted.npy`: tombstones;
  - `.cols.npz`-style columns, one memory-mapped `.npy` each: `birth` (int32 YYYYMMDD, 0 missing),
    `sex` (int8: 0 missing, 1 M, 2 F), `sname`/`gname` (int32 ids into the segment's name vocabulary),
    `place` (int32 id of the place + ID-region string), `idnum` (S18, cleaned resident ID or empty),
    `tf_full`/`tf_surname`/`tf_given` (int32 ids of the term-frequency keys);
  - `.vocab.json`: the segment's vocabularies (distinct names, places, term-frequency keys).
An update reads the registry again, writes only new or changed rows into a new segment and tombstones the
rows they replace or that left the registry (the log-structured design of Lucene segments). The registry
is streamed in chunks (never held whole in memory) and the chunks are keyed on up to two processes.

Blocking (candidate generation) follows Christen (2012), "Data Matching", ch. 4: several keys per record
("multi-pass blocking") so that one wrong field still leaves a shared key: pinyin surname + given name;
surname + birth year; given name + birth year; full date of birth + surname initial; date + given-name
initial; three overlapping pieces of the ID number. Registries in Latin script also get keys that survive
typing errors in *every* field (Christen 2012, §4.3-4.5): Soundex codes of both name parts (phonetic
encoding; Russell 1918, Knuth 1973), the first two letters of both parts, the last three letters of both
parts (a typo early in a name), and Soundex of the given name + year-month. A key shared by more than
`MAX_BLOCK` rows is narrowed at query time by the query's birth year, sex and place (`blocking.narrow_blocks`).

Keys are tuples (kind, a, b) of integers; strings enter through a 64-bit BLAKE2b hash, and the tuple is
mixed to one 64-bit hash with SplitMix64 (Steele et al. 2014) in numpy, so that millions of keys are
hashed in one vectorised pass.

The code lives in five files along its seams; this module is their public face (import from here):
- `blocking`: the blocking keys of a record and of a query, and their hashes;
- `registry`: reading the registry CSV, streamed and validated, into records;
- `segments`: the on-disk segment format and the opened index (`RegistryIndex`, `open_index`);
- `index_build`: keying chunks on worker processes, writing a segment, `build_or_update`;
- `u_estimation`: the u probabilities from random record pairs.
"""

from __future__ import annotations

from passage.identity.blocking import (
    K_DATE_GIVEN,
    K_DATE_ONLY,
    K_DATE_SURNAME,
    K_GIVEN_ONLY,
    K_GIVEN_SOUNDEX_MONTH,
    K_GIVEN_YEAR,
    K_ID,
    K_ID_PIECE,
    K_NAME,
    K_PREFIX,
    K_SOUNDEX,
    K_SUFFIX,
    K_SURNAME_ONLY,
    K_SURNAME_YEAR,
    Key,
    _frequency_parts,
    key_hashes,
    query_key_hashes,
    query_keys,
    record_keys,
    soundex,
)
from passage.identity.index_build import (
    UpdateReport,
    build_or_update,
)
from passage.identity.registry import (
    CHUNK_ROWS,
    REGISTRY_COLUMNS,
    _place_key,
    iter_registry,
    place_of_key,
    record_from_row,
    validate_registry,
)
from passage.identity.segments import (
    CANDIDATE_POOL,
    COLUMN_FILES,
    FORMAT_VERSION,
    MAX_BLOCK,
    MAX_CANDIDATES,
    RegistryIndex,
    default_index_dir,
    open_index,
)
from passage.identity.u_estimation import (
    estimate_u,
)

__all__ = [
    "CANDIDATE_POOL",
    "CHUNK_ROWS",
    "COLUMN_FILES",
    "FORMAT_VERSION",
    "K_DATE_GIVEN",
    "K_DATE_ONLY",
    "K_DATE_SURNAME",
    "K_GIVEN_ONLY",
    "K_GIVEN_SOUNDEX_MONTH",
    "K_GIVEN_YEAR",
    "K_ID",
    "K_ID_PIECE",
    "K_NAME",
    "K_PREFIX",
    "K_SOUNDEX",
    "K_SUFFIX",
    "K_SURNAME_ONLY",
    "K_SURNAME_YEAR",
    "Key",
    "MAX_BLOCK",
    "MAX_CANDIDATES",
    "REGISTRY_COLUMNS",
    "RegistryIndex",
    "UpdateReport",
    "_frequency_parts",
    "_place_key",
    "build_or_update",
    "default_index_dir",
    "estimate_u",
    "iter_registry",
    "key_hashes",
    "open_index",
    "place_of_key",
    "query_key_hashes",
    "query_keys",
    "record_from_row",
    "record_keys",
    "soundex",
    "validate_registry",
]
