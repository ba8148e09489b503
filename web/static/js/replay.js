// The replay page: HLS (native on Safari/iOS, hls.js elsewhere), chapters that seek.
const config = JSON.parse(document.getElementById("config").textContent);
const video = document.getElementById("video");

window.livestudio = { hls: null, ready: false };

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

for (const button of document.querySelectorAll(".chapter")) {
  button.addEventListener("click", () => {
    video.currentTime = Number(button.dataset.seconds);
    video.play().catch(() => {});
  });
}

attach();
