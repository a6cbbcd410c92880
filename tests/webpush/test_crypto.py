"""RFC 8291 / RFC 8188 encryption: the Appendix A vector byte for byte, round trips, tampering, limits."""

from __future__ import annotations

import os
import struct

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from unipush import PayloadTooLargeError
from unipush.webpush import DecryptionError, decrypt, encrypt
from unipush.webpush._crypto import (
    HEADER_SIZE,
    MAX_PLAINTEXT_SIZE,
    _content_keys,
    b64url_decode,
    b64url_encode,
)

# RFC 8291 Appendix A (values from /work/shared/reference/protocols.md §3.5, base64url without padding).
PLAINTEXT = "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24"
AS_PUBLIC = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
AUTH_SECRET = "BTBZMqHH6r4Tts7J_aSIgg"
ECDH_SECRET = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs"
CEK = "oIhVW04MRdy2XN9CiKLxTg"
NONCE = "4h_95klXJ5E_qnoN"
HEADER = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8w"
    "EqKK6PBru3jl7A8"
)
MESSAGE = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8w"
    "EqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)


Parts = tuple[ec.EllipticCurvePrivateKey, bytes, bytes]


def scalar_key(b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(b64), "big"), ec.SECP256R1())


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def appendix_a_message() -> bytes:
    return encrypt(
        b64url_decode(PLAINTEXT),
        b64url_decode(UA_PUBLIC),
        b64url_decode(AUTH_SECRET),
        salt=b64url_decode(SALT),
        sender_private_key=scalar_key(AS_PRIVATE),
    )


class TestAppendixA:
    def test_message_is_reproduced_byte_for_byte(self) -> None:
        message = appendix_a_message()
        assert b64url_encode(message) == MESSAGE
        assert len(message) == 144
        assert message[:HEADER_SIZE] == b64url_decode(HEADER)

    def test_key_pairs_match(self) -> None:
        assert b64url_encode(point(scalar_key(AS_PRIVATE))) == AS_PUBLIC
        assert b64url_encode(point(scalar_key(UA_PRIVATE))) == UA_PUBLIC

    def test_intermediate_cek_and_nonce(self) -> None:
        ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(UA_PUBLIC))
        ecdh = scalar_key(AS_PRIVATE).exchange(ec.ECDH(), ua_key)
        assert b64url_encode(ecdh) == ECDH_SECRET
        cek, nonce = _content_keys(
            salt=b64url_decode(SALT),
            auth_secret=b64url_decode(AUTH_SECRET),
            ecdh_secret=ecdh,
            ua_public=b64url_decode(UA_PUBLIC),
            as_public=b64url_decode(AS_PUBLIC),
        )
        assert (b64url_encode(cek), b64url_encode(nonce)) == (CEK, NONCE)

    @pytest.mark.parametrize("private_key", [UA_PRIVATE, "key-object"])
    def test_decrypt_appendix_a(self, private_key: str) -> None:
        key: ec.EllipticCurvePrivateKey | bytes = (
            scalar_key(UA_PRIVATE) if private_key == "key-object" else b64url_decode(UA_PRIVATE)
        )
        plaintext = decrypt(b64url_decode(MESSAGE), key, b64url_decode(AUTH_SECRET))
        assert plaintext == b"When I grow up, I want to be a watermelon"

    def test_header_layout(self) -> None:
        header = appendix_a_message()[:HEADER_SIZE]
        salt, rs, idlen, keyid = header[:16], *struct.unpack("!IB", header[16:21]), header[21:]
        assert (b64url_encode(salt), rs, idlen, b64url_encode(keyid)) == (SALT, 4096, 65, AS_PUBLIC)


class TestRoundTrip:
    def test_random_salt_and_key_round_trip(self) -> None:
        ua = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        first = encrypt(b"hello", point(ua), auth)
        second = encrypt(b"hello", point(ua), auth)
        assert first != second  # fresh salt and sender key each time
        assert first[:16] != second[:16]
        assert decrypt(first, ua, auth) == decrypt(second, ua, auth) == b"hello"

    def test_empty_plaintext(self) -> None:
        ua = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        body = encrypt(b"", point(ua), auth)
        assert len(body) == HEADER_SIZE + 1 + 16
        assert decrypt(body, ua, auth) == b""

    def test_http_ece_decrypts_our_output(self) -> None:
        ua = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        body = encrypt(b"interop \xe2\x9c\x93", point(ua), auth)
        assert http_ece.decrypt(body, private_key=ua, auth_secret=auth, version="aes128gcm") == b"interop \xe2\x9c\x93"

    def test_we_decrypt_http_ece_output(self) -> None:
        ua = ec.generate_private_key(ec.SECP256R1())
        sender = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        body = http_ece.encrypt(
            b"from http_ece", private_key=sender, dh=point(ua), auth_secret=auth, version="aes128gcm"
        )
        assert decrypt(body, ua, auth) == b"from http_ece"


class TestLimits:
    def test_3993_bytes_fit_in_4096(self) -> None:
        ua = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        body = encrypt(b"x" * 3993, point(ua), auth)
        assert len(body) == 4096
        assert decrypt(body, ua, auth) == b"x" * 3993

    def test_3994_bytes_are_too_large(self) -> None:
        with pytest.raises(PayloadTooLargeError) as info:
            encrypt(b"x" * 3994, point(ec.generate_private_key(ec.SECP256R1())), os.urandom(16))
        assert (info.value.size, info.value.limit, info.value.provider) == (3994, 3993, "webpush")
        assert MAX_PLAINTEXT_SIZE == 3993

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"auth_secret": b"short"}, "auth secret must be 16 bytes"),
            ({"salt": b"x" * 15}, "salt must be 16 bytes"),
            ({"ua_public": b"\x04" * 33}, "must be 65 bytes"),
        ],
    )
    def test_bad_inputs(self, kwargs: dict[str, bytes], message: str) -> None:
        args = {"ua_public": point(ec.generate_private_key(ec.SECP256R1())), "auth_secret": os.urandom(16)}
        args.update(kwargs)
        salt = args.pop("salt", None)
        with pytest.raises(ValueError, match=message):
            encrypt(b"x", args["ua_public"], args["auth_secret"], salt=salt)

    def test_ua_public_off_curve(self) -> None:
        with pytest.raises(ValueError, match="Invalid EC key"):
            encrypt(b"x", b"\x04" + b"\x01" * 64, os.urandom(16))


class TestTampering:
    @pytest.fixture
    def parts(self) -> Parts:
        ua = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        return ua, auth, encrypt(b"secret message", point(ua), auth)

    @pytest.mark.parametrize("index", [0, 15, HEADER_SIZE, HEADER_SIZE + 5, -1])
    def test_flipped_byte_fails(self, parts: Parts, index: int) -> None:
        ua, auth, body = parts
        altered = bytearray(body)
        altered[index] ^= 0x01
        with pytest.raises(DecryptionError, match="authentication failed"):
            decrypt(bytes(altered), ua, auth)

    def test_wrong_auth_secret(self, parts: Parts) -> None:
        ua, _, body = parts
        with pytest.raises(DecryptionError, match="authentication failed"):
            decrypt(body, ua, os.urandom(16))

    def test_wrong_private_key(self, parts: Parts) -> None:
        _, auth, body = parts
        with pytest.raises(DecryptionError, match="authentication failed"):
            decrypt(body, ec.generate_private_key(ec.SECP256R1()), auth)

    def test_truncated(self, parts: Parts) -> None:
        ua, auth, body = parts
        with pytest.raises(DecryptionError, match="shorter than an aes128gcm header"):
            decrypt(body[:20], ua, auth)
        with pytest.raises(DecryptionError, match="no ciphertext"):
            decrypt(body[:HEADER_SIZE], ua, auth)

    def test_keyid_not_a_point(self, parts: Parts) -> None:
        ua, auth, body = parts
        altered = body[:21] + b"\x04" + b"\x01" * 64 + body[HEADER_SIZE:]
        with pytest.raises(DecryptionError, match="not a P-256 public key"):
            decrypt(altered, ua, auth)

    def test_small_record_size(self, parts: Parts) -> None:
        ua, auth, body = parts
        with pytest.raises(DecryptionError, match="below the minimum of 18"):
            decrypt(body[:16] + struct.pack("!I", 17) + body[20:], ua, auth)

    def test_more_than_one_record(self, parts: Parts) -> None:
        ua, auth, body = parts
        with pytest.raises(DecryptionError, match="more than one record"):
            decrypt(body[:16] + struct.pack("!I", 18) + body[20:], ua, auth)

    def test_wrong_keyid_length(self, parts: Parts) -> None:
        ua, auth, body = parts
        with pytest.raises(DecryptionError, match="65-byte sender public key"):
            decrypt(body[:20] + b"\x20" + body[21:], ua, auth)

    def test_record_without_final_delimiter(self) -> None:
        # A well-authenticated record that ends with 0x01 (a non-final record) must be refused.
        ua = ec.generate_private_key(ec.SECP256R1())
        sender = ec.generate_private_key(ec.SECP256R1())
        auth, salt = os.urandom(16), os.urandom(16)
        ecdh = sender.exchange(ec.ECDH(), ua.public_key())
        cek, nonce = _content_keys(
            salt=salt, auth_secret=auth, ecdh_secret=ecdh, ua_public=point(ua), as_public=point(sender)
        )
        record = AESGCM(cek).encrypt(nonce, b"data\x01", None)
        body = salt + struct.pack("!IB", 4096, 65) + point(sender) + record
        with pytest.raises(DecryptionError, match="final-record delimiter"):
            decrypt(body, ua, auth)

    def test_bad_private_key_and_auth_sizes(self, parts: Parts) -> None:
        _, auth, body = parts
        with pytest.raises(DecryptionError, match="32 bytes"):
            decrypt(body, b"\x01" * 31, auth)
        with pytest.raises(DecryptionError, match="not a valid P-256 scalar"):
            decrypt(body, b"\x00" * 32, auth)
        with pytest.raises(DecryptionError, match="auth secret must be 16 bytes"):
            decrypt(body, b"\x01" * 32, b"short")


class TestBase64url:
    @pytest.mark.parametrize("text", ["BTBZMqHH6r4Tts7J_aSIgg", "BTBZMqHH6r4Tts7J_aSIgg==", "BTBZMqHH6r4Tts7J/aSIgg"])
    def test_padding_and_standard_alphabet_tolerated(self, text: str) -> None:
        assert b64url_decode(text) == b64url_decode(AUTH_SECRET)

    @pytest.mark.parametrize("text", ["", "=", "abcde", "ab cd", "ab*cd", "abcd===", "BTBZ\nMqHH"])
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ValueError, match="base64url"):
            b64url_decode(text)

    def test_encode_has_no_padding(self) -> None:
        assert b64url_encode(b"\xff\xfe") == "__4"
