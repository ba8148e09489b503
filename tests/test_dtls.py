"""DTLS with a peer whose certificate is RSA (GStreamer's webrtcbin), in memory.

aiortc answers WHIP/WHEP offers as the DTLS client; the peer's certificate picks the
suite. An OpenSSL DTLS server with an RSA-2048 certificate stands in for webrtcbin.
"""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate
from OpenSSL import SSL

from livestudio.media.dtls import AIORTC_SUITES, RSA_SUITES, StudioCertificate, accept_rsa_peers

from .certs import rsa_key, self_signed


@pytest.fixture(scope="module")
def rsa_server_context() -> SSL.Context:
    key = rsa_key()
    cert = self_signed(key, "webrtcbin")
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.use_certificate(cert)
    ctx.use_privatekey(key)
    ctx.set_tlsext_use_srtp(b"SRTP_AES128_CM_SHA1_80")
    return ctx


def handshake(client_ctx: SSL.Context, server_ctx: SSL.Context) -> str:
    """Run a DTLS handshake over memory BIOs; the negotiated cipher's name."""
    client, server = SSL.Connection(client_ctx, None), SSL.Connection(server_ctx, None)
    client.set_connect_state()
    server.set_accept_state()
    done = {"client": False, "server": False}
    for _ in range(20):
        for side, this, other in (("client", client, server), ("server", server, client)):
            try:
                this.do_handshake()
                done[side] = True
            except SSL.WantReadError:
                pass
            try:
                while data := this.bio_read(65536):
                    other.bio_write(data)
            except SSL.WantReadError:
                pass
        if all(done.values()):
            name = client.get_cipher_name()
            assert name is not None
            return name
    raise AssertionError("the handshake did not finish")


def test_aiortcs_own_suites_fail_with_an_rsa_peer(rsa_server_context: SSL.Context) -> None:
    plain = RTCCertificate.generateCertificate()
    with pytest.raises(SSL.Error):
        handshake(plain._create_ssl_context(SRTP_PROFILES), rsa_server_context)


def test_studio_certificate_handshakes_with_an_rsa_peer(rsa_server_context: SSL.Context) -> None:
    plain = RTCCertificate.generateCertificate()
    ours = StudioCertificate(key=plain._key, cert=plain._cert)
    cipher = handshake(ours._create_ssl_context(SRTP_PROFILES), rsa_server_context)
    assert cipher.startswith("ECDHE-RSA-") and "GCM" in cipher


def test_ecdsa_suites_stay_first() -> None:
    plain = RTCCertificate.generateCertificate()
    ctx = StudioCertificate(key=plain._key, cert=plain._cert)._create_ssl_context(SRTP_PROFILES)
    ciphers = [c for c in SSL.Connection(ctx).get_cipher_list() if not c.startswith("TLS_")]
    assert ciphers == (AIORTC_SUITES + b":" + RSA_SUITES).decode().split(":")


def test_accept_rsa_peers_keeps_the_fingerprint() -> None:
    pc = RTCPeerConnection()
    before = pc._RTCPeerConnection__certificates[0].getFingerprints()  # type: ignore[attr-defined]
    accept_rsa_peers(pc)
    (certificate,) = pc._RTCPeerConnection__certificates  # type: ignore[attr-defined]
    assert isinstance(certificate, StudioCertificate)
    assert certificate.getFingerprints() == before
