// The studio: pick devices, preview, go live over WHIP, watch the health, end the show.
import { ChatList } from "./chat.js";
import { ProgramPreview } from "./program_preview.js";
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
let ended = ["ended", "published", "unpublished"].includes(config.state);
let endedAt = null;
const program = new ProgramPreview($("program"), config.whep, config.iceServers);

window.livestudio = {
  get session() { return session; }, get wantLive() { return wantLive; }, republishes: 0,
  get stream() { return stream; }, get ended() { return ended; }, program,
};

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
  $("orientation").disabled = state !== "scheduled";
  if (state === "live" || state === "reconnecting") startProgramIfShown();
  if (state === "ended" || state === "published" || state === "unpublished") endHere();
}

/** Ended means ended here too, at once: publisher, camera and microphone off, clocks and
 * stats stopped, on-air controls off, the program preview closed. */
function endHere() {
  const first = !ended;
  ended = true;
  wantLive = false;
  goLive.disabled = true;
  endShow.disabled = true;
  if (session) {
    const old = session;
    session = null;
    old.pc.close();
    hangUp(old.location);
  }
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  preview.srcObject = null;
  program.stop();
  if (first && wentLiveAt) endedAt = Date.now();
  cameraSelect.disabled = micSelect.disabled = true;
  $("outgoing").textContent = "–";
  $("health").textContent = "ended";
  $("viewers").textContent = "–";
  $("program-delay").textContent = "";
  $("ended-banner").hidden = false;
  document.body.classList.add("show-ended");
  pinned = null;
  sale = null;
  $("dismiss-question").hidden = true;
  renderProducts();
  say("The show has ended.");
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
  if (wentLiveAt) $("elapsed").textContent = clock(((endedAt || Date.now()) - wentLiveAt) / 1000);
  showDelay();
  renderSaleClock();
  if (!session || ended) return;
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
  if (!session || ended) return; // ended while the stats were read
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
  // "Dismiss question" only while one is on air.
  if (event.type === "highlight" || (event.type === "snapshot" && event.question)) {
    $("dismiss-question").hidden = ended;
  }
  if (event.type === "highlight_end" || (event.type === "snapshot" && !event.question)) {
    $("dismiss-question").hidden = true;
  }
  if (typeof event.program_start === "number") program.programStart = event.program_start;
  if (event.type === "recording" && event.error) showRecordingError(event.error);
  if (event.replay) {
    $("unpublish").hidden = false;
    $("download").hidden = false;
    $("recording").replaceChildren("ready · ", Object.assign(document.createElement("a"), { href: event.replay, textContent: "replay" }));
  }
  if (event.state) setState(event.state);
  if (typeof event.viewers === "number" && !ended) $("viewers").textContent = String(event.viewers);
});

// -- products on air ------------------------------------------------------------------------

const api = (path, options = {}) =>
  fetch(path, { ...options, headers: { "X-CSRF-Token": config.csrf, ...(options.json ? { "Content-Type": "application/json" } : {}), ...(options.headers || {}) }, body: options.json ? JSON.stringify(options.json) : options.body });
let products = [];
let pinned = null;
let clicks = {};
let saleProduct = null;
let sale = null; // the running flash sale: {product, price, ends_at (unix s)}
const onAirOpen = () => !ended;

/** The stock a product's row shows in its clicks line. */
function infoText(p) {
  const c = clicks[p.id] || { live: 0, replay: 0 };
  const tracked = p.stock !== null && p.stock !== undefined;
  return `${p.price_display}${tracked ? ` · stock ${p.stock}` : " · stock not tracked"} · ${c.live} clicks`;
}

function renderProducts() {
  const list = $("onair-products");
  // A number being typed into a stock field survives the redraw (events come any time).
  const typing = {};
  for (const input of list.querySelectorAll(".stock-form input")) {
    if (input.dataset.typed) typing[input.closest("li").dataset.product] = input.value;
  }
  const focused = document.activeElement && document.activeElement.closest
    ? document.activeElement.closest("#onair-products li") : null;
  const focusedId = focused && document.activeElement.matches("input") ? focused.dataset.product : null;
  list.replaceChildren();
  for (const p of products) {
    const li = document.createElement("li");
    li.dataset.product = p.id;
    if (p.id === pinned) li.classList.add("pinned");
    const onSale = sale && sale.product === p.id;
    if (onSale) li.classList.add("on-sale");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name;
    const info = document.createElement("span");
    info.className = "muted";
    const tracked = p.stock !== null && p.stock !== undefined;
    info.textContent = infoText(p);
    info.dataset.role = "info";
    const actions = document.createElement("span");
    actions.className = "actions";
    const button = (label, handler, cls = "") => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      if (cls) b.className = cls;
      b.disabled = !onAirOpen();
      b.addEventListener("click", handler);
      actions.append(b);
      return b;
    };
    const pin = button(p.id === pinned ? "Pinned" : "Pin", () => onAir(`/api/shows/${config.show}/pin`, { method: "POST", json: { product: p.id } }));
    pin.dataset.role = "pin";
    if (p.id === pinned) pin.setAttribute("aria-pressed", "true");
    li.append(name, info);
    if (onSale) {
      // The running sale, as viewers see it: sale price, old price struck, time left.
      const row = document.createElement("span");
      row.className = "sale-now";
      row.dataset.role = "sale-now";
      const price = document.createElement("strong");
      price.textContent = `Flash sale ${sale.price}`;
      const was = document.createElement("s");
      was.className = "muted";
      was.textContent = p.price_display;
      const left = document.createElement("span");
      left.className = "sale-clock";
      left.dataset.role = "sale-clock";
      row.append(price, " ", was, " · ", left);
      li.append(row);
      button("End sale", () => onAir(`/api/shows/${config.show}/sale`, { method: "DELETE" }), "danger").dataset.role = "end-sale";
    } else {
      button("Flash sale", () => openSale(p), "secondary").dataset.role = "sale";
    }
    if (tracked) {
      button("−1", () => setStock(p, p.stock - 1), "secondary").setAttribute("aria-label", "−1 stock");
      button("+1", () => setStock(p, p.stock + 1), "secondary").setAttribute("aria-label", "+1 stock");
    }
    // Stock set to a number, also for a product that did not track it.
    const form = document.createElement("form");
    form.className = "stock-form";
    const input = document.createElement("input");
    input.type = "number";
    input.min = "0";
    input.max = "1000000000";
    input.name = "stock";
    input.placeholder = "units";
    input.setAttribute("aria-label", `Stock of ${p.name}`);
    input.value = tracked ? String(p.stock) : "";
    if (String(p.id) in typing) { input.value = typing[p.id]; input.dataset.typed = "1"; }
    input.addEventListener("input", () => { input.dataset.typed = "1"; });
    const set = document.createElement("button");
    set.type = "submit";
    set.className = "secondary";
    set.textContent = tracked ? "Set stock" : "Track stock";
    form.append(input, set);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const n = Number(input.value);
      if (input.value.trim() === "" || !Number.isInteger(n) || n < 0) { say("Stock is a whole number, 0 or more.", "error"); return; }
      setStock(p, n);
    });
    actions.append(form);
    li.append(actions);
    list.append(li);
    if (String(p.id) === focusedId) input.focus();
  }
  if (!products.length) {
    const li = document.createElement("li");
    li.textContent = "No products in this show's running order yet.";
    list.append(li);
  }
  $("unpin").disabled = pinned === null || !onAirOpen();
  renderSaleClock();
}

/** The running sale's time left, every second. */
function renderSaleClock() {
  const el = document.querySelector('[data-role="sale-clock"]');
  if (!el || !sale) return;
  const left = Math.max(0, sale.ends_at - Date.now() / 1000);
  el.textContent = `ends in ${clock(left)}`;
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
    // Only the counts change: the rows (and anything typed into them) stay.
    for (const p of products) {
      const info = document.querySelector(`#onair-products li[data-product="${p.id}"] [data-role=info]`);
      if (info) info.textContent = infoText(p);
    }
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
  if (r.ok) { product.stock = stock; renderProducts(); say(`Stock of ${product.name}: ${stock}.`, "ok"); }
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
    // The price as the brand's locale writes it ("24,90" in de_DE).
    headers: { "X-Price-Format": "locale" },
    json: { product: saleProduct.id, price: form.price.value.trim(), seconds: Number(form.seconds.value) },
  });
  if (r.ok) { form.hidden = true; say("Flash sale on air.", "ok"); }
});
$("sale-cancel").addEventListener("click", () => { $("sale-form").hidden = true; });
$("unpin").addEventListener("click", () => onAir(`/api/shows/${config.show}/pin`, { method: "DELETE" }));

function onAirEvent(event) {
  if (event.type === "pin" || event.type === "sale") pinned = event.product;
  if (event.type === "unpin") { pinned = null; sale = null; }
  if (event.type === "snapshot") {
    pinned = event.card ? event.card.id : null;
    sale = event.sale || null;
  }
  if (event.type === "sale") sale = event.sale || null;
  if (event.type === "sale_end") {
    sale = null;
    if (event.early) say("Flash sale ended.", "ok");
  }
  if (event.type === "pin" && sale && sale.product !== event.product) sale = null;
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
    // A ban and removing the viewer's messages are two choices; the host reads what
    // each did (how many messages went, whether their question left the screen).
    modButton(li, "Ban", () => ban(message, { remove_messages: false },
      `Ban ${message.name} from this chat (and your next shows)? Their messages stay.`));
    modButton(li, "Ban + remove messages", () => ban(message, { remove_messages: true },
      `Ban ${message.name} and remove all their messages (and their question, if it is on screen)?`));
    modButton(li, "Ban address 1 h", () => ban(message, { address_minutes: 60, remove_messages: false },
      `Ban ${message.name}, and for an hour everyone at their address (a café, an office, a mobile network can share one)? Their messages stay.`));
  },
});
window.livestudio.chat = chat;

async function ban(message, body, question) {
  if (!confirm(question)) return;
  const r = await onAir(`/api/shows/${config.show}/chat/${message.id}/ban`, { method: "POST", json: body });
  if (!r.ok) return;
  const done = await r.json();
  const parts = [`Banned ${done.banned}: they can no longer post.`];
  if (body.address_minutes) parts.push(`Their address is barred for ${body.address_minutes} min.`);
  parts.push(done.removed ? `${done.removed} message${done.removed === 1 ? "" : "s"} removed.` : "Their messages stay.");
  if (done.question_dismissed) parts.push("Their question was taken off the screen.");
  say(parts.join(" "), "ok");
  loadBans();
}
$("dismiss-question").addEventListener("click", () => onAir(`/api/shows/${config.show}/highlight`, { method: "DELETE" }));

// -- the program preview: camera, program (what viewers see) or both -----------------------

let view = "camera";
const programShown = () => view === "program" || view === "both";
function startProgramIfShown() {
  if (!programShown() || ended || !["live", "reconnecting"].includes($("live-state").textContent)) return;
  $("program-note").textContent = "connecting…";
  program.start().then(() => { $("program-note").textContent = ""; }).catch((err) => {
    $("program-note").textContent = err instanceof SignalError ? err.message : "unavailable";
  });
}
function showDelay() {
  const delay = program.delay();
  $("program-delay").textContent = delay === null ? "" : `Viewers see you ${delay.toFixed(1)} s later`;
}
for (const b of document.querySelectorAll("[data-view]")) {
  if (b.tagName !== "BUTTON") continue;
  b.addEventListener("click", () => {
    view = b.dataset.view;
    $("monitors").dataset.view = view;
    for (const other of document.querySelectorAll("button[data-view]")) {
      other.setAttribute("aria-pressed", String(other === b));
    }
    if (programShown()) startProgramIfShown();
    else program.stop();
    if (!programShown()) $("program-delay").textContent = "";
  });
}
$("orientation").addEventListener("change", async () => {
  const r = await onAir(`/api/shows/${config.show}`, { method: "PATCH", json: { orientation: $("orientation").value } });
  if (r.ok) {
    const portrait = $("orientation").value === "portrait";
    document.querySelector(".program-monitor").classList.toggle("portrait", portrait);
    say(portrait ? "Portrait program: 9:16 for phones, cropped from the centre of your camera." : "Landscape program: 16:9.", "ok");
  }
});

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
  for (const entry of (await r.json()).bans) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = entry.name;
    const when = new Date(entry.at * 1000).toLocaleString();
    const address = entry.address_until && entry.address_until * 1000 > Date.now()
      ? ` · address too, until ${new Date(entry.address_until * 1000).toLocaleTimeString()}` : "";
    li.append(name, ` · ${entry.show === config.show ? "in this show" : "in another show"} · ${when}${address}`);
    modButton(li, "Lift ban", async () => {
      if ((await onAir(`/api/chat/bans/${entry.id}`, { method: "DELETE" })).ok) loadBans();
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
