"""Biometrics: fingerprint minutiae templates, extraction, 1:1 and 1:N matching, evidence for identity.

Public pure functions other modules may call (wave 1; a `service.py` with permission checks and
audit comes in wave 2):

- `passage.biometrics.codec.decode(bytes) / encode(record) / convert(record, target)`
- `passage.biometrics.extract.extract(image_bytes, ppi=None, finger_position=0) -> Extraction`
- `passage.biometrics.matching.match_records(probe, reference) -> MatchResult` (`log2_lr`, `explanation`)
- `passage.biometrics.gallery.Gallery.open(directory, encrypt=, decrypt=)` with `enrol`, `search`,
  `revoke_person`, `drop_images`.
"""

PUBLIC_MODULES: tuple[str, ...] = ("codec", "extract", "matching", "gallery")
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
