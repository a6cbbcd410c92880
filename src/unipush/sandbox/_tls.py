"""A throwaway certificate authority and server certificate for the sandbox's TLS servers.

Every sandbox makes its own CA at start and signs one server certificate for the loopback names
(``127.0.0.1``, ``::1``, ``localhost``). Only ``ca.pem`` matters to clients: pass its path as
``verify=``. Keys are P-256 ECDSA, not RSA, because generating them takes well under a millisecond,
which keeps ``Sandbox.start()`` fast; the short validity (one day) limits what a leaked file is worth.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DEFAULT_HOSTS", "SandboxTLS", "create_tls"]

DEFAULT_HOSTS = ("127.0.0.1", "::1", "localhost")

# Clock skew allowance: a client whose clock runs a little behind must still accept the certificate.
_BACKDATE = timedelta(minutes=5)

# RFC 9113 section 9.2.2: HTTP/2 over TLS 1.2 must not use the blocklisted (non-AEAD, non-ephemeral)
# suites, so offer only ECDHE with AES-GCM or ChaCha20-Poly1305. TLS 1.3 suites are unaffected.
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True, slots=True)
class SandboxTLS:
    """The files of one sandbox's private PKI. ``ca_path`` is what clients pass as ``verify=``."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self, *, http1: bool = False) -> ssl.SSLContext:
        """A server context: TLS 1.2 or later, ALPN ``h2`` (and ``http/1.1`` when ``http1``)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # APNs requires TLS 1.2 or later (Apple, "Sending notification requests to APNs"); so does
        # HTTP/2 itself (RFC 9113 section 9.2).
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(_TLS12_CIPHERS)
        context.options |= ssl.OP_NO_COMPRESSION  # RFC 9113 section 9.2.1
        context.set_alpn_protocols(["h2", "http/1.1"] if http1 else ["h2"])
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this sandbox's CA (for tools and tests)."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        context.set_alpn_protocols(["h2", "http/1.1"])
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "unipush sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by the owner only (it is throwaway, but still a key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def create_tls(
    directory: Path,
    *,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    validity: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> SandboxTLS:
    """Make a CA and a server certificate for ``hosts``; write ``ca.pem``, ``server.pem``, ``server-key.pem``.

    Args:
        directory: where the three files go (it must exist).
        hosts: the server certificate's subject alternative names (IP addresses or DNS names).
        validity: how long both certificates stay valid from ``now``.
        now: the issuing time (aware UTC); defaults to the current time.

    Returns:
        The paths, with helpers that build the server and client ``ssl.SSLContext``.
    """
    issued = (now or datetime.now(timezone.utc)) - _BACKDATE
    expires = issued + _BACKDATE + validity
    hosts = list(dict.fromkeys(hosts))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("unipush sandbox CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued)
        .not_valid_after(expires)
        # RFC 5280 section 4.2.1.9: a CA certificate marks basicConstraints critical; strict
        # verifiers (Python 3.13's default VERIFY_X509_STRICT) also want the key identifiers.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0] if hosts else "localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued)
        .not_valid_after(expires)
        # RFC 6125 / RFC 9110 section 4.3.4: clients match the host against the SAN, not the CN.
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_path,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    return SandboxTLS(ca_path=ca_path, cert_path=cert_path, key_path=key_path)
