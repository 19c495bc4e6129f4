"""Blind index: keyed HMAC-SHA256 equality tokens, so encrypted personal fields can be searched by value.

A module that wants "find the case of the person called X, born on D" stores, beside the AES-GCM
ciphertext of each field, tokens `HMAC-SHA256(key, context || 0x00 || normalised value)` truncated to
128 bits, and searches by computing the same tokens from the query (the "blind index" of Bellare,
Boldyreva & O'Neill 2007, deterministic encryption for equality search; the keyed hash follows RFC 2104
and NIST SP 800-107 Rev. 1 §5.3.4 on truncated HMAC output). What the tokens reveal, and why Passage
accepts it, is written down in docs/security.md ("Blind index").

The HMAC key is NOT one of the encryption keys: it lives in its own key ring (`PASSAGE_BLIND_INDEX_KEY_FILE`,
default `<data_dir>/blind_index_keys.json`, owner-only), or comes from `PASSAGE_BLIND_INDEX_KEY` (base64, one
key). Someone holding the key-encryption keys therefore cannot compute tokens, and the reverse. Each
stored token carries its key id; a search computes the query's tokens under every key in the ring, so a
rotation (`passage keys rotate-blind-index`) adds a new active key, re-computes every module's tokens
(each module's `service.rebuild_blind_index(session)`), then drops the old key, without downtime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

from passage.core.errors import PassageError
from passage.core.settings import get_settings

TOKEN_HEX = 32
"""Tokens keep 128 bits of the HMAC (NIST SP 800-107 Rev. 1 §5.3.4 allows truncation to >= 64 bits)."""


class BlindIndexKeyError(PassageError):
    status = 500
    code = "key_error"


def key_file() -> Path:
    configured = os.environ.get("PASSAGE_BLIND_INDEX_KEY_FILE")
    return Path(configured) if configured else get_settings().data_dir / "blind_index_keys.json"


def _write(path: Path, *, active: str, keys: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"active": active, "keys": {kid: base64.b64encode(key).decode() for kid, key in keys.items()}}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(tmp, path)


class BlindIndexKeys:
    """The HMAC keys: one active (new tokens), all usable for searching (during a rotation)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.active_id = ""
        self.keys: dict[str, bytes] = {}
        self.reload()

    def reload(self) -> None:
        env_key = os.environ.get("PASSAGE_BLIND_INDEX_KEY")
        if env_key:
            self.keys, self.active_id = {"env": base64.b64decode(env_key)}, "env"
            return
        if not self.path.exists():
            kid = secrets.token_hex(8)
            _write(self.path, active=kid, keys={kid: secrets.token_bytes(32)})
        document = json.loads(self.path.read_text(encoding="utf-8"))
        self.keys = {kid: base64.b64decode(value) for kid, value in document["keys"].items()}
        self.active_id = document["active"]
        if self.active_id not in self.keys:
            raise BlindIndexKeyError(f"blind-index key file {self.path.name}: the active key is not in the ring")


_ring: BlindIndexKeys | None = None
_lock = threading.Lock()


def keys() -> BlindIndexKeys:
    global _ring
    path = key_file()
    with _lock:
        if _ring is None or _ring.path != path:
            _ring = BlindIndexKeys(path)
        return _ring


def reset_keys() -> None:
    """Forget the loaded ring (tests, and after a rotation in another process)."""
    global _ring
    with _lock:
        _ring = None


def _token(key: bytes, context: str, value: str) -> str:
    return hmac.new(key, f"{context}\x00{value}".encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX]


def token(value: str, *, context: str) -> tuple[str, str]:
    """(key id, token) of an already normalised value under the active key, for storing."""
    ring = keys()
    return ring.active_id, _token(ring.keys[ring.active_id], context, value)


def search_tokens(values: Iterable[str], *, context: str) -> list[str]:
    """The tokens of normalised values under every key of the ring (a rotation may be under way)."""
    ring = keys()
    return sorted({_token(key, context, value) for value in values for key in ring.keys.values()})


def rotate() -> tuple[str, str]:
    """Add a new key and make it active; the old one stays for searching until `retire` (returns old, new)."""
    ring = keys()
    if ring.active_id == "env":
        raise BlindIndexKeyError("the blind-index key comes from PASSAGE_BLIND_INDEX_KEY; rotate it there")
    new_id = secrets.token_hex(8)
    old_id = ring.active_id
    _write(ring.path, active=new_id, keys={**ring.keys, new_id: secrets.token_bytes(32)})
    reset_keys()
    return old_id, new_id


def retire(keep: str) -> list[str]:
    """Drop every key but `keep` (after every token was re-computed under it); returns the dropped ids."""
    ring = keys()
    if keep not in ring.keys:
        raise BlindIndexKeyError("the key to keep is not in the ring")
    dropped = sorted(k for k in ring.keys if k != keep)
    _write(ring.path, active=keep, keys={keep: ring.keys[keep]})
    reset_keys()
    return dropped
