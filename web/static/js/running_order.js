// A show's running order: add products from the catalog, reorder, remove; saved as you go.
import { api, config, debounce, h, priceCell, say, thumbnail } from "./catalog.js";

const $ = (id) => document.getElementById(id);
const orderList = $("order");
const catalogList = $("catalog");
const status = $("order-status");
const search = $("catalog-search");
const path = `/api/shows/${encodeURIComponent(config.show)}/products`;

let order = config.order;
let catalog = config.catalog;
let saving = Promise.resolve();
let version = 0; // bumped by every local change: only the latest save's answer is shown
let dragged = null;
let searchSeq = 0;

function move(from, to) {
  if (to < 0 || to >= order.length || from === to) return;
  const [item] = order.splice(from, 1);
  order.splice(to, 0, item);
  changed();
}

function orderItem(product, index) {
  const li = h(
    "li",
    { dataset: { id: String(product.id) }, draggable: true, className: product.deleted_at ? "deleted" : "" },
    h("span", { className: "handle", title: "Drag to reorder", "aria-hidden": "true" }, "⠿"),
    thumbnail(product),
    h(
      "span",
      { className: "item-name" },
      h("strong", {}, product.name),
      product.deleted_at ? h("span", { className: "badge" }, "deleted") : null,
    ),
    priceCell(product),
    h("span", { className: "muted stock" }, product.stock === null ? "" : `${product.stock} in stock`),
    h(
      "span",
      { className: "item-actions" },
      h("button", {
        type: "button", className: "secondary up", disabled: index === 0,
        "aria-label": `Move ${product.name} up`, onclick: () => move(index, index - 1),
      }, "↑"),
      h("button", {
        type: "button", className: "secondary down", disabled: index === order.length - 1,
        "aria-label": `Move ${product.name} down`, onclick: () => move(index, index + 1),
      }, "↓"),
      h("button", {
        type: "button", className: "secondary remove", "aria-label": `Remove ${product.name}`,
        onclick: () => { order.splice(index, 1); changed(); },
      }, "Remove"),
    ),
  );
  li.addEventListener("dragstart", (event) => {
    dragged = index;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", String(product.id));
    li.classList.add("dragging");
  });
  li.addEventListener("dragend", () => li.classList.remove("dragging"));
  li.addEventListener("dragover", (event) => {
    if (dragged !== null) event.preventDefault();
  });
  li.addEventListener("drop", (event) => {
    event.preventDefault();
    if (dragged !== null) move(dragged, index);
    dragged = null;
  });
  return li;
}

function catalogItem(product, inOrder) {
  return h(
    "li",
    { dataset: { id: String(product.id) } },
    thumbnail(product),
    h("span", { className: "item-name" }, h("strong", {}, product.name)),
    priceCell(product),
    h("button", {
      type: "button", className: "add", disabled: inOrder, "aria-label": `Add ${product.name}`,
      onclick: () => { order.push(product); changed(); },
    }, inOrder ? "Added" : "Add"),
  );
}

function render() {
  orderList.replaceChildren(...order.map(orderItem));
  $("order-count").textContent = String(order.length);
  $("order-empty").hidden = order.length > 0;
  const chosen = new Set(order.map((p) => p.id));
  catalogList.replaceChildren(...catalog.map((p) => catalogItem(p, chosen.has(p.id))));
  $("catalog-empty").hidden = catalog.length > 0;
}

function changed() {
  render();
  const mine = ++version;
  const products = order.map((p) => p.id);
  say(status, "Saving…");
  // One save at a time, in order: the server ends up with the last arrangement.
  saving = saving.then(async () => {
    try {
      const answer = await api(path, { method: "PUT", json: { products } });
      if (mine !== version) return;
      order = answer.products;
      render();
      say(status, "Saved.", "ok");
    } catch (err) {
      say(status, `Not saved: ${err.message}`, "error");
      if (mine === version) await reload();
    }
  });
}

async function reload() {
  try {
    order = (await api(path)).products;
    render();
  } catch (err) {
    say(status, `Could not load the running order: ${err.message}`, "error");
  }
}

async function searchCatalog() {
  const seq = ++searchSeq;
  try {
    const answer = await api(`/api/products?q=${encodeURIComponent(search.value.trim())}`);
    if (seq !== searchSeq) return;
    catalog = answer.products;
    render();
  } catch (err) {
    say(status, `Could not search the catalog: ${err.message}`, "error");
  }
}

search.addEventListener("input", debounce(searchCatalog, 200));
render();
