"""Keyed pseudonymisation of subscriber identifiers with HMAC-SHA256 (RFC 2104, FIPS 198-1).

The HMAC is computed inside the engine's SQL, so raw identifiers stream from the input file through
the hash and are never materialised or written: HMAC(K, m) = H((K0 xor opad) || H((K0 xor ipad) || m)),
where K0 is the key padded with zeros to the 64-byte SHA-256 block (keys longer than the block are
hashed first). The output is truncated to 128 bits, which RFC 2104 section 5 allows (at least half
the hash length). Only the data owner holds the key; without it pseudonyms cannot be linked back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

BLOCK_SIZE = 64
PSEUDONYM_HEX_CHARS = 32
MINIMUM_KEY_BYTES = 16
KEY_ENV = "PASSAGE_MOBILITY_KEY"


@dataclass(frozen=True)
class PseudonymKey:
    """The data owner's secret; `repr` never shows it."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < MINIMUM_KEY_BYTES:
            raise InvalidInput(
                f"the pseudonymisation key must be at least {MINIMUM_KEY_BYTES} bytes",
                fields=[FieldError("key", T_("too short"))],
            )

    def __repr__(self) -> str:
        return f"PseudonymKey(fingerprint={self.fingerprint()})"

    @classmethod
    def random(cls) -> PseudonymKey:
        """A throw-away key for one run: pseudonyms are then unlinkable across runs."""
        return cls(os.urandom(32))

    @classmethod
    def from_file(cls, path: Path) -> PseudonymKey:
        """A key file holds the secret as hex (64+ hex digits) or raw bytes."""
        if not path.exists():
            raise InvalidInput(T_("{file}: key file not found", file=path.name), fields=[FieldError("key_file", T_("not found"))])
        data = path.read_bytes().strip()
        try:
            return cls(bytes.fromhex(data.decode("ascii")))
        except (UnicodeDecodeError, ValueError):
            return cls(data)

    @classmethod
    def from_env(cls) -> PseudonymKey | None:
        value = os.environ.get(KEY_ENV)
        if not value:
            return None
        try:
            return cls(bytes.fromhex(value.strip()))
        except ValueError:
            raise InvalidInput(T_("{KEY_ENV} must be hex", KEY_ENV=KEY_ENV), fields=[FieldError(KEY_ENV, T_("not hex"))]) from None

    def pads(self) -> tuple[bytes, bytes]:
        """(K0 xor ipad, K0 xor opad), the two 64-byte blocks that the SQL form of HMAC needs."""
        key = self.secret if len(self.secret) <= BLOCK_SIZE else hashlib.sha256(self.secret).digest()
        key = key.ljust(BLOCK_SIZE, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

    def pseudonym(self, identifier: str) -> str:
        """The reference implementation in Python (used to check the SQL form)."""
        return hmac.new(self.secret, identifier.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]

    def fingerprint(self) -> str:
        """A public check value that identifies the key without revealing it."""
        return hmac.new(self.secret, b"passage-mobility-key-fingerprint", hashlib.sha256).hexdigest()[:12]


PSEUDONYM_SQL = "substr(sha256($hmac_opad || unhex(sha256($hmac_ipad || encode({column})))), 1, 32)"
"""DuckDB expression for the truncated HMAC of VARCHAR `{column}`; bind `hmac_ipad`/`hmac_opad` from `pads()`."""


def pseudonym_sql(column: str) -> str:
    if not column.isidentifier():
        raise ValueError("column must be an identifier")
    return PSEUDONYM_SQL.replace("{column}", column)
