"""Identification: find a person in a registry from what a foreign authority recorded.

Public functions (stable for other modules; call them rather than the internals):

- `passage.identity.search.search(index, query, top=10, *, extra_evidence=None) -> SearchResult`
  1:N search on an opened index; `query` is a `passage.identity.compare.Query`.
- `passage.identity.service.search_person(session, *, actor, query, top=10, case_id=None, extra_evidence=None)`
  the same, on the cached service index, audited (ids and field names only). The readmission
  "Identify" step calls this.
- `passage.identity.service.index_status()` and `load_index()`: whether the index is built; the cached index.
- `passage.identity.index.build_or_update(registry_csv, directory)` / `open_index(directory)`.
- `passage.identity.search.fit_model(gathered, model, registry_size=...)`: one-to-one EM on a batch.
- `passage.identity.scoring.Evidence(kind, level, log2_bf, explanation)`: what `extra_evidence(query,
  person_id)` returns, e.g. a fingerprint comparison's log2 likelihood ratio (see docs/identity.md).

Methods: Fellegi & Sunter (1969); EM after Winkler (1988) with the one-to-one restriction (Jaro 1989;
Sadinle 2017); term-frequency adjustment after Winkler (1989). Sources are cited in each module.
"""

PUBLIC_MODULES: tuple[str, ...] = ("search", "compare", "index", "scoring", "queries")
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
