"""The aiortc internals the encode-once design relies on. If one moves, this fails by name.

pyproject pins aiortc to the minor version these were checked against (~=1.16.0).
"""

from __future__ import annotations

import inspect

import aioice.ice
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver


def test_sender_packs_packets_instead_of_encoding() -> None:
    source = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "isinstance(data, Frame)" in source and ".pack(data)" in source


def test_sender_keyframe_hook_exists() -> None:
    # PLI/FIR call self._send_keyframe(); viewer.py replaces it per sender.
    assert callable(RTCRtpSender._send_keyframe)
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)


def test_h264_pack_takes_annexb_packets() -> None:
    assert "_split_bitstream" in inspect.getsource(H264Encoder.pack)


def test_transceiver_codecs_attribute() -> None:
    # viewer.py sets the answered profile-level-id on transceiver._codecs.
    assert "_codecs" in inspect.getsource(RTCRtpTransceiver.__init__)


def test_aioice_host_address_lookup() -> None:
    # ice.py replaces aioice.ice.get_host_addresses to apply the ICE policy.
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


def test_receiver_audio_jitter_buffer_prefetch() -> None:
    # ingest.py lowers the audio jitter buffer's prefetch (4 x 20 ms) to keep A/V in sync.
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    source = inspect.getsource(RTCRtpReceiver.__init__)
    assert "self.__jitter_buffer = JitterBuffer(capacity=16, prefetch=4)" in source
    from aiortc.jitterbuffer import JitterBuffer

    assert "_prefetch" in inspect.getsource(JitterBuffer.__init__)


def test_sender_keeps_last_rtp_timestamp_and_adds_an_origin_to_pts() -> None:
    # broadcast.PacketTrack learns each viewer's RTP origin from these.
    run = inspect.getsource(RTCRtpSender._run_rtp)
    assert "timestamp = uint32_add(timestamp_origin, enc_frame.timestamp)" in run
    assert "self.__rtp_timestamp = packet.timestamp" in run


def test_receiver_remb_needs_abs_send_time() -> None:
    # ingest.py drops abs-send-time and goog-remb from the host's answer so aiortc sends
    # no REMB (its estimate held browsers at ~60 kbit/s).
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "if packet.extensions.abs_send_time is not None:" in source
    assert "_headerExtensions" in inspect.getsource(RTCRtpTransceiver.__init__)


def test_dtls_certificates_and_cipher_list() -> None:
    # media/dtls.py swaps each connection's certificates for a subclass that extends
    # aiortc's cipher list with the ECDHE-RSA suites (GStreamer's webrtcbin is RSA).
    from aiortc import RTCPeerConnection
    from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport

    from livestudio.media.dtls import AIORTC_SUITES

    init = inspect.getsource(RTCPeerConnection.__init__)
    assert "self.__certificates = [RTCCertificate.generateCertificate()]" in init
    assert "RTCDtlsTransport(iceTransport, self.__certificates)" in inspect.getsource(
        RTCPeerConnection
    )
    assert "._create_ssl_context(" in inspect.getsource(RTCDtlsTransport.start)
    assert AIORTC_SUITES.decode() in inspect.getsource(RTCCertificate._create_ssl_context)
    certificate = inspect.getsource(RTCCertificate.__init__)
    assert "self._key = key" in certificate and "self._cert = cert" in certificate


def test_aioice_consent_loop_and_incoming_checks() -> None:
    # media/consent.py replaces query_consent and wraps check_incoming per connection;
    # its consent loop is aioice's with the peer's own checks counted.
    connection = aioice.ice.Connection
    assert "self.query_consent()" in inspect.getsource(connection.connect)
    received = inspect.getsource(connection.request_received)
    assert received.index("check_message_integrity") < received.index("self.check_incoming(")
    consent = inspect.getsource(connection.query_consent)
    for needed in (
        "CONSENT_INTERVAL * (0.8 + 0.4 * random.random())",
        "self._nominated.values()",
        "self.build_request(pair, nominate=False)",
        "retransmissions=0",
        "except stun.TransactionError:",
        "failures >= CONSENT_FAILURES",
        "self._query_consent_task = None",
        "await self.close()",
    ):
        assert needed in consent, needed
    assert "_network_host" in inspect.getsource(aioice.ice.CandidatePair)


def test_ice_transport_connection_and_trickled_candidates() -> None:
    # consent.py reaches each transport's aioice connection; trickle.py adds candidates
    # with addIceCandidate, which skips bundled transceivers (so it names the bundle's).
    from aiortc import RTCPeerConnection
    from aiortc.rtcicetransport import RTCIceTransport

    assert "self._connection" in inspect.getsource(RTCIceTransport.__init__)
    assert "not transceiver._bundled" in inspect.getsource(RTCPeerConnection.addIceCandidate)
    assert "_bundled" in inspect.getsource(RTCRtpTransceiver.__init__)


def test_lean_sender_hooks() -> None:
    # media/leansend.py: the sender is started (send()) once DTLS is up, with the
    # negotiated parameters; its RTP task only reads our StartTrack; NACKs go to
    # self._retransmit (replaced per sender); its SSRCs are _ssrc and _rtx_ssrc.
    from aiortc import RTCPeerConnection

    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)  # type: ignore[attr-defined]
    assert connect.index("await dtlsTransport.start(") < connect.index(
        "await transceiver.sender.send(self.__localRtp(transceiver))"
    )
    assert 'if dtlsTransport.state == "connected":' in connect
    send = inspect.getsource(RTCRtpSender.send)
    assert "self._run_rtp(parameters.codecs[0])" in send and "self._run_rtcp()" in send
    assert "data = await self.__track.recv()" in inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "enc_frame = await self._next_encoded_frame(codec)" in inspect.getsource(
        RTCRtpSender._run_rtp
    )
    assert "await self._retransmit(seq)" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    init = inspect.getsource(RTCRtpSender.__init__)
    assert "self._ssrc = random32()" in init and "self._rtx_ssrc = random32()" in init


def test_connect_task_after_close() -> None:
    # media/peerconn.py quiet_connect_after_close: the connect task is started through the
    # instance attribute (so ours replaces it), and a closed ICE transport refuses start().
    from aiortc import RTCPeerConnection
    from aiortc.rtcicetransport import RTCIceTransport

    for method in (RTCPeerConnection.setLocalDescription, RTCPeerConnection.setRemoteDescription):
        assert "asyncio.ensure_future(self.__connect())" in inspect.getsource(method)
    start = inspect.getsource(RTCIceTransport.start)
    assert 'raise InvalidStateError("RTCIceTransport is closed")' in start


def test_lean_sender_feeds_aiortcs_sender_reports() -> None:
    # leansend._SENDER_REPORT_FIELDS: what _run_rtcp puts in each SR, set by us per frame.
    from livestudio.media.leansend import _SENDER_REPORT_FIELDS

    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for needed in (
        "ntp_timestamp=self.__ntp_timestamp",
        "rtp_timestamp=self.__rtp_timestamp",
        "packet_count=self.__packet_count & 0xFFFFFFFF",
        "octet_count=self.__octet_count & 0xFFFFFFFF",
        "self.__lsr = ((self.__ntp_timestamp) >> 16) & 0xFFFFFFFF",
    ):
        assert needed in rtcp, needed
    init = inspect.getsource(RTCRtpSender.__init__)
    for name in _SENDER_REPORT_FIELDS:
        assert f"self.__{name.split('__', 1)[1]} = 0" in init, name
    # RR statistics read the packet count too; nothing else writes these but _run_rtp.
    assert "self.__packet_count - report.packets_lost" in inspect.getsource(
        RTCRtpSender._handle_rtcp_packet
    )
    assert "__slots__" not in inspect.getsource(RTCRtpSender), "__class__ switch needs a dict"


def test_pylibsrtp_internals_of_fast_protect() -> None:
    # media/srtp.py calls srtp_protect on a Session's own srtp_t and buffer.
    import pylibsrtp
    from pylibsrtp._binding import lib

    init = inspect.getsource(pylibsrtp.Session.__init__)
    assert 'self._cdata = ffi.new("char[]", 1500)' in init
    assert "self._buffer = ffi.buffer(self._cdata)" in init
    assert "self._srtp = ffi.gc(srtp," in init
    process = inspect.getsource(pylibsrtp.Session._Session__process)  # type: ignore[attr-defined]
    assert "func(self._srtp[0], self._cdata, len_p)" in process
    assert "return self._buffer[0 : len_p[0]]" in process
    assert callable(lib.srtp_protect)


def test_lean_sender_srtp_session_and_ice_pair() -> None:
    # leansend: SRTP with the DTLS transport's _tx_srtp (repeat allowed: retransmissions
    # re-protect a sequence number), sent on the selected pair's socket as aioice does.
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    keys = inspect.getsource(RTCDtlsTransport._setup_srtp)
    assert "tx_policy.allow_repeat_tx = True" in keys
    assert "self._tx_srtp = Session(tx_policy)" in keys
    assert "data = self._tx_srtp.protect(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
    sendto = inspect.getsource(aioice.ice.Connection.sendto)
    assert "active_pair = self._nominated.get(component)" in sendto
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto
    assert "self.transport.sendto(data, addr)" in inspect.getsource(
        aioice.ice.StunProtocol.send_data
    )
    assert "self._nominated" in inspect.getsource(aioice.ice.Connection.__init__)
    # ... and stops when the ICE transport closes or fails (consent lost).
    from aiortc.rtcicetransport import RTCIceTransport

    assert 'self.emit("statechange")' in inspect.getsource(RTCIceTransport)


def test_receiver_hooks_of_loss_recovery() -> None:
    # media/recovery.py: VideoRecovery stands in for the video receiver's NackGenerator
    # (fed every media packet, RTX unwrapped; aiortc NACKs only if add() returns True),
    # sends NACKs and PLIs with the receiver's own senders, and skips a lost packet in
    # its jitter buffer; AudioRecovery wraps _handle_rtp_packet per receiver instance.
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    init = inspect.getsource(RTCRtpReceiver.__init__)
    assert "self.__jitter_buffer = JitterBuffer(capacity=512, is_video=True)" in init
    assert "self.__nack_generator = NackGenerator()" in init
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert handle.index("packet = unwrap_rtx(") < handle.index(
        "if self.__nack_generator is not None and self.__nack_generator.add(packet):"
    )
    assert "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)" in handle
    # ... its output's timestamp is mapped in place after release, and becomes the pts
    # of the decoded frame (VideoRecovery matches keyframes to frames by it).
    assert "encoded_frame.timestamp = self.__timestamp_mapper.map(" in handle
    from aiortc.codecs.h264 import H264Decoder
    from aiortc.codecs.vpx import Vp8Decoder

    for decoder in (H264Decoder, Vp8Decoder):
        assert "packet.pts = encoded_frame.timestamp" in inspect.getsource(decoder.decode)
    nack = inspect.signature(RTCRtpReceiver._send_rtcp_nack)
    assert list(nack.parameters) == ["self", "media_ssrc", "lost"]
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp_pli).parameters) == [
        "self",
        "media_ssrc",
    ]
    assert "self._origin" in inspect.getsource(JitterBuffer.__init__)
    assert list(inspect.signature(JitterBuffer.remove).parameters) == ["self", "count"]
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in (
        inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    )


def test_ingest_sockets_of_an_ice_connection() -> None:
    # rcvbuf: the host's sockets are the gathered StunProtocols' datagram transports.
    init = inspect.getsource(aioice.ice.Connection.__init__)
    assert "self._protocols: list[StunProtocol] = []" in init
    gather = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "self._protocols += host_protocols" in gather
    assert "self.transport = cast(asyncio.DatagramTransport, transport)" in inspect.getsource(
        aioice.ice.StunProtocol.connection_made
    )
