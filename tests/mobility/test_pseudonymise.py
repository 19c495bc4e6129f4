import hashlib
import hmac

import duckdb
import pytest

from passage.core.errors import InvalidInput
from passage.mobility.pseudonymise import PseudonymKey, pseudonym_sql


@pytest.mark.parametrize("secret", [b"k" * 16, bytes(range(32)), b"x" * 100])
def test_sql_hmac_equals_rfc2104_hmac(secret: bytes) -> None:
    key = PseudonymKey(secret)
    ids = ["+9779812345678", "alice", "\u5f20\u4e09", "a" * 200]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (n INTEGER, subscriber VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(ids)))
    ipad, opad = key.pads()
    got = [r[0] for r in con.execute(f"SELECT {pseudonym_sql('subscriber')} FROM t ORDER BY n", {"hmac_ipad": ipad, "hmac_opad": opad}).fetchall()]
    assert got == [hmac.new(secret, i.encode(), hashlib.sha256).hexdigest()[:32] for i in ids]
    assert got == [key.pseudonym(i) for i in ids]


def test_short_keys_are_refused_and_repr_hides_the_secret() -> None:
    with pytest.raises(InvalidInput):
        PseudonymKey(b"short")
    key = PseudonymKey(b"s" * 32)
    assert "sss" not in repr(key)
    assert PseudonymKey(b"t" * 32).fingerprint() != key.fingerprint()
