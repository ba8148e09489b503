// Playing a live show over HLS when WebRTC cannot: hls.js (loaded on demand, so pages
// that play WebRTC never download it) where Media Source Extensions exist, the browser's
// own HLS elsewhere (iOS Safari without MSE).

const HLS_JS = "/static/vendor/hls.js/hls.light.min.js";
let loading = null;

/** window.Hls, loading the vendored hls.js once; null if it cannot load. */
export function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  loading ??= new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = HLS_JS;
    script.onload = () => resolve(window.Hls || null);
    script.onerror = () => { loading = null; resolve(null); };
    document.head.append(script);
  });
  return loading;
}

/** True if this browser can play HLS one way or the other. */
export async function canPlayHls(video) {
  const Hls = await loadHlsJs();
  return Boolean((Hls && Hls.isSupported()) || video.canPlayType("application/vnd.apple.mpegurl"));
}

/**
 * Play the live playlist at `url` in `video`. Returns {kind, hls, date(), stop()}: date()
 * is the program date-time (EXT-X-PROGRAM-DATE-TIME) of what is on screen, or null.
 * `onFatal` is called once when playback cannot go on (the caller retries).
 */
export async function playHls(url, video, { lowLatency = true, onFatal = () => {} } = {}) {
  const Hls = await loadHlsJs();
  video.srcObject = null; // a WebRTC stream would win over the HLS source
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({
      lowLatencyMode: lowLatency,
      backBufferLength: 30,
      // After a stall, play up to 1.5x until back at the live sync point (the default, 1,
      // leaves the viewer that much further behind for the rest of the show).
      maxLiveSyncPlaybackRate: 1.5,
      // The playlist answers 404 for a moment at the very start of a show.
      manifestLoadPolicy: {
        default: {
          maxTimeToFirstByteMs: 10000,
          maxLoadTimeMs: 20000,
          timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
          errorRetry: { maxNumRetry: 4, retryDelayMs: 1000, maxRetryDelayMs: 4000 },
        },
      },
    });
    let failed = false;
    let mediaRecoveries = 0;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || failed) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
        mediaRecoveries += 1;
        hls.recoverMediaError();
        return;
      }
      failed = true;
      onFatal(data.details || data.type);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => {});
    return {
      kind: "hls.js",
      hls,
      date: () => hls.playingDate || null,
      stop() {
        hls.destroy();
        video.removeAttribute("src");
        video.load();
      },
    };
  }
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    const fail = () => onFatal("native playback error");
    video.addEventListener("error", fail);
    video.src = url;
    video.play().catch(() => {});
    return {
      kind: "native",
      hls: null,
      date: () => {
        // Safari: getStartDate() is the program date-time of currentTime 0.
        const start = video.getStartDate ? video.getStartDate().getTime() : NaN;
        return Number.isNaN(start) ? null : new Date(start + video.currentTime * 1000);
      },
      stop() {
        video.removeEventListener("error", fail);
        video.removeAttribute("src");
        video.load();
      },
    };
  }
  throw new Error("this browser cannot play HLS");
}
