// The host's program preview: the show as viewers get it (WHEP, muted, not counted as a
// viewer), with the card, sale countdown and question burned in, and how far behind the
// studio it plays: now minus the wall time of the program pts on screen (the session's
// RTP origin maps the frame's rtpTimestamp to program pts, as on the viewer page; the
// events socket's `program_start` is the wall time of pts 0).
import { followLive } from "./cards.js";
import { hangUp, play } from "./signal.js";

export class ProgramPreview {
  constructor(video, whep, iceServers) {
    this.video = video;
    this.whep = whep;
    this.iceServers = iceServers;
    this.session = null;
    this.starting = null;
    this.pts = null; // program pts on screen
    this.programStart = null; // unix seconds of program pts 0
    this.stopFollowing = () => {};
  }

  /** Play the program (again): no-op while playing or starting. */
  start() {
    if (this.session || this.starting) return this.starting;
    this.starting = (async () => {
      try {
        const session = await play(this.whep, this.video, this.iceServers);
        this.session = session;
        this.stopFollowing = followLive(this.video, session, {
          at: (pts) => { if (pts !== Number.MAX_SAFE_INTEGER) this.pts = pts; },
        });
        session.pc.addEventListener("connectionstatechange", () => {
          if (["failed", "closed"].includes(session.pc.connectionState) && this.session === session) this.stop();
        });
      } finally {
        this.starting = null;
      }
    })();
    return this.starting;
  }

  stop() {
    this.stopFollowing();
    this.stopFollowing = () => {};
    this.pts = null;
    const session = this.session;
    this.session = null;
    if (session) {
      session.pc.close();
      hangUp(session.location);
    }
    this.video.srcObject = null;
  }

  /** Seconds the program on screen is behind now (null until known). */
  delay() {
    if (!this.session || this.pts === null || typeof this.programStart !== "number") return null;
    return Math.max(0, Date.now() / 1000 - (this.programStart + this.pts / 90000));
  }
}
