// The studio's brand page: name, accent colour, card corner, locale, currency and logo.
import { api, config, say } from "./catalog.js";

const $ = (id) => document.getElementById(id);
const form = $("brand-form");
const preview = $("preview");
const FIELDS = ["name", "accent", "corner", "locale", "currency"];
const SAMPLE = 1299;

function values() {
  const data = {};
  for (const name of FIELDS) data[name] = form.elements[name].value.trim();
  data.currency = data.currency.toUpperCase();
  data.embed_origins = form.elements.embed_origins.value.split(/\s+/).filter(Boolean);
  return data;
}

// The server formats prices with Babel; the browser's Intl reads the same CLDR data
// (perhaps another version), so this preview is what viewers will see, near enough.
function samplePrice(locale, currency) {
  try {
    return new Intl.NumberFormat(locale.replace(/_/g, "-"), { style: "currency", currency }).format(SAMPLE);
  } catch (_) {
    return "–";
  }
}

function updatePreview() {
  const data = values();
  preview.className = `brand-preview corner-${data.corner}`;
  if (/^#[0-9a-f]{6}$/i.test(data.accent)) preview.style.setProperty("--card-accent", data.accent);
  $("preview-name").textContent = data.name;
  $("preview-price").textContent = samplePrice(data.locale, data.currency);
}

function showLogo(brand) {
  const url = brand.logo_thumbnail_url;
  for (const img of [$("logo"), $("preview-logo")]) {
    img.hidden = !url;
    img.src = url || "data:,";
  }
  $("no-logo").hidden = Boolean(url);
  $("remove-logo").hidden = !url;
}

function fill(brand) {
  for (const name of FIELDS) form.elements[name].value = brand[name];
  form.elements.embed_origins.value = brand.embed_origins.join("\n");
}

async function onSave(event) {
  event.preventDefault();
  $("brand-error").textContent = "";
  $("save-brand").disabled = true;
  try {
    config.brand = await api("/api/brand", { method: "PUT", json: values() });
    fill(config.brand);
    say($("brand-status"), "Saved.", "ok");
  } catch (err) {
    $("brand-error").textContent = err.message;
    say($("brand-status"), "");
  } finally {
    $("save-brand").disabled = false;
  }
}

async function onLogo() {
  const file = $("logo-file").files[0];
  if (!file) return;
  const body = new FormData();
  body.append("logo", file, file.name);
  say($("logo-status"), "Uploading…");
  try {
    config.brand = await api("/api/brand/logo", { method: "POST", body });
    showLogo(config.brand);
    say($("logo-status"), "Logo saved.", "ok");
  } catch (err) {
    say($("logo-status"), `Could not use this logo: ${err.message}`, "error");
  } finally {
    $("logo-file").value = "";
  }
}

async function onRemoveLogo() {
  if (!confirm("Remove the logo?")) return;
  try {
    config.brand = await api("/api/brand", { method: "PUT", json: { logo: null } });
    showLogo(config.brand);
    say($("logo-status"), "Logo removed.", "ok");
  } catch (err) {
    say($("logo-status"), err.message, "error");
  }
}

updatePreview(); // the accent colour too (no inline style: the page's CSP allows none)
form.addEventListener("submit", onSave);
form.addEventListener("input", updatePreview);
form.addEventListener("change", updatePreview);
$("logo-file").addEventListener("change", onLogo);
$("remove-logo").addEventListener("click", onRemoveLogo);
