// The studio's products page: list, search, add, edit, delete, image upload, CSV in and out.
import { ApiError, api, config, debounce, h, priceCell, safeHref, say, thumbnail } from "./catalog.js";

const $ = (id) => document.getElementById(id);
const rows = $("product-rows");
const search = $("search");
const listStatus = $("list-status");
const form = $("product-form");
const formError = $("form-error");
const importForm = $("import-form");
const importMessage = $("import-message");
const importErrors = $("import-errors");

let products = config.products;
let editing = null; // the product in the form, or null when adding
let searchSeq = 0;

const FIELDS = ["name", "price", "currency", "compare_at_price", "url", "stock", "sku", "description"];

function row(product) {
  const href = safeHref(product.url);
  return h(
    "tr",
    { dataset: { id: String(product.id) }, className: editing && editing.id === product.id ? "editing" : "" },
    h("td", {}, thumbnail(product)),
    h("td", { className: "name" }, h("strong", {}, product.name), product.sku ? h("div", { className: "muted" }, product.sku) : null),
    h("td", {}, priceCell(product)),
    h("td", { className: "stock" }, product.stock === null ? "–" : String(product.stock)),
    h("td", {}, href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, "Open") : null),
    h(
      "td",
      { className: "actions" },
      h("button", { type: "button", className: "secondary edit", onclick: () => startEdit(product) }, "Edit"),
      h("button", { type: "button", className: "danger delete", onclick: () => remove(product) }, "Delete"),
    ),
  );
}

function render() {
  const query = search.value.trim();
  if (products.length) {
    rows.replaceChildren(...products.map(row));
  } else {
    const text = query ? `No product matches “${query}”.` : "No products yet: add your first one.";
    rows.replaceChildren(h("tr", { className: "empty" }, h("td", { colSpan: 6, className: "muted" }, text)));
  }
  $("count").textContent = String(products.length);
}

async function refresh() {
  const seq = ++searchSeq;
  const query = search.value.trim();
  try {
    const answer = await api(`/api/products?q=${encodeURIComponent(query)}`);
    if (seq !== searchSeq) return; // a newer search is on its way
    products = answer.products;
    render();
    const url = query ? `?q=${encodeURIComponent(query)}` : location.pathname;
    history.replaceState(null, "", url);
  } catch (err) {
    if (seq === searchSeq) say(listStatus, `Could not load the products: ${err.message}`, "error");
  }
}

function formData() {
  const data = {};
  for (const name of FIELDS) data[name] = form.elements[name].value;
  data.currency = data.currency.trim().toUpperCase();
  return data;
}

function showImage(product) {
  const box = $("current-image");
  box.hidden = !(product && product.thumbnail_url);
  if (!box.hidden) $("current-image-img").src = product.thumbnail_url;
}

/** "1299.50" as the brand's locale writes it for typing ("1299,50" in de_DE). */
function localNumber(text) {
  const decimals = (text.split(".")[1] || "").length;
  return new Intl.NumberFormat(config.locale.replace("_", "-"), {
    minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: false,
  }).format(Number(text));
}

function startEdit(product) {
  editing = product;
  for (const name of FIELDS) {
    let value = product[name];
    if ((name === "price" || name === "compare_at_price") && value) value = localNumber(value);
    form.elements[name].value = value === null || value === undefined ? "" : String(value);
  }
  form.elements.image.value = "";
  showImage(product);
  $("form-title").textContent = "Edit product";
  $("save").textContent = "Save changes";
  $("cancel-edit").hidden = false;
  formError.textContent = "";
  render();
  form.elements.name.focus();
  $("editor").scrollIntoView({ block: "nearest" });
}

function resetForm() {
  editing = null;
  form.reset();
  form.elements.currency.value = config.currency;
  showImage(null);
  $("form-title").textContent = "Add a product";
  $("save").textContent = "Add product";
  $("cancel-edit").hidden = true;
  formError.textContent = "";
  render();
}

async function uploadImage(productId, file) {
  const body = new FormData();
  body.append("image", file, file.name);
  return api(`/api/products/${productId}/image`, { method: "POST", body });
}

async function onSave(event) {
  event.preventDefault();
  formError.textContent = "";
  const save = $("save");
  save.disabled = true;
  const file = form.elements.image.files[0];
  let product = null;
  try {
    product = editing
      ? await api(`/api/products/${editing.id}`, { method: "PATCH", json: formData() })
      : await api("/api/products", { method: "POST", json: formData() });
  } catch (err) {
    formError.textContent = err.message;
    save.disabled = false;
    return;
  }
  try {
    if (file) product = await uploadImage(product.id, file);
  } catch (err) {
    // The product is saved: keep it in the form so the host can try another image.
    save.disabled = false;
    await refresh();
    startEdit(product);
    formError.textContent = `“${product.name}” was saved, but not its image: ${err.message}`;
    return;
  }
  save.disabled = false;
  say(listStatus, `Saved “${product.name}”.`, "ok");
  resetForm();
  await refresh();
}

async function onRemoveImage() {
  if (!editing) return;
  try {
    editing = await api(`/api/products/${editing.id}`, { method: "PATCH", json: { image: null } });
    showImage(editing);
    await refresh();
  } catch (err) {
    formError.textContent = err.message;
  }
}

async function remove(product) {
  const question = `Delete “${product.name}”? It leaves the catalog; past shows keep naming it.`;
  if (!confirm(question)) return;
  try {
    await api(`/api/products/${product.id}`, { method: "DELETE" });
  } catch (err) {
    say(listStatus, `Could not delete “${product.name}”: ${err.message}`, "error");
    return;
  }
  if (editing && editing.id === product.id) resetForm();
  say(listStatus, `Deleted “${product.name}”.`, "ok");
  await refresh();
}

async function onImport(event) {
  event.preventDefault();
  const csv = importForm.elements.file.files[0];
  if (!csv) return;
  const body = new FormData();
  body.append("file", csv, csv.name);
  for (const image of importForm.elements.images.files) body.append("images", image, image.name);
  const shopUrl = importForm.elements.shop_url.value.trim();
  if (shopUrl) body.append("shop_url", shopUrl);
  importErrors.replaceChildren();
  say(importMessage, "Importing… (image URLs are fetched now, which can take a moment)");
  $("import").disabled = true;
  try {
    const answer = await api("/api/products/import", { method: "POST", body });
    say(importMessage, `Imported: ${answer.created} added, ${answer.updated} updated.`, "ok");
    // A shop's export (Shopify, WooCommerce): what was read, skipped and ignored.
    if (Array.isArray(answer.notes)) {
      importErrors.replaceChildren(
        ...answer.notes.map((note) => h("li", { className: "muted" }, note)),
      );
    }
    importForm.reset();
    await refresh();
  } catch (err) {
    say(importMessage, err.message, "error");
    if (err instanceof ApiError && err.body && Array.isArray(err.body.errors)) {
      importErrors.replaceChildren(
        ...err.body.errors.map((e) =>
          h("li", {}, h("strong", {}, `Row ${e.row}`), e.column ? ` · ${e.column}: ` : ": ", e.message),
        ),
      );
      const more = err.body.total - err.body.errors.length;
      if (more > 0) importErrors.append(h("li", { className: "muted" }, `…and ${more} more.`));
    }
  } finally {
    $("import").disabled = false;
  }
}

form.addEventListener("submit", onSave);
$("cancel-edit").addEventListener("click", resetForm);
$("remove-image").addEventListener("click", onRemoveImage);
importForm.addEventListener("submit", onImport);
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  refresh();
});
search.addEventListener("input", debounce(refresh, 200));
render();
