// WHIP/WHEP signalling and the resumable events socket, shared by the studio and viewer pages.

/** An HTTP error from a WHIP/WHEP endpoint, with the server's message. */
export class SignalError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Wait until ICE gathering completes (our pages send their candidates in the offer, not in PATCHes), at most maxMs. */
export function gathered(pc, maxMs = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") finish();
    };
    const timer = setTimeout(finish, maxMs);
    function finish() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }
    pc.addEventListener("icegatheringstatechange", done);
  });
}

/** POST the local offer; apply the answer; return the session URL. */
async function negotiate(url, pc, headers = {}) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...headers },
    body: pc.localDescription.sdp,
  });
  const text = await response.text();
  if (response.status !== 201) {
    const retry = Number(response.headers.get("Retry-After") || 0);
    throw new SignalError(response.status, text.trim() || response.statusText, retry);
  }
  await pc.setRemoteDescription({ type: "answer", sdp: text });
  return new URL(response.headers.get("Location"), new URL(url, location.href)).toString();
}

/** DELETE a session, ignoring errors (it may already be gone). */
export async function hangUp(location) {
  if (!location) return;
  try {
    await fetch(location, { method: "DELETE", keepalive: true });
  } catch (_) {
    /* the server or network is gone: nothing to clean up there */
  }
}

/** Publish a MediaStream over WHIP, with the stream key (or, without one, `headers` that
 * authenticate otherwise: the studio's CSRF token with its session cookie). */
export async function publish(url, streamKey, stream, iceServers = [], headers = {}) {
  const pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getTracks()) {
    // "detail": keep the resolution and drop frames when the CPU or the link is short.
    // Products must stay sharp; the program re-times frames anyway (the last one repeats).
    if (track.kind === "video" && "contentHint" in track) track.contentHint = "detail";
    pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  }
  if (!stream.getAudioTracks().length) {
    // No microphone: an audio transceiver anyway, so one plugged in later can replaceTrack().
    pc.addTransceiver("audio", { direction: "sendonly", streams: [stream] });
  }
  try {
    const auth = streamKey ? { Authorization: `Bearer ${streamKey}` } : {};
    const location = await negotiate(url, pc, { ...headers, ...auth });
    return { pc, location };
  } catch (err) {
    pc.close();
    throw err;
  }
}

/** True if this browser can decode the stream (H.264). */
export function canPlayH264() {
  const caps = window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities
    ? RTCRtpReceiver.getCapabilities("video")
    : null;
  if (!caps) return true; // cannot tell: let the server decide
  return caps.codecs.some((c) => c.mimeType.toLowerCase() === "video/h264");
}

/** Play a show over WHEP into a <video>. */
export async function play(url, video, iceServers = []) {
  const pc = new RTCPeerConnection({ iceServers });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.addEventListener("track", (event) => {
    stream.addTrack(event.track);
    if (video.srcObject !== stream) video.srcObject = stream;
  });
  try {
    const location = await negotiate(url, pc);
    return { pc, location };
  } catch (err) {
    pc.close();
    throw err;
  }
}

/**
 * The show's events WebSocket, reconnecting with backoff and resuming after the last
 * event seen, so nothing is missed or repeated across a blip.
 */
export function events(path, onEvent) {
  let lastId = 0;
  let delay = 500;
  let socket = null;
  let closed = false;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = lastId ? `?last_event_id=${lastId}` : "";
    socket = new WebSocket(`${scheme}//${location.host}${path}${query}`);
    socket.addEventListener("open", () => { delay = 500; });
    socket.addEventListener("message", (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (_) { return; }
      if (typeof event.id === "number") lastId = Math.max(lastId, event.id);
      onEvent(event);
    });
    socket.addEventListener("close", () => {
      if (closed) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
  return {
    close() { closed = true; socket && socket.close(); },
    /** Send a JSON frame; false if the socket is not open right now. */
    send(frame) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(frame));
      return true;
    },
  };
}

/** "1:02:03" / "2:03" for a number of seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
}
