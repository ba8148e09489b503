// What the catalog pages share: the JSON API with the page's CSRF token, and building DOM
// from data. Product text only ever becomes text nodes (never HTML), so a name such as
// "<b>chair</b>" shows as typed.

export const config = JSON.parse(document.getElementById("config").textContent);

/** An API answer that was not 2xx: `message` is for the host, `body` the parsed answer. */
export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Call the JSON API as the logged-in host; resolves to the parsed answer (null for 204). */
export async function api(path, { method = "GET", json, body } = {}) {
  const headers = {};
  if (method !== "GET") {
    headers["X-CSRF-Token"] = config.csrf;
    headers["X-Price-Format"] = "locale"; // prices as the brand's locale writes them (24,90)
  }
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  } catch (_) {
    throw new ApiError(0, "The server could not be reached: check the connection and try again.");
  }
  if (response.status === 204) return null;
  const isJson = (response.headers.get("Content-Type") || "").includes("application/json");
  const payload = isJson ? await response.json() : (await response.text()).trim();
  if (!response.ok) {
    let message = typeof payload === "string" ? payload : payload.error;
    if (response.status === 401) message = "You are logged out: reload the page and log in again.";
    throw new ApiError(response.status, message || `The server answered ${response.status}.`, payload);
  }
  return payload;
}

const FORBIDDEN = new Set(["innerHTML", "outerHTML", "srcdoc"]);

/**
 * An element: h("td", {className: "x", onclick: f}, "text", child, null).
 * Strings become text nodes; null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (FORBIDDEN.has(key)) throw new Error(`h(): ${key} is not allowed`);
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key.startsWith("aria-") || key === "role") element.setAttribute(key, value);
    else element[key] = value;
  }
  element.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/** Only http(s) links become clickable (the API refuses others; this is a second lock). */
export function safeHref(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

/** Show `text` in a status element, with kind "", "ok", "warn" or "error". */
export function say(element, text, kind = "") {
  element.textContent = text;
  element.className = `status ${kind}`;
}

/** A product's thumbnail (or an empty placeholder of the same size). */
export function thumbnail(product) {
  if (!product.thumbnail_url) return h("span", { className: "thumb none", "aria-hidden": "true" });
  return h("img", { className: "thumb", src: product.thumbnail_url, alt: "", loading: "lazy" });
}

/** The price as the brand's locale writes it, with the crossed-out compare-at price. */
export function priceCell(product) {
  return h(
    "span",
    { className: "price" },
    h("span", { className: "now" }, product.price_display),
    product.compare_at_price_display ? " " : null,
    product.compare_at_price_display ? h("s", { className: "muted" }, product.compare_at_price_display) : null,
  );
}

/** Run `fn` once typing pauses for `ms`. */
export function debounce(fn, ms = 200) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
