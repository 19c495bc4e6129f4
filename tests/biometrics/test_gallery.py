from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from passage.biometrics.codec import decode
from passage.biometrics.extract import Extraction
from passage.biometrics.gallery import Enrolment, Gallery, SearchIndex
from passage.core.errors import Conflict, InvalidInput, NotFound

KEY = AESGCM.generate_key(bit_length=256)


def encrypt(data: bytes, *, context: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(KEY).encrypt(nonce, data, context.encode())


def decrypt(blob: bytes, *, context: str) -> bytes:
    return AESGCM(KEY).decrypt(blob[:12], blob[12:], context.encode())


def _gallery(tmp_path: Path, extracted: dict[str, Extraction], *, keep_images: bool = False) -> Gallery:
    gallery = Gallery.open(tmp_path / "g", encrypt=encrypt, decrypt=decrypt, keep_images=keep_images)
    gallery.enrol([Enrolment("r1", "personA", extracted["p1_2"].record, b"image-bytes"), Enrolment("r2", "personB", extracted["p2_1"].record, b"x")])
    return gallery


def test_templates_are_stored_encrypted_and_reload(tmp_path: Path, extracted: dict[str, Extraction]) -> None:
    _gallery(tmp_path, extracted)
    blob = (tmp_path / "g" / "templates" / "r1.bin").read_bytes()
    assert b"FMR" not in blob
    assert not (tmp_path / "g" / "images").exists()
    reopened = Gallery.open(tmp_path / "g", encrypt=encrypt, decrypt=decrypt)
    assert reopened.template("r1") == extracted["p1_2"].record
    # A blob moved to another entry does not decrypt: the context binds it to its id.
    with pytest.raises(InvalidTag):
        decrypt(blob, context="biometrics.template:r2")


def test_search_finds_the_mate_first(tmp_path: Path, extracted: dict[str, Extraction]) -> None:
    gallery = _gallery(tmp_path, extracted)
    results = gallery.search(extracted["p1_1"].record, top=5)
    assert results[0].person_id == "personA" and results[0].log2_lr > 0
    assert all(c.log2_lr < 0 for c in results[1:])


def test_duplicate_ids_change_nothing(tmp_path: Path, extracted: dict[str, Extraction]) -> None:
    gallery = _gallery(tmp_path, extracted)
    manifest = (tmp_path / "g" / "manifest.json").read_text()
    with pytest.raises(Conflict, match="already in the gallery"):
        gallery.enrol([Enrolment("r3", "personC", extracted["p1_1"].record), Enrolment("r1", "personC", extracted["p1_1"].record)])
    with pytest.raises(Conflict, match="twice"):
        gallery.enrol([Enrolment("r3", "personC", extracted["p1_1"].record), Enrolment("r3", "personD", extracted["p1_1"].record)])
    assert (tmp_path / "g" / "manifest.json").read_text() == manifest
    assert not (tmp_path / "g" / "templates" / "r3.bin").exists()
    assert len(gallery) == 2


def test_revocation_deletes_and_hides_at_once(tmp_path: Path, extracted: dict[str, Extraction]) -> None:
    gallery = _gallery(tmp_path, extracted, keep_images=True)
    assert (tmp_path / "g" / "images" / "r1.bin").exists()
    assert gallery.revoke_person("personA") == ["r1"]
    assert not (tmp_path / "g" / "templates" / "r1.bin").exists() and not (tmp_path / "g" / "images" / "r1.bin").exists()
    assert all(c.person_id != "personA" for c in gallery.search(extracted["p1_1"].record))
    assert Gallery.open(tmp_path / "g", encrypt=encrypt, decrypt=decrypt).record_ids() == ["r2"]
    with pytest.raises(NotFound):
        gallery.revoke_person("personA")
    assert gallery.drop_images() == 1


def test_empty_or_poor_probe_is_refused(tmp_path: Path, extracted: dict[str, Extraction], reference_records: dict[str, bytes]) -> None:
    from dataclasses import replace

    gallery = _gallery(tmp_path, extracted)
    record = extracted["p1_1"].record
    with pytest.raises(InvalidInput, match="quality is too low"):
        gallery.search(replace(record, views=(replace(record.views[0], quality=5),)))
    with pytest.raises(InvalidInput, match="empty"):
        gallery.enrol([Enrolment("r9", "p", replace(record, views=(replace(record.views[0], minutiae=()),)))])
    # A foreign ANSI record with two known finger positions can be searched too.
    assert gallery.search(decode(reference_records["ansi2007"]), top=2) is not None


def test_search_index_snapshot_round_trip_keeps_results_and_removals(extracted: dict[str, Extraction]) -> None:
    core = SearchIndex()
    core.add_many([("r1", "personA", extracted["p1_2"].record), ("r2", "personB", extracted["p2_1"].record)])
    core.add("r3", "personC", extracted["p1_1"].record)
    core.remove("r3")
    restored = SearchIndex.from_bytes(core.to_bytes())
    assert restored.ids() == {"r1", "r2"} and restored.person_of("r1") == "personA"
    assert restored.record("r2") == extracted["p2_1"].record
    before = [(c.person_id, c.result.best_score) for c in core.search(extracted["p1_1"].record, top=5)]
    after = [(c.person_id, c.result.best_score) for c in restored.search(extracted["p1_1"].record, top=5)]
    assert after == before and after[0][0] == "personA"
    with pytest.raises(ValueError):
        SearchIndex.from_bytes(b"not a snapshot")
