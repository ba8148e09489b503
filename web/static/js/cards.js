// The product card beside the video, shown when the viewer's own playback reaches the
// program pts at which the burned-in card first appeared (not when the event arrives,
// which is early, and seconds early on a slow link).
//
// How: every on-air event carries the pts (1/90000 s) of the first program frame that
// shows it. requestVideoFrameCallback reports the rtpTimestamp of each frame as it is
// presented (elsewhere the video receiver's synchronization source does); the server tells
// each WHEP session its RTP origin (GET on the session URL), so the pts on screen is
// (rtpTimestamp - origin) mod 2^32. Replays use currentTime.

const $ = (id) => document.getElementById(id);

// The card's fixed words come from the server in the brand's language (card.labels, the
// same catalog as the words burned into the video); these are for events recorded
// before cards carried them.
const ENGLISH = { buy: "Buy", sold_out: "Sold out", sale_ends_in: "Flash sale · ends in {time}" };
const words = (card) => ({ ...ENGLISH, ...(card.labels || {}) });

export class Cards {
  constructor({ goSuffix = "", target = "_blank" } = {}) {
    this.pending = []; // events waiting for playback to reach their pts
    this.currentPts = null;
    this.card = null;
    this.featured = new Map();
    this.goSuffix = goSuffix;
    this.target = target; // where Buy opens: a new tab, or the top window from an embed
    this.log = []; // {type, at} for tests and debugging
  }

  /** A snapshot (page join): what is on air now is on screen now. */
  snapshot(state) {
    for (const card of state.featured || []) this.feature(card);
    if (state.card) this.show(state.card, "snapshot");
  }

  /** An on-air event from the events socket (or the replay's list). */
  add(event) {
    if (!["pin", "unpin", "sale", "sale_end", "stock"].includes(event.type)) return;
    this.pending.push(event);
    this.pending.sort((a, b) => a.pts - b.pts);
    this.tick();
  }

  /** Program pts now on screen. */
  at(pts) {
    this.currentPts = pts;
    this.tick();
  }

  tick() {
    if (this.currentPts === null) return;
    while (this.pending.length && this.pending[0].pts <= this.currentPts) {
      this.apply(this.pending.shift());
    }
    this.updateCountdown();
  }

  /** Replays seek: rebuild the card from all events up to `pts`. */
  seek(pts, events) {
    this.currentPts = pts;
    let card = null;
    for (const e of events) {
      if (e.pts > pts) break;
      card = e.type === "unpin" ? null : e.card || card;
    }
    this.pending = events.filter((e) => e.pts > pts);
    if (card) this.show(card, "seek"); else this.hide("seek");
  }

  apply(event) {
    if (event.type === "unpin" || !event.card) this.hide(event.type);
    else this.show(event.card, event.type);
  }

  feature(card) {
    this.featured.set(card.id, card);
    const list = $("featured");
    list.replaceChildren();
    for (const c of this.featured.values()) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = c.buy + this.goSuffix;
      a.target = this.target;
      a.rel = "noopener";
      a.textContent = `${c.name} · ${c.price}`;
      li.append(a);
      list.append(li);
    }
    $("featured-section").hidden = this.featured.size === 0;
  }

  show(card, why) {
    this.card = card;
    this.feature(card);
    const box = $("product-card");
    box.style.setProperty("--card-accent", card.accent || "");
    $("card-name").textContent = card.name;
    $("card-price").textContent = card.price;
    $("card-compare").textContent = card.compare_at || "";
    $("card-stock").textContent = card.stock_text || "";
    const img = $("card-image");
    if (card.thumbnail) { img.src = card.thumbnail; img.hidden = false; } else { img.hidden = true; }
    const buy = $("card-buy");
    buy.href = card.buy + this.goSuffix;
    buy.target = this.target;
    const w = words(card);
    buy.textContent = card.sold_out ? w.sold_out : w.buy;
    buy.setAttribute("aria-disabled", card.sold_out ? "true" : "false");
    const wasHidden = box.hidden;
    box.hidden = false;
    this.updateCountdown();
    this.log.push({ type: wasHidden ? "shown" : "changed", why, at: performance.now(), pts: this.currentPts });
  }

  hide(why) {
    this.card = null;
    if (!$("product-card").hidden) {
      $("product-card").hidden = true;
      this.log.push({ type: "hidden", why, at: performance.now(), pts: this.currentPts });
    }
  }

  updateCountdown() {
    const el = $("card-countdown");
    if (!this.card || !this.card.sale_ends_pts || this.currentPts === null) { el.textContent = ""; return; }
    const left = Math.max(0, Math.ceil((this.card.sale_ends_pts - this.currentPts) / 90000));
    const m = Math.floor(left / 60), s = String(left % 60).padStart(2, "0");
    el.textContent = words(this.card).sale_ends_in.replace("{time}", `${m}:${s}`);
  }
}

/**
 * Follow the program pts on screen for a live WHEP session: the RTP timestamp of the frame
 * on screen minus the session's RTP origin. Returns a function that stops it.
 *
 * The RTP timestamp comes from requestVideoFrameCallback's metadata (Chromium) or, where
 * that has none (Firefox, Safari), from the video receiver's synchronization source, which
 * WebRTC updates as each frame is delivered for display (after its jitter buffer). Only a
 * browser with neither shows cards as their events arrive.
 */
export function followLive(video, session, cards) {
  let origin = null;
  let stopped = false;
  (async () => {
    while (!stopped && origin === null) {
      try {
        const r = await fetch(session.location, { cache: "no-store" });
        if (r.status === 404) return; // the session is gone: nothing to follow
        if (r.ok) origin = (await r.json()).rtpOrigin;
      } catch (_) { /* retry */ }
      if (origin === null) await new Promise((res) => setTimeout(res, 250));
    }
  })();
  const receiver = session.pc.getReceivers().find((r) => r.track && r.track.kind === "video");
  const fromSource = () => {
    const sources = receiver && receiver.getSynchronizationSources
      ? receiver.getSynchronizationSources() : [];
    return sources.length && typeof sources[0].rtpTimestamp === "number"
      ? sources[0].rtpTimestamp : undefined;
  };
  const follow = (rtpTimestamp) => {
    if (rtpTimestamp === undefined) {
      cards.at(Number.MAX_SAFE_INTEGER); // no mapping in this browser: show on arrival
    } else if (origin !== null) {
      cards.at((rtpTimestamp - origin) >>> 0);
    }
  };
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) {
    const timer = setInterval(() => follow(fromSource()), 40);
    return () => { stopped = true; clearInterval(timer); };
  }
  const onFrame = (_now, meta) => {
    if (stopped) return;
    follow(meta.rtpTimestamp !== undefined ? meta.rtpTimestamp : fromSource());
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return () => { stopped = true; };
}

/**
 * Follow the program pts on screen for HLS playback: the playlist's program date-time of
 * the frame on screen (`player.date()`) minus the wall time of program pts 0
 * (`programStart()`, unix seconds, from the page config or the events socket). Each
 * segment's EXT-X-PROGRAM-DATE-TIME is that origin plus its first frame's pts, so this is
 * exact to the millisecond. Without an origin yet, cards show as their events arrive.
 */
export function followHls(video, player, cards, programStart) {
  let stopped = false;
  const follow = () => {
    const start = programStart();
    const date = player.date();
    if (start === null || start === undefined) {
      if (date) cards.at(Number.MAX_SAFE_INTEGER);
      return;
    }
    if (date) cards.at(Math.max(0, Math.round((date.getTime() / 1000 - start) * 90000)));
  };
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) {
    const timer = setInterval(follow, 40);
    return () => { stopped = true; clearInterval(timer); };
  }
  const onFrame = () => {
    if (stopped) return;
    follow();
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return () => { stopped = true; };
}
