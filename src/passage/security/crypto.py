"""Field encryption: AES-256-GCM envelope encryption with the key id stored beside each ciphertext.

Layout of a ciphertext: ``b"P1" | dek_id (32 ASCII hex) | nonce (12) | AES-GCM(ciphertext || tag)``.
The data-encryption key (DEK) named by `dek_id` lives in the `data_keys` table, wrapped (AES-GCM) under a
key-encryption key (KEK) from the key ring: a JSON file ``{"active": "<kek id>", "keys": {"<kek id>":
"<base64 32 bytes>"}}`` whose path comes from settings (`PASSAGE_KEY_FILE`), or from the environment
variable `PASSAGE_KEK` (base64) for a single key. Rotating the KEK re-wraps the DEKs only, so the
application keeps running and no record needs re-encryption (NIST SP 800-57 Part 1 Rev. 5, §6.2.2.1 on
key wrapping; GCM per NIST SP 800-38D with 96-bit random nonces). The `context` string is bound as
associated data, so a ciphertext moved to another column or record type fails to decrypt.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, LargeBinary, String, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from passage.core.errors import PassageError
from passage.core.settings import get_settings

MAGIC = b"P1"
NONCE_BYTES = 12


class EncryptionKeyError(PassageError):
    status = 500
    code = "key_error"


class KeyRing:
    """Key-encryption keys read from the key file; re-read when an unknown key id is asked for."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.active_id: str = ""
        self.keys: dict[str, bytes] = {}
        self.reload()

    def reload(self) -> None:
        env_key = os.environ.get("PASSAGE_KEK")
        if env_key:
            self.keys = {"env": base64.b64decode(env_key)}
            self.active_id = "env"
            return
        if self.path is None:
            raise EncryptionKeyError("no key file configured (PASSAGE_KEY_FILE)")
        if not self.path.exists():
            self._create_initial()
        document = json.loads(self.path.read_text(encoding="utf-8"))
        self.keys = {kid: base64.b64decode(value) for kid, value in document["keys"].items()}
        self.active_id = document["active"]
        if self.active_id not in self.keys:
            raise EncryptionKeyError(f"key file {self.path.name}: the active key {self.active_id} is not in the ring")

    def _create_initial(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kid = secrets.token_hex(8)
        write_key_file(self.path, active=kid, keys={kid: secrets.token_bytes(32)})

    def get(self, kek_id: str) -> bytes:
        if kek_id not in self.keys:
            self.reload()
        if kek_id not in self.keys:
            raise EncryptionKeyError(f"key-encryption key {kek_id} is not in the key ring")
        return self.keys[kek_id]

    @property
    def active(self) -> tuple[str, bytes]:
        return self.active_id, self.keys[self.active_id]


def write_key_file(path: Path, *, active: str, keys: dict[str, bytes]) -> None:
    """Write the key ring atomically with owner-only permissions."""
    document = {"active": active, "keys": {kid: base64.b64encode(key).decode() for kid, key in keys.items()}}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(tmp, path)


class FieldCipher:
    """Encrypts and decrypts field values; caches unwrapped DEKs in memory."""

    def __init__(self, engine: Engine, key_ring: KeyRing) -> None:
        self.engine = engine
        self.key_ring = key_ring
        self._deks: dict[str, bytes] = {}
        self._active_dek: str | None = None
        self._lock = threading.Lock()

    def _load_dek(self, dek_id: str) -> bytes:
        from passage.security.models import DataKey

        # An autocommit connection: on SQLite it reads without taking the write lock, so a request that
        # already holds it (BEGIN IMMEDIATE) can still decrypt.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            row = connection.execute(select(DataKey.kek_id, DataKey.wrapped_key).where(DataKey.id == dek_id)).first()
        if row is None:
            raise EncryptionKeyError(f"data key {dek_id} not found")
        kek = self.key_ring.get(row.kek_id)
        wrapped = bytes(row.wrapped_key)
        try:
            return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], dek_id.encode())
        except InvalidTag:
            raise EncryptionKeyError(f"data key {dek_id} cannot be unwrapped with key-encryption key") from None

    def dek(self, dek_id: str) -> bytes:
        key = self._deks.get(dek_id)
        if key is None:
            with self._lock:
                key = self._deks.get(dek_id) or self._load_dek(dek_id)
                self._deks[dek_id] = key
        return key

    def active_dek(self) -> tuple[str, bytes]:
        if self._active_dek is None:
            from passage.security.models import DataKey

            with self._lock, self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                found = connection.execute(
                    select(DataKey.id).where(DataKey.active.is_(True)).order_by(DataKey.created_at.desc()).limit(1)
                ).scalar()
                if found is None:
                    raise EncryptionKeyError("no active data key; run `passage db upgrade`, which creates one")
                self._active_dek = found
        return self._active_dek, self.dek(self._active_dek)

    def encrypt(self, data: bytes, *, context: str) -> bytes:
        dek_id, key = self.active_dek()
        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + dek_id.encode() + nonce + AESGCM(key).encrypt(nonce, data, context.encode())

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        if len(blob) < 2 + 32 + NONCE_BYTES + 16 or blob[:2] != MAGIC:
            raise EncryptionKeyError("not a Passage ciphertext")
        dek_id = blob[2:34].decode()
        nonce = blob[34 : 34 + NONCE_BYTES]
        try:
            return AESGCM(self.dek(dek_id)).decrypt(nonce, blob[34 + NONCE_BYTES :], context.encode())
        except InvalidTag:
            raise EncryptionKeyError("ciphertext failed authentication (tampered, or moved from another field)") from None

    def forget(self) -> None:
        with self._lock:
            self._deks.clear()
            self._active_dek = None


def ensure_active_data_key(engine: Engine, key_ring: KeyRing) -> str:
    """Return the active DEK id, creating and wrapping one under the active KEK if there is none."""
    from passage.security.models import DataKey

    with Session(engine) as session, session.begin():
        existing = session.scalars(select(DataKey.id).where(DataKey.active.is_(True)).order_by(DataKey.created_at.desc())).first()
        if existing:
            return existing
        dek_id = secrets.token_hex(16)
        kek_id, kek = key_ring.active
        nonce = secrets.token_bytes(NONCE_BYTES)
        wrapped = nonce + AESGCM(kek).encrypt(nonce, secrets.token_bytes(32), dek_id.encode())
        session.add(DataKey(id=dek_id, kek_id=kek_id, wrapped_key=wrapped, active=True))
        return dek_id


def rotate_key_encryption_key(engine: Engine, key_file: Path) -> tuple[str, int]:
    """Add a new KEK to the ring, re-wrap every DEK under it and make it active.

    Running processes keep working: they hold unwrapped DEKs in memory, and a process that has to unwrap
    a DEK re-reads the ring when it meets the new KEK id. Returns (new KEK id, number of DEKs re-wrapped).
    The old KEK stays in the ring until an administrator removes it after the rotation is confirmed.
    """
    from passage.security.models import DataKey

    ring = KeyRing(key_file)
    new_id = secrets.token_hex(8)
    new_key = secrets.token_bytes(32)
    keys = dict(ring.keys)
    keys[new_id] = new_key
    # The new KEK is written to the ring first (not yet active), so a crash before the database commit
    # leaves every DEK readable under the old KEK, and after the commit readable under the new one.
    write_key_file(key_file, active=ring.active_id, keys=keys)
    count = 0
    with Session(engine) as session, session.begin():
        for row in session.scalars(select(DataKey)).all():
            old_kek = keys[row.kek_id]
            wrapped = bytes(row.wrapped_key)
            dek = AESGCM(old_kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], row.id.encode())
            nonce = secrets.token_bytes(NONCE_BYTES)
            row.wrapped_key = nonce + AESGCM(new_key).encrypt(nonce, dek, row.id.encode())
            row.kek_id = new_id
            count += 1
    write_key_file(key_file, active=new_id, keys=keys)
    return new_id, count


_cipher: FieldCipher | None = None
_cipher_lock = threading.Lock()


def get_cipher() -> FieldCipher:
    global _cipher
    if _cipher is None:
        with _cipher_lock:
            if _cipher is None:
                from passage.core.db import get_engine

                _cipher = FieldCipher(get_engine(), KeyRing(get_settings().key_file))
    return _cipher


def reset_cipher() -> None:
    global _cipher
    _cipher = None


def encrypt_bytes(data: bytes, *, context: str) -> bytes:
    """Encrypt `data` for storage; `context` (e.g. `biometrics.template`) is bound as associated data."""
    return get_cipher().encrypt(data, context=context)


def decrypt_bytes(blob: bytes, *, context: str) -> bytes:
    return get_cipher().decrypt(blob, context=context)


class _EncryptedBase(TypeDecorator[Any]):
    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def _to_bytes(self, value: Any) -> bytes:
        raise NotImplementedError

    def _from_bytes(self, data: bytes) -> Any:
        raise NotImplementedError

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return encrypt_bytes(self._to_bytes(value), context=self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self._from_bytes(decrypt_bytes(bytes(value), context=self.context))


class EncryptedBytes(_EncryptedBase):
    """A binary column stored encrypted: `mapped_column(EncryptedBytes("biometrics.template"))`."""

    cache_ok = True

    def _to_bytes(self, value: Any) -> bytes:
        return bytes(value)

    def _from_bytes(self, data: bytes) -> Any:
        return data


class EncryptedText(_EncryptedBase):
    """A text column stored encrypted; it cannot be searched or sorted in SQL (use `passage.security.blind_index` tokens for that)."""

    cache_ok = True

    def _to_bytes(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def _from_bytes(self, data: bytes) -> Any:
        return data.decode("utf-8")


class EncryptedJSON(_EncryptedBase):
    """A JSON document stored encrypted."""

    cache_ok = True

    def _to_bytes(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")

    def _from_bytes(self, data: bytes) -> Any:
        return json.loads(data)


__all__ = [
    "EncryptedBytes",
    "EncryptedJSON",
    "EncryptedText",
    "FieldCipher",
    "KeyRing",
    "String",
    "decrypt_bytes",
    "encrypt_bytes",
    "rotate_key_encryption_key",
]
