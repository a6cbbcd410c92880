"""Web Push message encryption: RFC 8291 on top of the RFC 8188 ``aes128gcm`` content coding.

Both directions are pure functions over bytes. ``encrypt`` is what an application server does;
``decrypt`` is what a browser does, used by the local sandbox push service and by tests. Only the
single-record form is produced or accepted, because RFC 8291 §4 requires a push message to be one
record. Randomness (the salt and the sender's ephemeral key) is drawn only when not passed in, so
tests can reproduce RFC 8291 Appendix A byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
from base64 import urlsafe_b64decode, urlsafe_b64encode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from unipush._errors import PayloadTooLargeError

__all__ = [
    "HEADER_SIZE",
    "MAX_BODY_SIZE",
    "MAX_PLAINTEXT_SIZE",
    "RECORD_SIZE",
    "DecryptionError",
    "b64url_decode",
    "b64url_encode",
    "decrypt",
    "encrypt",
]

RECORD_SIZE = 4096
"""The ``rs`` written in the header. One record holds the whole message, so any value above the body works."""

MAX_BODY_SIZE = 4096
"""RFC 8030 §7.2: a push service must accept bodies of at least 4096 bytes; many accept no more."""

HEADER_SIZE = 16 + 4 + 1 + 65
"""RFC 8188 §2.1 header for Web Push: salt (16), rs (4), idlen (1), keyid = the 65-byte sender key."""

_TAG_SIZE = 16
MAX_PLAINTEXT_SIZE = MAX_BODY_SIZE - HEADER_SIZE - _TAG_SIZE - 1
"""3993 bytes: 4096 minus the header, the AEAD tag and the 1-byte padding delimiter (RFC 8291 §4)."""

_KEY_INFO_PREFIX = b"WebPush: info\x00"  # RFC 8291 §3.4
_CEK_INFO = b"Content-Encoding: aes128gcm\x00"  # RFC 8188 §2.2
_NONCE_INFO = b"Content-Encoding: nonce\x00"  # RFC 8188 §2.3
_LAST_RECORD = 0x02  # RFC 8188 §2: the padding delimiter of the final record
_CURVE = ec.SECP256R1()
_B64 = re.compile(r"[A-Za-z0-9_+/-]+")
_TO_URLSAFE = str.maketrans("+/", "-_")


class DecryptionError(ValueError):
    """A Web Push message could not be decrypted: bad framing, wrong keys, or tampered bytes."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, the encoding Web Push uses for keys (RFC 8291 §3.2, RFC 8292 §3.2)."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without ``=`` padding; raises ``ValueError`` on anything else.

    The standard alphabet's ``+`` and ``/`` are tolerated too, since keys are sometimes stored that way.
    """
    stripped = text.rstrip("=")
    if len(text) - len(stripped) > 2 or not _B64.fullmatch(stripped) or len(stripped) % 4 == 1:
        raise ValueError("is not valid base64url")
    return urlsafe_b64decode(stripped.translate(_TO_URLSAFE) + "=" * (-len(stripped) % 4))


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _hkdf_one_block(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    # HKDF-SHA-256 (RFC 5869) when at most one 32-byte block of output is needed: PRK = HMAC(salt, IKM),
    # OKM = first `length` bytes of HMAC(PRK, info || 0x01). Every length here is <= 32.
    return _hmac(_hmac(salt, ikm), info + b"\x01")[:length]


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _content_keys(
    *, salt: bytes, auth_secret: bytes, ecdh_secret: bytes, ua_public: bytes, as_public: bytes
) -> tuple[bytes, bytes]:
    # RFC 8291 §3.3-3.4: the ECDH secret is combined with the subscription's auth secret, bound to both
    # public keys, to give the input keying material of the aes128gcm coding.
    ikm = _hkdf_one_block(auth_secret, ecdh_secret, _KEY_INFO_PREFIX + ua_public + as_public, 32)
    # RFC 8188 §2.2-2.3: content-encryption key and nonce from that IKM and the message salt.
    cek = _hkdf_one_block(salt, ikm, _CEK_INFO, 16)
    nonce = _hkdf_one_block(salt, ikm, _NONCE_INFO, 12)
    return cek, nonce


def encrypt(
    plaintext: bytes,
    ua_public: bytes,
    auth_secret: bytes,
    *,
    salt: bytes | None = None,
    sender_private_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """Encrypt ``plaintext`` for a subscription, giving the complete ``aes128gcm`` request body.

    Args:
        plaintext: at most 3993 bytes (``MAX_PLAINTEXT_SIZE``).
        ua_public: the subscription's ``p256dh`` key, 65 bytes (uncompressed P-256 point).
        auth_secret: the subscription's ``auth`` secret, 16 bytes.
        salt: 16 bytes; random when omitted. Pass one only for reproducible tests: a salt must never
            be reused with the same sender key.
        sender_private_key: the application server's ephemeral P-256 key for this message; a fresh
            one when omitted (RFC 8291 §3.1 wants a new key pair per message).

    Returns:
        ``salt || rs || idlen || keyid || ciphertext`` (RFC 8188 §2.1), 103 bytes more than the plaintext.

    Raises:
        PayloadTooLargeError: the plaintext is over 3993 bytes.
        ValueError: a key or the salt has the wrong size, or ``ua_public`` is not a P-256 point.
    """
    if len(plaintext) > MAX_PLAINTEXT_SIZE:
        raise PayloadTooLargeError("payload", len(plaintext), MAX_PLAINTEXT_SIZE, "webpush")
    if len(auth_secret) != 16:
        raise ValueError(f"auth secret must be 16 bytes, got {len(auth_secret)}")
    if salt is None:
        salt = os.urandom(16)
    elif len(salt) != 16:
        raise ValueError(f"salt must be 16 bytes, got {len(salt)}")
    if len(ua_public) != 65:
        raise ValueError(f"subscriber public key must be 65 bytes, got {len(ua_public)}")
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ua_public)
    if sender_private_key is None:
        sender_private_key = ec.generate_private_key(_CURVE)
    as_public = _public_bytes(sender_private_key.public_key())
    ecdh_secret = sender_private_key.exchange(ec.ECDH(), ua_key)
    cek, nonce = _content_keys(
        salt=salt, auth_secret=auth_secret, ecdh_secret=ecdh_secret, ua_public=ua_public, as_public=as_public
    )
    # RFC 8188 §2: one record, so the sequence number is 0 and the nonce is used as derived; the record
    # is the data followed by the final-record delimiter 0x02 and no padding (padding only hides length,
    # and every byte counts against the 4096-byte body).
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + bytes((_LAST_RECORD,)), None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + ciphertext


def decrypt(body: bytes, ua_private_key: ec.EllipticCurvePrivateKey | bytes, auth_secret: bytes) -> bytes:
    """Decrypt an ``aes128gcm`` Web Push body as the subscribed browser would.

    Args:
        body: the request body as received by the push service.
        ua_private_key: the subscription's private key (a P-256 key or its 32-byte scalar).
        auth_secret: the subscription's 16-byte auth secret.

    Raises:
        DecryptionError: the framing is wrong, there is more than one record, the keys do not match
            or the bytes were altered.
    """
    if isinstance(ua_private_key, bytes):
        if len(ua_private_key) != 32:
            raise DecryptionError(f"subscriber private key must be 32 bytes, got {len(ua_private_key)}")
        try:
            ua_private_key = ec.derive_private_key(int.from_bytes(ua_private_key, "big"), _CURVE)
        except ValueError as exc:
            raise DecryptionError("subscriber private key is not a valid P-256 scalar") from exc
    if len(auth_secret) != 16:
        raise DecryptionError(f"auth secret must be 16 bytes, got {len(auth_secret)}")
    if len(body) < 21:
        raise DecryptionError(f"body is {len(body)} bytes, shorter than an aes128gcm header")
    salt = body[:16]
    record_size, id_len = struct.unpack("!IB", body[16:21])
    # RFC 8188 §2.1: rs below 18 cannot hold the tag and a delimiter.
    if record_size < 18:
        raise DecryptionError(f"record size {record_size} is below the minimum of 18")
    # RFC 8291 §4: the keyid is the sender's public key, an uncompressed P-256 point.
    if id_len != 65:
        raise DecryptionError(f"keyid is {id_len} bytes; Web Push needs the 65-byte sender public key")
    as_public = body[21 : 21 + id_len]
    ciphertext = body[21 + id_len :]
    if len(ciphertext) < _TAG_SIZE + 1:
        raise DecryptionError("body has no ciphertext record")
    if len(ciphertext) > record_size:
        raise DecryptionError("body holds more than one record; RFC 8291 §4 allows exactly one")
    try:
        as_key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, as_public)
    except ValueError as exc:
        raise DecryptionError("keyid is not a P-256 public key") from exc
    ecdh_secret = ua_private_key.exchange(ec.ECDH(), as_key)
    ua_public = _public_bytes(ua_private_key.public_key())
    cek, nonce = _content_keys(
        salt=salt, auth_secret=auth_secret, ecdh_secret=ecdh_secret, ua_public=ua_public, as_public=as_public
    )
    try:
        record = AESGCM(cek).decrypt(nonce, ciphertext, None)
    except InvalidTag as exc:
        raise DecryptionError("authentication failed: wrong keys or altered message") from exc
    # RFC 8188 §2: strip zero padding back to the delimiter, which must mark the final record.
    data = record.rstrip(b"\x00")
    if not data or data[-1] != _LAST_RECORD:
        raise DecryptionError("record does not end with the final-record delimiter 0x02")
    return data[:-1]
