"""The APNs provider-token signer: JWT shape, shared cache, refresh timing, thread safety."""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import ConfigurationError
from unipush.apns import ProviderTokenSigner
from unipush.apns._auth import MIN_REMINT_INTERVAL, REFRESH_AFTER

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
KEY_ID = "ABC123DEFG"
TEAM_ID = "TEAM123456"


def signer_for(key: ec.EllipticCurvePrivateKey, key_id: str = KEY_ID, team_id: str = TEAM_ID) -> ProviderTokenSigner:
    return ProviderTokenSigner(key, key_id=key_id, team_id=team_id)


def test_token_is_es256_with_kid_and_iss(p256_key: ec.EllipticCurvePrivateKey) -> None:
    token = signer_for(p256_key).token(NOW)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": KEY_ID}
    claims = jwt.decode(
        token, p256_key.public_key(), algorithms=["ES256"], options={"verify_iat": False, "require": ["iss", "iat"]}
    )
    assert claims == {"iss": TEAM_ID, "iat": int(NOW.timestamp())}
    # JWS ES256 signatures are raw r||s, 64 bytes (not DER).
    signature = token.rsplit(".", 1)[1]
    assert len(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))) == 64


def test_token_does_not_verify_with_another_key(p256_key: ec.EllipticCurvePrivateKey) -> None:
    token = signer_for(p256_key).token(NOW)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["ES256"], options={"verify_iat": False})


def test_authorization_header(p256_key: ec.EllipticCurvePrivateKey) -> None:
    signer = signer_for(p256_key)
    assert signer.authorization(NOW) == "bearer " + signer.token(NOW)


def test_token_is_reused_until_50_minutes(p256_key: ec.EllipticCurvePrivateKey) -> None:
    signer = signer_for(p256_key)
    assert signer.issued_at is None
    assert signer.mint_count == 0
    first = signer.token(NOW)
    assert signer.token(NOW + REFRESH_AFTER - timedelta(seconds=1)) == first
    assert signer.mint_count == 1
    assert signer.issued_at == NOW
    second = signer.token(NOW + REFRESH_AFTER)
    assert second != first
    assert signer.mint_count == 2
    assert signer.issued_at == NOW + REFRESH_AFTER
    assert timedelta(minutes=50) == REFRESH_AFTER


def test_force_does_not_remint_within_20_minutes(p256_key: ec.EllipticCurvePrivateKey) -> None:
    signer = signer_for(p256_key)
    first = signer.token(NOW)
    assert signer.token(NOW + MIN_REMINT_INTERVAL - timedelta(seconds=1), force=True) == first
    assert signer.mint_count == 1
    forced = signer.token(NOW + MIN_REMINT_INTERVAL, force=True)
    assert forced != first
    assert signer.mint_count == 2
    # The forced token is itself protected for 20 minutes.
    assert signer.token(NOW + MIN_REMINT_INTERVAL + timedelta(minutes=5), force=True) == forced
    assert timedelta(minutes=20) == MIN_REMINT_INTERVAL


def test_clock_jumping_back_counts_as_age(p256_key: ec.EllipticCurvePrivateKey) -> None:
    signer = signer_for(p256_key)
    first = signer.token(NOW)
    assert signer.token(NOW - timedelta(minutes=10)) == first
    assert signer.token(NOW - timedelta(hours=1)) != first


def test_signers_of_one_key_share_one_token(p256_key: ec.EllipticCurvePrivateKey) -> None:
    a = signer_for(p256_key)
    b = signer_for(p256_key)
    token = a.token(NOW)
    assert b.token(NOW + timedelta(minutes=1)) == token
    assert a.mint_count == b.mint_count == 1
    b.token(NOW + REFRESH_AFTER)
    assert a.token(NOW + REFRESH_AFTER) == b.token(NOW + REFRESH_AFTER)
    assert a.mint_count == 2


def test_different_keys_or_ids_do_not_share(p256_key: ec.EllipticCurvePrivateKey) -> None:
    a = signer_for(p256_key)
    other_key = signer_for(ec.generate_private_key(ec.SECP256R1()))
    other_id = signer_for(p256_key, key_id="ZZZ999ZZZ9")
    a.token(NOW)
    other_key.token(NOW)
    other_id.token(NOW)
    assert (a.mint_count, other_key.mint_count, other_id.mint_count) == (1, 1, 1)
    assert jwt.get_unverified_header(other_id.token(NOW))["kid"] == "ZZZ999ZZZ9"


def test_concurrent_callers_mint_once(p256_key: ec.EllipticCurvePrivateKey) -> None:
    signers = [signer_for(p256_key) for _ in range(8)]
    barrier = threading.Barrier(len(signers))
    tokens: list[str] = []
    lock = threading.Lock()

    def work(signer: ProviderTokenSigner) -> None:
        barrier.wait()
        for _ in range(50):
            token = signer.token(NOW)
            with lock:
                tokens.append(token)

    threads = [threading.Thread(target=work, args=(s,)) for s in signers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1
    assert signers[0].mint_count == 1


def test_naive_now_is_refused(p256_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signer_for(p256_key).token(datetime(2025, 1, 1))


def test_only_p256_keys(p256_key: ec.EllipticCurvePrivateKey) -> None:
    # A ConfigurationError like every other bad credential (issue 8: only unipush's errors escape).
    with pytest.raises(ConfigurationError, match="P-256"):
        signer_for(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ConfigurationError, match="key_id"):
        ProviderTokenSigner(p256_key, key_id="short", team_id="TEAM123456")
    with pytest.raises(ConfigurationError, match="team_id"):
        ProviderTokenSigner(p256_key, key_id="ABC123DEFG", team_id=None)  # type: ignore[arg-type]


def test_repr_has_ids_only(p256_key: ec.EllipticCurvePrivateKey) -> None:
    signer = signer_for(p256_key)
    token = signer.token(NOW)
    assert repr(signer) == f"ProviderTokenSigner(key_id={KEY_ID!r}, team_id={TEAM_ID!r})"
    assert token not in repr(signer)
