// The viewer page: plays the show over WHEP, follows its state, recovers by itself.
// When WebRTC cannot play — the show is full (503), this browser has no WebRTC H.264, or
// no media arrives within a few seconds (UDP blocked) — it plays the show's HLS instead,
// at standard latency (`?hls=1` forces that), and stays on it.
import { Cards, followHls, followLive } from "./cards.js";
import { ChatList, float } from "./chat.js";
import { canPlayHls, playHls } from "./hlsplay.js";
import { count, fill, localizeTimes } from "./intl.js";
import { SignalError, canPlayH264, clock, events, hangUp, play } from "./signal.js";

const config = JSON.parse(document.getElementById("config").textContent);
// The page's words in the brand's language (catalog/page_words.py), English if missing.
const W = {
  connecting: "Connecting…", back_soon: "The host will be right back…",
  ended: "This show has ended. Thanks for watching!", watch_replay: "Watch the replay",
  not_started: "The show has not started yet. It will play here by itself.",
  starts_in: "Starts in {time}", starting_soon: "Starting soon…", watching: "{n} watching",
  chat_closed: "The chat is closed: the show has ended.",
  banned: "The host has removed you from this chat.",
  state_live: "Live", state_scheduled: "Soon", state_ended: "Ended", state_reconnecting: "Back soon",
  full_retry: "This show is full right now. Trying again in {n} s…",
  connection_problem: "Connection problem. Retrying…", reconnecting: "Reconnecting…",
  no_h264: "This browser cannot play the stream: it has no H.264 video decoder. Try Chrome, Safari, Edge or Firefox with OpenH264 enabled.",
  play_retry: "Could not start playback ({n}). Retrying…",
  cannot_play: "This browser cannot play the stream. Try a recent Chrome, Safari, Edge or Firefox.",
  ...(config.words || {}),
};
const LIVE_STATES = ["live", "reconnecting"];
const ENDED_STATES = ["ended", "published", "unpublished"];
localizeTimes(config.locale);
const video = document.getElementById("video");
const message = document.getElementById("message");
const countdown = document.getElementById("countdown");
const overlay = document.getElementById("overlay");
const badge = document.getElementById("state-badge");
const viewersEl = document.getElementById("viewers");
const unmute = document.getElementById("unmute");
const latencyNote = document.getElementById("latency");

const STALL_MS = 2500; // the program always carries audio: no bytes for this long = stalled
const WEBRTC_GIVE_UP_MS = 6000; // no media by then (UDP blocked?): HLS instead
let state = config.state;
let mode = config.hls && new URLSearchParams(location.search).get("hls") === "1" ? "hls" : "webrtc";
let programStart = config.programStart; // unix s of program pts 0: maps HLS dates to pts
let hlsPlayer = null;
let sessionStartedAt = 0;
let session = null;
let connecting = false;
let retryTimer = null;
let disconnectedSince = null;
let lastBytes = 0;
let lastBytesAt = 0;
let stopFollowing = () => {};
// An embed's Buy links carry its signed viewer id and open the shop in the top window.
const cards = new Cards({ goSuffix: config.goSuffix || "", target: config.buyTarget || "_blank" });
const chat = new ChatList();

// For tests and the curious: what the page is doing.
window.livestudio = {
  get session() { return session; },
  get state() { return state; },
  get mode() { return mode; },
  get hls() { return hlsPlayer; },
  cards,
  recoveries: 0,
};

function say(text) {
  message.textContent = text;
  overlay.hidden = !text && !countdown.textContent;
}

function setState(next) {
  state = next;
  const shown = LIVE_STATES.includes(next) || next === "scheduled" ? next : "ended";
  badge.textContent = W[`state_${shown}`] || next;
  badge.className = `badge state-${shown}`;
  document.body.dataset.state = shown;
  if (next === "live" || next === "reconnecting") {
    countdown.textContent = "";
    if (next === "reconnecting") say(W.back_soon);
    else if (session && session.pc.connectionState === "connected") say("");
    else if (hlsPlayer && !video.paused) say("");
    ensurePlaying();
  } else if (ENDED_STATES.includes(next)) {
    // Ended means ended here too, at once: no picture, no count, no chat.
    stop();
    say(W.ended);
    closeChat(W.chat_closed);
    if (next === "published") showReplayLink();
  } else if (next === "scheduled") {
    say(W.not_started);
  }
  const scheduled = document.getElementById("scheduled");
  if (scheduled) scheduled.hidden = next !== "scheduled";
  showViewers();
}

// "N watching" while the show is on air only: before it starts nobody is watching yet
// ("0 watching" beside a countdown reads as an empty room), after it ends nobody is.
let viewerCount = null;
function showViewers() {
  viewersEl.textContent = LIVE_STATES.includes(state) && viewerCount !== null
    ? fill(W.watching, { n: count(viewerCount, config.locale) })
    : "";
}

/** The chat form stops taking input, saying why (the show ended, or a ban). */
function closeChat(why) {
  window.livestudio.chatClosed = why;
  const form = document.getElementById("chat-form"); // none in an embed without ?chat=1
  if (!form) return;
  for (const el of form.elements) el.disabled = true;
  for (const b of document.querySelectorAll(".reaction")) b.disabled = true;
  form.classList.add("closed");
  const status = document.getElementById("chat-status");
  status.textContent = why;
  status.classList.add("closed");
}

function showReplayLink() {
  if (document.getElementById("replay-link")) return;
  const a = document.createElement("a");
  a.id = "replay-link";
  a.href = config.replayUrl || `/replay/${config.show}`;
  a.textContent = W.watch_replay;
  a.className = "buy";
  message.after(a);
  overlay.hidden = false;
}

function retry(ms) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(ensurePlaying, ms);
}

async function ensurePlaying() {
  if (session || hlsPlayer || connecting || !(state === "live" || state === "reconnecting")) return;
  if (mode === "hls") return startHls();
  if (!canPlayH264()) {
    if (config.hls && await canPlayHls(video)) return switchToHls("no WebRTC H.264 decoder");
    say(W.no_h264);
    return;
  }
  connecting = true;
  let fallback = null;
  if (!session) say(W.connecting);
  try {
    session = await play(config.whep, video, config.iceServers);
    stopFollowing();
    stopFollowing = followLive(video, session, cards);
    lastBytes = 0;
    lastBytesAt = sessionStartedAt = performance.now();
    session.pc.addEventListener("connectionstatechange", check);
    say(state === "reconnecting" ? W.back_soon : "");
  } catch (err) {
    if (err instanceof SignalError) {
      if (err.status === 409) {
        say(err.message.includes("not started") ? W.not_started : W.ended);
      } else if ((err.status === 503 || err.status === 429 || err.status === 422) && config.hls) {
        fallback = `WHEP answered ${err.status}`; // full, or no H.264 in this browser's offer
      } else if (err.status === 503 || err.status === 429) {
        const wait = Math.max(1, err.retryAfter || 5);
        say(fill(W.full_retry, { n: wait }));
        retry(wait * 1000);
      } else if (err.status === 422) {
        say(err.message);
      } else {
        say(fill(W.play_retry, { n: err.status }));
        retry(3000);
      }
    } else {
      say(W.connection_problem);
      retry(2000);
    }
  } finally {
    connecting = false;
  }
  if (fallback) await switchToHls(fallback);
}

// -- HLS: standard latency, for whoever WebRTC cannot serve --------------------------------

function switchToHls(reason) {
  console.info("playing HLS:", reason);
  mode = "hls";
  stop();
  return startHls();
}

async function startHls() {
  if (hlsPlayer || connecting || !(state === "live" || state === "reconnecting")) return;
  connecting = true;
  latencyNote.hidden = false;
  say(W.connecting);
  try {
    const player = await playHls(config.hls, video, {
      lowLatency: config.hlsPartTarget > 0,
      onFatal: (why) => {
        if (hlsPlayer !== player) return;
        console.info("HLS playback stopped:", why);
        stop();
        say(W.connection_problem);
        retry(2000);
      },
    });
    hlsPlayer = player;
    stopFollowing();
    stopFollowing = followHls(video, player, cards, () => programStart);
  } catch (_) {
    say(W.cannot_play);
  } finally {
    connecting = false;
  }
}

video.addEventListener("playing", () => {
  if (hlsPlayer && (message.textContent === W.connecting || message.textContent === W.connection_problem)) say("");
});

function stop() {
  clearTimeout(retryTimer);
  stopFollowing();
  if (hlsPlayer) {
    const old = hlsPlayer;
    hlsPlayer = null;
    old.stop();
  }
  if (!session) return;
  const old = session;
  session = null;
  old.pc.close();
  hangUp(old.location);
}

// Recover without a reload: drop the session (DELETE it) and post a new offer.
function recover(reason) {
  if (!session) return;
  window.livestudio.recoveries += 1;
  console.info("recovering playback:", reason);
  stop();
  disconnectedSince = null;
  if (state === "live" || state === "reconnecting") {
    say(W.reconnecting);
    ensurePlaying();
  }
}

async function check() {
  if (!session) return;
  const pc = session.pc;
  const s = pc.connectionState;
  if (s === "failed" || s === "closed") return recover(`connection ${s}`);
  const transport = pc.getReceivers()[0] && pc.getReceivers()[0].transport;
  if (transport && (transport.state === "closed" || transport.state === "failed")) {
    return recover(`transport ${transport.state}`);
  }
  if (s === "disconnected") {
    disconnectedSince = disconnectedSince || performance.now();
    if (performance.now() - disconnectedSince > 3000) return recover("disconnected > 3 s");
  } else {
    disconnectedSince = null;
  }
  if (config.hls && lastBytes === 0 && performance.now() - sessionStartedAt > WEBRTC_GIVE_UP_MS) {
    return switchToHls(`no media over WebRTC within ${WEBRTC_GIVE_UP_MS / 1000} s (${s})`);
  }
  if (s === "connected") {
    let bytes = 0;
    (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp") bytes += r.bytesReceived || 0; });
    const now = performance.now();
    if (bytes > lastBytes) {
      lastBytes = bytes;
      lastBytesAt = now;
      if (message.textContent === W.connecting || message.textContent === W.reconnecting) say("");
    } else if (now - lastBytesAt > STALL_MS && session && session.pc === pc) {
      return recover("no media");
    }
  } else if (performance.now() - lastBytesAt > 15000 && s !== "connecting" && s !== "new") {
    return recover("never connected");
  }
}
setInterval(check, 500);

unmute.addEventListener("click", () => {
  video.muted = false;
  video.play().catch(() => {});
  unmute.hidden = true;
});
video.addEventListener("volumechange", () => { unmute.hidden = !video.muted; });

// Start times (localizeTimes above) and the countdown in the brand's language, in the
// viewer's own time zone.
const inDays = new Intl.RelativeTimeFormat(config.locale, { numeric: "auto" });

function tickCountdown() {
  if (state !== "scheduled" || !config.startsAt) return;
  const left = (new Date(config.startsAt) - Date.now()) / 1000;
  if (left > 86400) countdown.textContent = fill(W.starts, { when: inDays.format(Math.floor(left / 86400), "day") });
  else countdown.textContent = left > 0 ? fill(W.starts_in, { time: clock(left) }) : W.starting_soon;
  overlay.hidden = false;
}
setInterval(tickCountdown, 1000);
tickCountdown();

const socket = events(config.events, (event) => {
  chat.event(event);
  const status = document.getElementById("chat-status"); // none in an embed without ?chat=1
  if (status && (event.type === "error" || event.type === "held") && !window.livestudio.chatClosed) {
    status.textContent = event.message + (event.retry_after ? ` (wait ${Math.ceil(event.retry_after)} s)` : "");
  }
  if (event.type === "snapshot") cards.snapshot(event);
  if (typeof event.program_start === "number") programStart = event.program_start;
  cards.add(event);
  if (event.type === "snapshot" || event.type === "state") {
    if (event.state && event.state !== state) setState(event.state);
    else if (event.type === "snapshot") setState(event.state || state);
  }
  if (typeof event.viewers === "number") {
    viewerCount = event.viewers;
    showViewers();
  }
  const banned = (event.type === "snapshot" && event.banned)
    || (event.type === "banned" && event.viewer === config.viewerTag)
    || (event.type === "error" && event.code === "banned");
  if (banned) closeChat(W.banned);
});
setState(state);
window.addEventListener("pagehide", stop);

// -- chat and reactions -------------------------------------------------------------------
const form = document.getElementById("chat-form"); // none in an embed without ?chat=1
if (form) form.name.value = localStorage.getItem("livestudio.name") || "";
form?.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = form.name.value.trim();
  const text = form.text.value.trim();
  if (!name || !text || window.livestudio.chatClosed) return;
  localStorage.setItem("livestudio.name", name);
  if (socket.send({ type: "chat", name, text })) {
    form.text.value = "";
    document.getElementById("chat-status").textContent = "";
  } else {
    document.getElementById("chat-status").textContent = W.reconnecting;
  }
});
// A tap floats at once here; taps go to the server in batches (4 frames a second at most,
// however fast the viewer taps) and come back inside everyone's per-second totals, from
// which this page takes out its own (already floated).
const REACTION_BATCH_MS = 250;
const tapped = new Map(); // emoji -> taps not yet sent
const sentOwn = new Map(); // emoji -> taps sent, not yet seen in a total
let tapTimer = null;
function sendTaps() {
  tapTimer = null;
  for (const [emoji, count] of tapped) {
    if (socket.send({ type: "react", emoji, count: Math.min(count, 20) })) {
      sentOwn.set(emoji, (sentOwn.get(emoji) || 0) + count);
    }
  }
  tapped.clear();
}
for (const button of document.querySelectorAll(".reaction")) {
  button.addEventListener("click", () => {
    const emoji = button.dataset.emoji;
    float({ [emoji]: 1 });
    tapped.set(emoji, (tapped.get(emoji) || 0) + 1);
    tapTimer ??= setTimeout(sendTaps, REACTION_BATCH_MS);
  });
}
chat.othersReactions = (counts) => {
  const others = {};
  for (const [emoji, n] of Object.entries(counts)) {
    const own = Math.min(n, sentOwn.get(emoji) || 0);
    sentOwn.set(emoji, (sentOwn.get(emoji) || 0) - own);
    if (n - own > 0) others[emoji] = n - own;
  }
  return others;
};
window.livestudio.chat = chat;
// On a phone the card and the chat form both stick to the bottom of the screen: the CSS
// puts the form on top of the card, whose height (sale, stock lines) it learns here.
const cardBox = document.getElementById("product-card");
if (cardBox && window.ResizeObserver) {
  new ResizeObserver(() => {
    const height = cardBox.hidden ? 0 : cardBox.getBoundingClientRect().height;
    document.documentElement.style.setProperty("--card-height", `${height}px`);
  }).observe(cardBox);
}
