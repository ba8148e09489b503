"""Self-signed certificates for the tests that need TLS or DTLS peers of their own.

One builder, so that the FFmpeg WHIP client (a P-256 or the P-224 certificate FFmpeg's
GnuTLS build makes), the RTMPS server, the HTTPS settings and the RSA DTLS peer differ
only in what they choose: key, name, address and lifetime.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key(curve: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    """An ECDSA key on `curve` (secp256r1 or secp224r1)."""
    return ec.generate_private_key(
        {"secp256r1": ec.SECP256R1(), "secp224r1": ec.SECP224R1()}[curve]
    )


def rsa_key() -> rsa.RSAPrivateKey:
    """RSA-2048, what GStreamer's webrtcbin uses for DTLS."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(
    key: PrivateKey, name: str, *, ip: str | None = None, days: float = 1, ca: bool = False
) -> x509.Certificate:
    """A certificate for `name`, signed by its own key, valid from a day ago; with `ip`, that
    address as its subject alternative name (what a TLS client checks for an IP host)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if ip is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    return builder.sign(key, hashes.SHA256())


def key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted with `passphrase` if given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_pair(cert: x509.Certificate, key: PrivateKey, cert_path: Path, key_path: Path) -> None:
    """The certificate and its key as PEM files."""
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key_pem(key))
