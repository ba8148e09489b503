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
