// The replay page: HLS (native on Safari/iOS, hls.js elsewhere), chapters that seek, and
// the product card appearing and disappearing at the same moments as live.
import { Cards } from "./cards.js";
import { ChatList } from "./chat.js";
import { localizeTimes } from "./intl.js";

const config = JSON.parse(document.getElementById("config").textContent);
localizeTimes(config.locale);
const video = document.getElementById("video");
// An embed's Buy links carry its signed viewer id and open the shop in the top window.
const cards = new Cards({ goSuffix: config.goSuffix || "?from=replay", target: config.buyTarget || "_blank" });
// The same on-air events as live, in program pts (the recording's timeline).
const timeline = config.events
  .filter((e) => ["pin", "unpin", "sale", "sale_end", "stock"].includes(e.kind))
  .map((e) => ({ type: e.kind, pts: Math.round(e.seconds * 90000), card: e.data.card || null }))
  .sort((a, b) => a.pts - b.pts);

// Chat plays back in step: a message appears when playback passes the moment it was sent.
const chat = new ChatList();
const messages = config.chat.slice().sort((a, b) => a.seconds - b.seconds || a.id - b.id);
let shown = 0;
function chatAt(seconds, rebuild = false) {
  if (rebuild) { chat.clear(); shown = 0; }
  while (shown < messages.length && messages[shown].seconds <= seconds) chat.add(messages[shown++]);
}

window.livestudio = { hls: null, ready: false, cards, chat };

function attach() {
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = config.playlist; // Safari, iOS: native HLS
  } else if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({ enableWorker: true });
    hls.loadSource(config.playlist);
    hls.attachMedia(video);
    window.livestudio.hls = hls;
  } else {
    video.src = `/replay/${config.show}/download`; // last resort: the MP4
  }
  video.addEventListener("loadedmetadata", () => { window.livestudio.ready = true; });
}

const pts = () => Math.round(video.currentTime * 90000);
video.addEventListener("seeked", () => { cards.seek(pts(), timeline); chatAt(video.currentTime, true); });
video.addEventListener("timeupdate", () => { cards.at(pts()); chatAt(video.currentTime); });
if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
  const onFrame = (_now, meta) => {
    cards.at(Math.round(meta.mediaTime * 90000));
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}
cards.seek(0, timeline);

for (const button of document.querySelectorAll(".chapter")) {
  button.addEventListener("click", () => {
    video.currentTime = Number(button.dataset.seconds);
    video.play().catch(() => {});
  });
}

attach();
