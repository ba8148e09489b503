#!/usr/bin/env python3
"""Publish over WHIP, or play over WHEP, with GStreamer's webrtcbin.

Debian 12 ships webrtcbin (gstreamer1.0-plugins-bad) but no WHIP/WHEP elements, and its
simple-whip-client aborts at start (libsoup2 and libsoup3 in one process), so this
script does the HTTP exchange itself. It runs on the system Python with GStreamer's
introspection bindings (python3-gst-1.0, gir1.2-gst-plugins-bad-1.0), stdlib only:

    python3 docs/clients/gst_webrtc.py publish https://studio.example.com/whip/SHOW --token KEY
    python3 docs/clients/gst_webrtc.py play https://studio.example.com/whep/SHOW

Like the meetecho clients it POSTs the offer at once and trickles its candidates in
PATCH requests (RFC 9725); `--no-trickle` gathers first and POSTs them in the offer.
It stops after `--seconds` (default: run until interrupted), or when playing once
`--frames` video and audio buffers each were decoded, DELETEs its session and prints one
JSON line: frames decoded (play), HTTP statuses, ICE/DTLS state reached.
`--video-source` and `--audio-source` replace the test pattern and tone with a camera and
a microphone (any gst-launch description of a raw source). tests/test_gstreamer.py runs
exactly this script; docs/obs.md quotes its pipelines.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO_SOURCE = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1"
)
AUDIO_SOURCE = "audiotestsrc is-live=true wave=sine"
"`publish`'s default sources (a test pattern and a tone); --video-source/--audio-source."
VIDEO_ENCODE = (
    "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 pt=102 "
    "! application/x-rtp,media=video,encoding-name=H264,payload=102"
)
"H.264 constrained baseline, no B-frames, a keyframe every 30 frames (1 s at 30 fps)."
AUDIO_ENCODE = (
    "audioconvert ! audioresample ! opusenc "
    "! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111"
)
"Opus at 48 kHz."


def publish_pipeline(video_source: str = VIDEO_SOURCE, audio_source: str = AUDIO_SOURCE) -> str:
    """What `publish` runs: the sources, encoded, into one bundled webrtcbin."""
    return (
        "webrtcbin name=webrtc bundle-policy=max-bundle "
        f"{video_source} ! {VIDEO_ENCODE} ! webrtc. "
        f"{audio_source} ! {AUDIO_ENCODE} ! webrtc."
    )


PLAY_PIPELINE = "webrtcbin name=webrtc bundle-policy=max-bundle"
PLAY_CAPS = {
    "video": "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f",
    "audio": "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000",
}
"The recvonly transceivers `play` offers (the server answers viewers with H.264 + Opus)."
DECODERS = {
    "video": "rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! fakesink name=sink",
    "audio": "rtpopusdepay ! opusdec ! audioconvert ! fakesink name=sink",
}
"How `play` decodes what arrives; decoded buffers are counted at each fakesink."

TIMEOUT = 15
"Seconds for each HTTP request."


class Client:
    """One WHIP publisher or WHEP player: a webrtcbin and its HTTP session."""

    def __init__(self, mode: str, url: str, token: str, trickle: bool, pipeline: str) -> None:
        self.mode = mode
        self.url = url
        self.token = token
        self.trickle = trickle
        self.loop = GLib.MainLoop()
        launched = Gst.parse_launch(pipeline)
        if isinstance(launched, Gst.Pipeline):
            self.pipeline = launched
        else:  # a description of one element gives that element
            self.pipeline = Gst.Pipeline.new("play")
            self.pipeline.add(launched)
        self.webrtc = self.pipeline.get_by_name("webrtc")
        self.location = ""
        self.enough = 0
        "Play: stop once this many video and audio buffers each were decoded (0: never)."
        self.etag = ""
        self.offer_sdp = ""
        self.pending: list[tuple[int, str]] = []
        self.gathered = False
        self.end_sent = False
        self.lock = threading.Lock()
        self.result: dict[str, Any] = {
            "mode": mode,
            "post": None,
            "patch": [],
            "delete": None,
            "ice": "new",
            "connection": "new",
            "frames": {"video": 0, "audio": 0},
            "error": None,
        }
        if mode == "publish":
            for transceiver in self._transceivers():
                transceiver.set_property(
                    "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
                )
        else:
            for caps in PLAY_CAPS.values():
                self.webrtc.emit(
                    "add-transceiver",
                    GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                    Gst.Caps.from_string(caps),
                )
            self.webrtc.connect("pad-added", self._on_pad_added)
        self.webrtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self._on_ice_candidate)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.webrtc.connect("notify::ice-connection-state", self._on_state, "ice")
        self.webrtc.connect("notify::connection-state", self._on_state, "connection")
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)

    def _transceivers(self) -> list[Any]:
        found = []
        index = 0
        while (transceiver := self.webrtc.emit("get-transceiver", index)) is not None:
            found.append(transceiver)
            index += 1
        return found

    # -- negotiation ---------------------------------------------------------------------

    def _on_negotiation_needed(self, _webrtc: Any) -> None:
        promise = Gst.Promise.new_with_change_func(self._on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def _on_offer_created(self, promise: Any, _data: Any) -> None:
        reply = promise.get_reply()  # owns the offer: keep it referenced while in use
        offer = reply.get_value("offer")
        self.offer_sdp = offer.sdp.as_text()
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        if self.trickle:
            self._in_thread(self._post, self.offer_sdp)

    def _on_gathering(self, _webrtc: Any, _pspec: Any) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state != GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            return
        if self.trickle:
            with self.lock:
                self.gathered = True
            self._in_thread(self._flush_candidates)
        else:
            local = self.webrtc.get_property("local-description")
            self._in_thread(self._post, local.sdp.as_text())

    def _post(self, offer: str) -> None:
        status, headers, body = self._http("POST", self.url, offer.encode(), "application/sdp")
        self.result["post"] = status
        if status != 201:
            self._fail(f"POST answered {status}: {body.decode(errors='replace')[:200]}")
            return
        self.location = urllib.parse.urljoin(self.url, headers.get("Location", ""))
        self.etag = headers.get("ETag", "")
        ok, message = GstSdp.SDPMessage.new_from_text(body.decode())
        if ok != GstSdp.SDPResult.OK:
            self._fail("the answer is not SDP")
            return
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        GLib.idle_add(self._set_answer, answer)
        if self.trickle:
            self._flush_candidates()

    def _set_answer(self, answer: Any) -> bool:
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        return False

    # -- trickle ICE (RFC 9725 section 4.3) ----------------------------------------------

    def _on_ice_candidate(self, _webrtc: Any, mline: int, candidate: str) -> None:
        if not self.trickle:
            return
        with self.lock:
            self.pending.append((mline, candidate))
        if self.location:
            self._in_thread(self._flush_candidates)

    def _flush_candidates(self) -> None:
        with self.lock:
            if not self.location:
                return  # sent once the POST answers (it needs the session's URL and ETag)
            batch, self.pending = self.pending, []
            end = self.gathered and not self.end_sent
            self.end_sent = self.end_sent or end
        if not batch and not end:
            return
        status, _headers, _body = self._http(
            "PATCH",
            self.location,
            self._fragment(batch, end).encode(),
            "application/trickle-ice-sdpfrag",
            {"If-Match": self.etag} if self.etag else {},
        )
        self.result["patch"].append(status)

    def _fragment(self, batch: list[tuple[int, str]], end: bool) -> str:
        """An RFC 8840 SDP fragment: our ICE credentials, the m-line, the candidates."""
        ufrag = pwd = ""
        mlines: list[tuple[str, str]] = []
        for line in self.offer_sdp.splitlines():
            if line.startswith("a=ice-ufrag:") and not ufrag:
                ufrag = line.split(":", 1)[1]
            elif line.startswith("a=ice-pwd:") and not pwd:
                pwd = line.split(":", 1)[1]
            elif line.startswith("m="):
                mlines.append((line, ""))
            elif line.startswith("a=mid:") and mlines:
                mlines[-1] = (mlines[-1][0], line[6:])
        out = [f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}"]
        # With max-bundle every candidate belongs to the first m-line's transport.
        mline, mid = mlines[0] if mlines else ("m=video 9 UDP/TLS/RTP/SAVPF 0", "0")
        out += [mline, f"a=mid:{mid}"]
        out += [f"a={candidate}" for _index, candidate in batch]
        if end:
            out.append("a=end-of-candidates")
        return "\r\n".join(out) + "\r\n"

    # -- media ---------------------------------------------------------------------------

    def _on_pad_added(self, _webrtc: Any, pad: Any) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_string("media") or "video"
        decoder = Gst.parse_bin_from_description(DECODERS[kind], True)
        self.pipeline.add(decoder)
        decoder.sync_state_with_parent()
        pad.link(decoder.get_static_pad("sink"))
        sink = decoder.get_by_name("sink")
        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._count, kind)

    def _count(self, _pad: Any, _info: Any, kind: str) -> Any:
        frames = self.result["frames"]
        frames[kind] += 1
        if self.enough and min(frames.values()) == self.enough:
            GLib.idle_add(self._stop)
        return Gst.PadProbeReturn.OK

    def _on_state(self, _webrtc: Any, _pspec: Any, which: str) -> None:
        name = "ice-connection-state" if which == "ice" else "connection-state"
        state = self.webrtc.get_property(name)
        nick = state.value_nick
        # keep the best state reached: "connected"/"completed" must not be hidden by the
        # "closed" of our own shutdown
        if self.result[which] not in ("connected", "completed") or nick == "failed":
            self.result[which] = nick

    def _on_error(self, _bus: Any, message: Any) -> None:
        error, debug = message.parse_error()
        self._fail(f"{error.message} ({debug})")

    # -- plumbing ------------------------------------------------------------------------

    def _http(
        self,
        method: str,
        url: str,
        body: bytes | None,
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> tuple[int, Any, bytes]:
        headers = dict(extra or {})
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()
        except OSError as exc:
            self._fail(f"{method} {url}: {exc}")
            return 0, {}, b""

    def _in_thread(self, function: Any, *args: Any) -> None:
        threading.Thread(target=function, args=args, daemon=True).start()

    def _fail(self, message: str) -> None:
        if self.result["error"] is None:
            self.result["error"] = message
        GLib.idle_add(self.loop.quit)

    def run(self, seconds: float, frames: int = 0) -> dict[str, Any]:
        """Run until `seconds` have passed (0: until SIGINT/SIGTERM) or, playing, until
        `frames` video and audio buffers were decoded (0: no such limit), then DELETE."""
        self.enough = frames
        self.pipeline.set_state(Gst.State.PLAYING)
        if seconds > 0:
            GLib.timeout_add(int(seconds * 1000), self._stop)
        for signum in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, self._stop)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        if self.location:
            self.result["delete"] = self._http("DELETE", self.location, None)[0]
        return self.result

    def _stop(self) -> bool:
        self.loop.quit()
        return False


def main() -> int:
    """Parse the command line, run the client, print its result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["publish", "play"])
    parser.add_argument("url", help="the WHIP URL (publish) or WHEP URL (play)")
    parser.add_argument("--token", default="", help="the stream key (Bearer token)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument(
        "--frames", type=int, default=0, help="play: stop once this many of each were decoded"
    )
    parser.add_argument("--no-trickle", action="store_true", help="gather, then POST")
    parser.add_argument(
        "--video-source", default=VIDEO_SOURCE, help="publish: a raw video source (gst-launch)"
    )
    parser.add_argument(
        "--audio-source", default=AUDIO_SOURCE, help="publish: a raw audio source (gst-launch)"
    )
    args = parser.parse_args()
    Gst.init(None)
    if args.mode == "publish":
        pipeline = publish_pipeline(args.video_source, args.audio_source)
    else:
        pipeline = PLAY_PIPELINE
    client = Client(args.mode, args.url, args.token, not args.no_trickle, pipeline)
    result = client.run(args.seconds, args.frames)
    print(json.dumps(result), flush=True)
    return 1 if result["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
