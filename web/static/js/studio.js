// The studio: pick devices, preview, go live over WHIP, watch the health, end the show.
import { ChatList } from "./chat.js";
import { SignalError, clock, events, hangUp, publish } from "./signal.js";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const preview = $("preview");
const cameraSelect = $("camera");
const micSelect = $("microphone");
const goLive = $("go-live");
const endShow = $("end-show");
const status = $("status");

let stream = null;
let session = null;
let wantLive = false; // the host pressed Go live and has not ended the show
let lostSince = null;
let republishing = false;
let wentLiveAt = config.wentLiveAt ? config.wentLiveAt * 1000 : null;
let lastStats = null;

window.livestudio = { get session() { return session; }, get wantLive() { return wantLive; }, republishes: 0 };

function say(text, kind = "") {
  status.textContent = text;
  status.className = `status ${kind}`;
}

function setState(state) {
  $("state-badge").textContent = state;
  $("state-badge").className = `badge state-${state}`;
  $("live-state").textContent = state;
  endShow.disabled = !(state === "live" || state === "reconnecting");
  if (state === "live" && !wentLiveAt) wentLiveAt = Date.now();
  if (state === "live" && $("recording").textContent === "not started") {
    $("recording").textContent = "recording";
  }
  $("delete-show").hidden = state === "live" || state === "reconnecting";
  if (state === "ended" || state === "published") {
    wantLive = false;
    goLive.disabled = true;
    say("The show has ended.");
  }
}

let noMicrophone = false;

async function openDevices() {
  const video = cameraSelect.value ? { deviceId: { exact: cameraSelect.value } } : { width: 1280, height: 720 };
  const audio = micSelect.value ? { deviceId: { exact: micSelect.value } } : true;
  let next;
  try {
    next = await navigator.mediaDevices.getUserMedia({ video, audio });
    noMicrophone = false;
  } catch (err) {
    // A laptop without a (working) microphone can still go live: the server sends
    // silence when the host has no sound. Without a camera there is no show.
    if (!["NotFoundError", "NotReadableError", "OverconstrainedError"].includes(err.name)) throw err;
    next = await navigator.mediaDevices.getUserMedia({ video });
    noMicrophone = true;
  }
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = next;
  preview.srcObject = stream;
  $("no-microphone").hidden = !noMicrophone;
  if (session) {
    // Swap tracks on the live connection: viewers see the new camera without a renegotiation
    // (publish() always sends an audio transceiver, so a microphone plugged in later works).
    for (const transceiver of session.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      const track = stream.getTracks().find((t) => t.kind === kind) || null;
      if (track || kind === "audio") await transceiver.sender.replaceTrack(track);
    }
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [[cameraSelect, "videoinput"], [micSelect, "audioinput"]]) {
    const current = select.value;
    select.replaceChildren();
    devices.filter((d) => d.kind === kind).forEach((d, i) => {
      const option = new Option(d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}`, d.deviceId);
      select.append(option);
    });
    if (current) select.value = current;
  }
}

async function startPublishing() {
  // The studio publishes as the logged-in host (session cookie + CSRF token): the stream
  // key is for OBS and other clients, and the server keeps only its hash.
  session = await publish(config.whip, null, stream, config.iceServers, { "X-CSRF-Token": config.csrf });
  session.pc.addEventListener("connectionstatechange", watchConnection);
}

async function onGoLive() {
  goLive.disabled = true;
  wantLive = true;
  say("Going live…");
  try {
    await startPublishing();
    say("You are live.", "ok");
  } catch (err) {
    wantLive = false;
    goLive.disabled = false;
    say(err instanceof SignalError ? `Could not go live: ${err.message}` : `Could not go live: ${err}`, "error");
  }
}

/** The connection's state, counting a DTLS transport the server closed as failed. */
function linkState() {
  const sender = session.pc.getSenders()[0];
  const dtls = sender && sender.transport ? sender.transport.state : "";
  if (dtls === "closed" || dtls === "failed") return "failed"; // the server hung up
  return session.pc.connectionState;
}

function watchConnection() {
  if (!session || !wantLive) return;
  const s = linkState();
  if (s === "connected") {
    lostSince = null;
    say("You are live.", "ok");
  } else if (s === "failed" || s === "closed" || s === "disconnected") {
    lostSince = lostSince || performance.now();
  }
}

// If the connection drops, publish again by ourselves while the show waits for us (the
// server replaces a publisher that has been silent for 2 s).
async function republishIfLost() {
  if (wantLive && session && !republishing) watchConnection();
  if (!wantLive || !session || republishing || lostSince === null) return;
  const s = linkState();
  const lostFor = performance.now() - lostSince;
  if (s === "connected") { lostSince = null; return; }
  if (s === "disconnected" && lostFor < 3000) return;
  republishing = true;
  window.livestudio.republishes += 1;
  say(`Connection lost: reconnecting (the show waits up to ${Math.round(config.gracePeriod)} s)…`, "warn");
  const old = session;
  old.pc.close();
  try {
    await startPublishing();
    lostSince = null;
    say("Reconnected: you are live again.", "ok");
  } catch (err) {
    session = old; // keep trying from the old (closed) one
    if (err instanceof SignalError && (err.status === 409 || err.status === 401 || err.status === 404)) {
      if (!err.message.includes("already has a live publisher")) {
        wantLive = false;
        say(`Could not reconnect: ${err.message}`, "error");
      }
    }
  } finally {
    republishing = false;
  }
}
setInterval(republishIfLost, 1000);

async function updateStats() {
  if (wentLiveAt) $("elapsed").textContent = clock((Date.now() - wentLiveAt) / 1000);
  if (!session) return;
  const report = await session.pc.getStats();
  let video = null, pair = null;
  report.forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") video = r;
    if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r;
  });
  if (video) {
    const now = performance.now();
    let kbps = 0;
    if (lastStats) kbps = ((video.bytesSent - lastStats.bytes) * 8) / (now - lastStats.at);
    lastStats = { bytes: video.bytesSent, at: now };
    const size = video.frameWidth ? `${video.frameWidth}×${video.frameHeight}` : "–";
    const fps = video.framesPerSecond ? `${Math.round(video.framesPerSecond)} fps` : "";
    $("outgoing").textContent = `${size} ${fps} ${Math.round(kbps)} kbit/s`;
    if (video.qualityLimitationReason && video.qualityLimitationReason !== "none") {
      $("outgoing").textContent += ` (limited by ${video.qualityLimitationReason})`;
    }
  }
  const state = session.pc.connectionState;
  const rtt = pair && pair.currentRoundTripTime ? ` · RTT ${Math.round(pair.currentRoundTripTime * 1000)} ms` : "";
  $("health").textContent = `${state}${rtt}`;
}
setInterval(updateStats, 1000);

async function onEndShow() {
  if (!confirm("End the show for everyone? This cannot be undone.")) return;
  endShow.disabled = true;
  const response = await fetch(`/api/shows/${config.show}/end`, {
    method: "POST",
    headers: { "X-CSRF-Token": config.csrf },
  });
  if (!response.ok) {
    endShow.disabled = false;
    say(`Could not end the show: ${(await response.text()).trim()}`, "error");
    return;
  }
  wantLive = false;
  if (session) { session.pc.close(); hangUp(session.location); session = null; }
  setState("ended");
}

async function onRotateKey() {
  if (!confirm("Make a new stream key? OBS will need the new one; the old one stops working.")) return;
  const response = await fetch(`/api/shows/${config.show}/stream-key`, {
    method: "POST",
    headers: { "X-CSRF-Token": config.csrf },
  });
  if (response.ok) {
    $("stream-key").value = (await response.json()).stream_key;
    $("stream-key-note").textContent = "Copy it now: the key is shown only this once (only its fingerprint is kept).";
    say("New stream key made.", "ok");
  } else {
    say(`Could not rotate the key: ${(await response.text()).trim()}`, "error");
  }
}

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const input = $(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (_) {
      input.type = "text";
      input.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}
$("reveal-key").addEventListener("click", () => {
  const input = $("stream-key");
  input.type = input.type === "password" ? "text" : "password";
  $("reveal-key").textContent = input.type === "password" ? "Reveal" : "Hide";
});
$("rotate-key").addEventListener("click", onRotateKey);
goLive.addEventListener("click", onGoLive);
endShow.addEventListener("click", onEndShow);
cameraSelect.addEventListener("change", () => openDevices().catch((e) => say(`${e}`, "error")));
micSelect.addEventListener("change", () => openDevices().catch((e) => say(`${e}`, "error")));

/** The socket says the recording stopped (in words fit for viewers); the API says why. */
async function showRecordingError(publicText) {
  let why = publicText;
  try {
    const response = await fetch(`/api/shows/${config.show}`);
    if (response.ok) why = (await response.json()).recording_error || why;
  } catch {
    // the socket's words will do
  }
  $("recording").textContent = `stopped: ${why}`;
  say(`Recording stopped: ${why}`, "error");
}

events(config.events, (event) => {
  onAirEvent(event);
  chat.event(event);
  if (event.type === "highlight" || (event.type === "snapshot" && event.question)) {
    $("dismiss-question").disabled = false;
  }
  if (event.type === "highlight_end") $("dismiss-question").disabled = true;
  if (event.type === "recording" && event.error) showRecordingError(event.error);
  if (event.replay) {
    $("unpublish").hidden = false;
    $("download").hidden = false;
    $("recording").replaceChildren("ready · ", Object.assign(document.createElement("a"), { href: event.replay, textContent: "replay" }));
  }
  if (event.state) setState(event.state);
  if (typeof event.viewers === "number") $("viewers").textContent = String(event.viewers);
});

// -- products on air ------------------------------------------------------------------------

const api = (path, options = {}) =>
  fetch(path, { ...options, headers: { "X-CSRF-Token": config.csrf, ...(options.json ? { "Content-Type": "application/json" } : {}), ...(options.headers || {}) }, body: options.json ? JSON.stringify(options.json) : options.body });
let products = [];
let pinned = null;
let clicks = {};
let saleProduct = null;

function renderProducts() {
  const list = $("onair-products");
  list.replaceChildren();
  for (const p of products) {
    const li = document.createElement("li");
    li.dataset.product = p.id;
    if (p.id === pinned) li.classList.add("pinned");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name;
    const info = document.createElement("span");
    info.className = "muted";
    const c = clicks[p.id] || { live: 0, replay: 0 };
    const stock = p.stock === null || p.stock === undefined ? "" : ` · stock ${p.stock}`;
    info.textContent = `${p.price_display}${stock} · ${c.live} clicks`;
    info.dataset.role = "info";
    const actions = document.createElement("span");
    actions.className = "actions";
    const button = (label, handler, cls = "") => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      if (cls) b.className = cls;
      b.addEventListener("click", handler);
      actions.append(b);
      return b;
    };
    button(p.id === pinned ? "Pinned" : "Pin", () => onAir(`/api/shows/${config.show}/pin`, { method: "POST", json: { product: p.id } }));
    button("Flash sale", () => openSale(p), "secondary");
    if (p.stock !== null && p.stock !== undefined) {
      button("−1 stock", () => setStock(p, p.stock - 1), "secondary");
      button("+1 stock", () => setStock(p, p.stock + 1), "secondary");
    }
    li.append(name, info, actions);
    list.append(li);
  }
  if (!products.length) {
    const li = document.createElement("li");
    li.textContent = "No products in this show's running order yet.";
    list.append(li);
  }
  $("unpin").disabled = pinned === null;
}

async function loadProducts() {
  const r = await api(`/api/shows/${config.show}/products`);
  if (r.ok) {
    const body = await r.json();
    products = (body.products || []).filter((p) => !p.deleted_at);
    renderProducts();
  }
}

async function loadClicks() {
  const r = await api(`/api/shows/${config.show}/clicks`);
  if (r.ok) {
    clicks = (await r.json()).clicks;
    renderProducts();
  }
}

async function onAir(path, options) {
  const r = await api(path, options);
  if (!r.ok) say(`${(await r.text()).trim()}`, "error");
  return r;
}

async function setStock(product, stock) {
  if (stock < 0) return;
  const r = await onAir(`/api/products/${product.id}`, { method: "PATCH", json: { stock } });
  if (r.ok) { product.stock = stock; renderProducts(); }
}

function openSale(product) {
  saleProduct = product;
  $("sale-product").textContent = `${product.name} (now ${product.price_display})`;
  $("sale-form").hidden = false;
  $("sale-form").price.focus();
}

$("sale-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("sale-form");
  const r = await onAir(`/api/shows/${config.show}/sale`, {
    method: "POST",
    json: { product: saleProduct.id, price: form.price.value.trim(), seconds: Number(form.seconds.value) },
  });
  if (r.ok) { form.hidden = true; say("Flash sale on air.", "ok"); }
});
$("sale-cancel").addEventListener("click", () => { $("sale-form").hidden = true; });
$("unpin").addEventListener("click", () => onAir(`/api/shows/${config.show}/pin`, { method: "DELETE" }));

function onAirEvent(event) {
  if (event.type === "pin" || event.type === "sale") pinned = event.product;
  if (event.type === "unpin") pinned = null;
  if (event.type === "snapshot" && event.card) pinned = event.card.id;
  if (event.card) {
    const p = products.find((x) => x.id === event.card.id);
    if (p && event.card.stock !== undefined) p.stock = event.card.stock;
  }
  if (["pin", "unpin", "sale", "sale_end", "stock", "snapshot"].includes(event.type)) renderProducts();
}
loadProducts();
setInterval(loadClicks, 3000);

// -- chat moderation --------------------------------------------------------------------------

function modButton(li, label, handler) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "mod secondary";
  b.textContent = label;
  b.addEventListener("click", handler);
  li.append(b);
}

const chat = new ChatList({
  moderation: (li, message) => {
    modButton(li, "Highlight", () => onAir(`/api/shows/${config.show}/highlight`, { method: "POST", json: { message: message.id } }));
    modButton(li, "Delete", () => onAir(`/api/shows/${config.show}/chat/${message.id}`, { method: "DELETE" }));
    modButton(li, "Ban", async () => {
      if (!confirm(`Ban ${message.name} from this chat (and your next shows)?`)) return;
      await onAir(`/api/shows/${config.show}/chat/${message.id}/ban`, { method: "POST" });
      loadBans();
    });
    modButton(li, "Ban address 1 h", async () => {
      if (!confirm(`Ban ${message.name}, and for an hour everyone at their address (a café, an office, a mobile network can share one)?`)) return;
      await onAir(`/api/shows/${config.show}/chat/${message.id}/ban`, { method: "POST", json: { address_minutes: 60 } });
      loadBans();
    });
  },
});
window.livestudio.chat = chat;
$("dismiss-question").addEventListener("click", () => onAir(`/api/shows/${config.show}/highlight`, { method: "DELETE" }));

async function loadChatSettings() {
  const r = await api(`/api/shows/${config.show}/chat/settings`);
  if (!r.ok) return;
  const s = await r.json();
  const form = $("chat-settings");
  form.slow_mode.value = s.slow_mode;
  form.blocked_words.value = s.blocked_words.join(", ");
  form.blocked_mode.value = s.blocked_mode;
}
$("chat-settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("chat-settings");
  const words = form.blocked_words.value.split(",").map((w) => w.trim()).filter(Boolean);
  const r = await onAir(`/api/shows/${config.show}/chat/settings`, {
    method: "PUT",
    json: { slow_mode: Number(form.slow_mode.value), blocked_words: words, blocked_mode: form.blocked_mode.value },
  });
  if (r.ok) say("Chat settings saved.", "ok");
});

async function loadHeld() {
  const r = await api(`/api/shows/${config.show}/chat/held`);
  if (!r.ok) return;
  const list = $("held");
  list.replaceChildren();
  for (const m of (await r.json()).held) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = m.name;
    li.append(name, " ", m.text);
    modButton(li, "Approve", async () => { await onAir(`/api/shows/${config.show}/chat/held/${m.id}/approve`, { method: "POST" }); loadHeld(); });
    list.append(li);
  }
}
async function loadBans() {
  const r = await api("/api/chat/bans");
  if (!r.ok) return;
  const list = $("bans");
  list.replaceChildren();
  for (const ban of (await r.json()).bans) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = ban.name;
    const when = new Date(ban.at * 1000).toLocaleString();
    const address = ban.address_until && ban.address_until * 1000 > Date.now()
      ? ` · address too, until ${new Date(ban.address_until * 1000).toLocaleTimeString()}` : "";
    li.append(name, ` · ${ban.show === config.show ? "in this show" : "in another show"} · ${when}${address}`);
    modButton(li, "Lift ban", async () => {
      if ((await onAir(`/api/chat/bans/${ban.id}`, { method: "DELETE" })).ok) loadBans();
    });
    list.append(li);
  }
}
loadChatSettings();
loadBans();
setInterval(loadHeld, 5000);

// -- destinations: restream to the platforms, push over WHIP ---------------------------------

// The server URLs the platforms hand out (with the key); the others change per stream.
const PRESETS = {
  youtube: { url: "rtmps://a.rtmps.youtube.com:443/live2", hint: "YouTube Studio → Go live → Stream: copy the stream key." },
  facebook: { url: "rtmps://live-api-s.facebook.com:443/rtmp/", hint: "Live Producer → Streaming software: copy the stream key." },
  instagram: { url: "", hint: "Instagram Live Producer shows a server URL and a stream key for each stream: paste both." },
  twitch: { url: "rtmp://live.twitch.tv/app", hint: "Twitch dashboard → Settings → Stream: copy the primary stream key." },
  tiktok: { url: "", hint: "TikTok LIVE Center shows a server URL and a stream key for each stream: paste both." },
  rtmp: { url: "", hint: "rtmp:// or rtmps:// server URL; the key is the stream name." },
  whip: { url: "", key: "Bearer token", hint: "The WHIP endpoint (https://…); the token is sent as Authorization: Bearer (leave empty if none)." },
};
const destinationPreset = $("destination-preset");
function applyPreset() {
  const preset = PRESETS[destinationPreset.value];
  $("destination-url").value = preset.url;
  $("destination-url").placeholder = preset.url ? "" : (destinationPreset.value === "whip" ? "https://sfu.example/whip/room" : "rtmps://…");
  $("destination-key-label").textContent = preset.key || "Stream key";
  $("destination-hint").textContent = preset.hint;
}
destinationPreset.addEventListener("change", applyPreset);
applyPreset();

const DESTINATION_WORDS = {
  idle: "starts when the show is live",
  connecting: "connecting…",
  live: "live",
  retrying: "reconnecting",
  failed: "failed: fix it, then remove and add it again",
};

function renderDestinations(list) {
  const ul = $("destinations");
  ul.replaceChildren();
  for (const d of list) {
    const li = document.createElement("li");
    li.dataset.destination = d.id;
    li.dataset.state = d.state;
    const where = document.createElement("span");
    where.className = "where";
    const badge = document.createElement("span");
    badge.className = `badge state-${d.state}`;
    badge.textContent = d.state;
    where.append(badge, " ", d.url, d.has_key ? " · key set" : "");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    remove.addEventListener("click", async () => {
      const r = await api(`/api/shows/${config.show}/destinations/${d.id}`, { method: "DELETE" });
      if (!r.ok && r.status !== 404) { say((await r.text()).trim(), "error"); return; }
      loadDestinations();
    });
    const why = document.createElement("span");
    why.className = "why muted";
    let text = DESTINATION_WORDS[d.state] || d.state;
    if (d.state === "retrying" && d.next_attempt_at) {
      text += ` in ${Math.max(0, Math.round(d.next_attempt_at - Date.now() / 1000))} s`;
    }
    if (d.error) text += ` · last error: ${d.error}`;
    why.textContent = text;
    li.append(where, remove, why);
    ul.append(li);
  }
}

async function loadDestinations() {
  const r = await api(`/api/shows/${config.show}/destinations`);
  if (r.ok) renderDestinations((await r.json()).destinations);
}

$("destination-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const r = await api(`/api/shows/${config.show}/destinations`, {
    method: "POST",
    json: { url: form.url.value.trim(), key: form.key.value.trim() },
  });
  if (!r.ok) { say((await r.text()).trim(), "error"); return; }
  form.key.value = ""; // write-only: the server never shows it back
  applyPreset();
  say("Destination added.", "ok");
  loadDestinations();
});
loadDestinations();
// The states come from the API, not the viewers' public events socket: they name the
// brand's servers and their errors.
setInterval(loadDestinations, 2000);

// -- the replay: publish, unpublish, delete ----------------------------------------------------

async function replayAction(path, method, done) {
  const r = await fetch(path, { method, headers: { "X-CSRF-Token": config.csrf } });
  if (!r.ok) { say((await r.text()).trim(), "error"); return; }
  done(r);
}
$("publish").addEventListener("click", () => replayAction(`/api/shows/${config.show}/publish`, "POST", () => {
  $("publish").hidden = true; $("unpublish").hidden = false; setState("published"); say("The replay is public.", "ok");
}));
$("unpublish").addEventListener("click", () => replayAction(`/api/shows/${config.show}/unpublish`, "POST", () => {
  $("unpublish").hidden = true; $("publish").hidden = false; setState("unpublished"); say("The replay is hidden.", "ok");
}));
$("delete-show").addEventListener("click", () => {
  if (!confirm("Delete this show, its recording and its chat? This cannot be undone.")) return;
  replayAction(`/api/shows/${config.show}`, "DELETE", () => { location.href = "/studio"; });
});

async function init() {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    $("insecure").hidden = false;
    $("insecure-origin").textContent = location.origin;
    say("The camera needs HTTPS (see above).", "error");
    return;
  }
  if (config.state === "ended" || config.state === "published" || config.state === "unpublished") {
    say("This show has ended.");
    return;
  }
  try {
    await openDevices();
    await listDevices();
    goLive.disabled = false;
    say(noMicrophone
      ? "Ready, without sound: no microphone was found. Check your camera, then press Go live."
      : "Ready. Check your camera and sound, then press Go live.");
  } catch (err) {
    say(`Camera unavailable: ${err.name || err}. Allow access in the browser and reload.`, "error");
  }
}
init();
