"""Field encryption: AES-GCM envelope, key id beside the ciphertext, context binding, rotation while running."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import Engine, select, text

from passage.core.db import get_engine, unit_of_work
from passage.core.settings import get_settings
from passage.security.actors import system_actor
from passage.security.crypto import (
    EncryptionKeyError,
    FieldCipher,
    KeyRing,
    decrypt_bytes,
    encrypt_bytes,
    reset_cipher,
    rotate_key_encryption_key,
)
from passage.security.models import DataKey, User


def test_round_trip_and_key_id_beside_ciphertext(store: Engine) -> None:
    blob = encrypt_bytes("张伟 1990-01-01".encode(), context="test.field")
    assert blob[:2] == b"P1"
    with unit_of_work() as session:
        dek_ids = set(session.scalars(select(DataKey.id)))
    assert blob[2:34].decode() in dek_ids
    assert "张伟".encode() not in blob
    assert decrypt_bytes(blob, context="test.field").decode() == "张伟 1990-01-01"


def test_two_encryptions_of_the_same_value_differ(store: Engine) -> None:
    assert encrypt_bytes(b"same", context="c") != encrypt_bytes(b"same", context="c")


def test_ciphertext_moved_to_another_field_does_not_decrypt(store: Engine) -> None:
    blob = encrypt_bytes(b"secret", context="health.notes")
    with pytest.raises(EncryptionKeyError):
        decrypt_bytes(blob, context="asylum.notes")


def test_tampered_ciphertext_is_refused(store: Engine) -> None:
    blob = bytearray(encrypt_bytes(b"secret", context="c"))
    blob[-1] ^= 0x01
    with pytest.raises(EncryptionKeyError):
        decrypt_bytes(bytes(blob), context="c")


def test_encrypted_column_is_not_stored_in_clear(store: Engine) -> None:
    from passage.security.models import OrganisationLevel, Role
    from passage.security.service import create_organisation, create_user

    with unit_of_work() as session:
        organisation = create_organisation(session, actor=system_actor("security.test"), name="Org", country="NL", level=OrganisationLevel.NATIONAL)
        create_user(session, actor=system_actor("security.test"), username="someone", display_name="S", organisation_id=organisation.id,
                    roles=[Role.REQUESTING_OFFICER], password="a long enough password", totp_secret="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    with get_engine().connect() as connection:
        raw = connection.execute(text("SELECT totp_secret FROM users WHERE username = 'someone'")).scalar_one()
    assert b"ABCDEFGHIJKLMNOP" not in bytes(raw)
    with unit_of_work() as session:
        user = session.scalars(select(User).where(User.username == "someone")).one()
        assert user.totp_secret == "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def test_rotation_rewraps_data_keys_and_a_running_process_keeps_working(store: Engine) -> None:
    key_file = get_settings().key_file
    assert key_file is not None
    blob_before = encrypt_bytes(b"written before rotation", context="c")
    running = FieldCipher(get_engine(), KeyRing(key_file))  # a process started before the rotation
    assert running.decrypt(blob_before, context="c") == b"written before rotation"
    old_ring = json.loads(key_file.read_text())

    new_id, count = rotate_key_encryption_key(get_engine(), key_file)

    ring = json.loads(key_file.read_text())
    assert ring["active"] == new_id != old_ring["active"]
    assert count >= 1
    with unit_of_work() as session:
        assert set(session.scalars(select(DataKey.kek_id))) == {new_id}
    # The running process still decrypts old data and encrypts new data without a restart.
    assert running.decrypt(blob_before, context="c") == b"written before rotation"
    blob_during = running.encrypt(b"written after rotation", context="c")
    # A new process that only knows the new ring reads both.
    reset_cipher()
    fresh = FieldCipher(get_engine(), KeyRing(key_file))
    assert fresh.decrypt(blob_before, context="c") == b"written before rotation"
    assert fresh.decrypt(blob_during, context="c") == b"written after rotation"


def test_data_keys_need_the_key_encryption_key(store: Engine) -> None:
    blob = encrypt_bytes(b"x", context="c")
    key_file = get_settings().key_file
    assert key_file is not None
    other = key_file.with_name("other.json")
    from passage.security.crypto import write_key_file

    write_key_file(other, active="k2", keys={"k2": os.urandom(32)})
    with pytest.raises(EncryptionKeyError):
        FieldCipher(get_engine(), KeyRing(other)).decrypt(blob, context="c")
