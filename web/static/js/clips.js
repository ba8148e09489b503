// The studio's clips page: a clip per chapter in one click (plain or vertical 9:16), the
// progress of vertical ones, trimming start and end, sharing and deleting. Text from the
// API only ever becomes text nodes (catalog.js `h`).
import { api, config, h, say } from "./catalog.js";

const $ = (id) => document.getElementById(id);
const status = $("clips-status");
let polling = null;

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  const rest = (s - m * 60).toFixed(1).padStart(4, "0");
  return `${m}:${rest}`;
}

async function act(what, call) {
  say(status, `${what}…`);
  try {
    const answer = await call();
    say(status, `${what}: done.`, "ok");
    return answer;
  } catch (err) {
    say(status, `${what}: ${err.message}`, "error");
    return null;
  } finally {
    await refresh();
  }
}

function chapterItem(chapter) {
  const make = (kind, label) => h("button", {
    type: "button",
    className: kind === "plain" ? "make-clip" : "secondary make-vertical",
    dataset: { chapter: String(chapter.index), kind },
    onclick: () => act(`Making a ${kind === "plain" ? "" : "vertical "}clip of ${chapter.title}`, () =>
      api(config.api, { method: "POST", json: { chapter: chapter.index, kind } })),
  }, label);
  return h(
    "li",
    { dataset: { chapter: String(chapter.index) } },
    h("span", { className: "time" }, `${clock(chapter.start)} – ${clock(chapter.end)}`),
    h("span", { className: "title" }, chapter.title || `Product ${chapter.product}`),
    make("plain", "Make clip"),
    make("vertical", "Vertical 9:16"),
  );
}

function trimForm(clip) {
  const start = h("input", { type: "number", name: "start", step: "any", min: "0", value: String(clip.start) });
  const end = h("input", { type: "number", name: "end", step: "any", min: "0", value: String(clip.end) });
  const form = h(
    "form",
    { className: "trim" },
    h("label", {}, "Start (s) ", start),
    h("label", {}, "End (s) ", end),
    h("button", { type: "submit", className: "secondary" }, "Trim"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(`Trimming ${clip.title}`, () => api(`/api/clips/${clip.id}`, {
      method: "PATCH", json: { start: Number(start.value), end: Number(end.value) },
    }));
  });
  return form;
}

function clipItem(clip) {
  const ready = clip.status === "ready";
  const state = ready
    ? h("span", { className: "badge state-published" }, "ready")
    : clip.status === "working"
      ? h("progress", { max: 1, value: clip.progress, title: `${Math.round(clip.progress * 100)} %` })
      : h("span", { className: "badge error", title: clip.error || "" }, "failed");
  return h(
    "li",
    { dataset: { clip: String(clip.id), status: clip.status, kind: clip.kind } },
    ready ? h("video", { src: clip.video_url, poster: clip.poster_url, controls: true, preload: "metadata", playsInline: true }) : null,
    h(
      "span",
      { className: "title" },
      h("strong", {}, clip.title),
      " ",
      h("span", { className: "badge" }, clip.kind === "vertical" ? "9:16" : "16:9"),
      h("br"),
      h("span", { className: "time" }, ready
        ? `${clock(clip.cut_start)} – ${clock(clip.cut_end)} (${clock(clip.duration)})`
        : `${clock(clip.start)} – ${clock(clip.end)}`),
      clip.error ? h("span", { className: "error" }, ` ${clip.error}`) : null,
    ),
    state,
    trimForm(clip),
    h(
      "span",
      { className: "actions" },
      ready ? h("a", { href: clip.page_url, className: "share", target: "_blank" }, "Share page") : null,
      ready ? h("a", { href: clip.download_url }, "Download") : null,
      h("button", {
        type: "button", className: "danger delete",
        onclick: () => { if (confirm(`Delete the clip “${clip.title}”?`)) act("Deleting", () => api(`/api/clips/${clip.id}`, { method: "DELETE" })); },
      }, "Delete"),
    ),
  );
}

async function refresh() {
  let data;
  try {
    data = await api(config.api);
  } catch (err) {
    say(status, err.message, "error");
    return;
  }
  $("chapters").replaceChildren(...data.chapters.map(chapterItem));
  $("no-chapters").hidden = data.chapters.length > 0;
  $("no-chapters").textContent = data.unavailable || "This show has no product chapters (nothing was pinned).";
  // Rebuild only the clips that changed (a preview keeps playing, a trim being typed keeps
  // its text); a vertical clip's progress moves its bar in place.
  const list = $("clips");
  const items = data.clips.map((clip) => {
    const key = JSON.stringify([clip.status, clip.version, clip.start, clip.end, clip.error]);
    const old = list.querySelector(`li[data-clip="${clip.id}"]`);
    if (old && old.dataset.key === key) {
      const bar = old.querySelector("progress");
      if (bar) bar.value = clip.progress;
      return old;
    }
    const item = clipItem(clip);
    item.dataset.key = key;
    return item;
  });
  if (items.length !== list.children.length || items.some((item, i) => list.children[i] !== item)) {
    list.replaceChildren(...items);
  }
  $("no-clips").hidden = data.clips.length > 0;
  const working = data.clips.some((c) => c.status === "working");
  if (working && !polling) polling = setInterval(refresh, 1000);
  if (!working && polling) { clearInterval(polling); polling = null; }
}

window.livestudio = { refresh };
refresh();
