"""DTLS cipher suites that GStreamer's webrtcbin (and other RSA-certificate peers) accept.

aiortc's DTLS context offers only ECDHE-ECDSA suites. That is enough when aiortc is the
DTLS server (its own certificate is ECDSA P-256), but when it is the DTLS client the
peer's certificate decides the suite: GStreamer's webrtcbin (the meetecho simple-whip and
simple-whep clients, anything built on it) has an RSA-2048 certificate, finds no suite it
can sign with and answers `handshake_failure`. Offering the ECDHE-RSA AES-GCM suites as
well fixes it; aiortc's ECDSA suites stay first, so peers with an ECDSA certificate
negotiate exactly as before.

The hook is per peer connection: `accept_rsa_peers(pc)` swaps the connection's
certificate for the same key and certificate in a subclass whose SSL context adds the
suites. tests/test_aiortc_contract.py pins the aiortc internals it relies on.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate
from OpenSSL import SSL

AIORTC_SUITES = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"
)
"What aiortc 1.16 offers (RTCCertificate._create_ssl_context), kept first."
RSA_SUITES = b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
"Forward-secret AEAD suites for peers whose certificate is RSA."
CIPHERS = AIORTC_SUITES + b":" + RSA_SUITES


class StudioCertificate(RTCCertificate):
    """aiortc's certificate whose DTLS context also offers the ECDHE-RSA suites."""

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> SSL.Context:
        ctx = super()._create_ssl_context(srtp_profiles)
        ctx.set_cipher_list(CIPHERS)
        return ctx


def accept_rsa_peers(pc: RTCPeerConnection) -> None:
    """Let `pc`'s DTLS handshakes use the ECDHE-RSA suites too (call before negotiating).

    The key and certificate stay the same, so the fingerprint in the answer does too.
    """
    attribute = "_RTCPeerConnection__certificates"
    certificates: list[RTCCertificate] = getattr(pc, attribute)
    setattr(pc, attribute, [StudioCertificate(key=c._key, cert=c._cert) for c in certificates])
