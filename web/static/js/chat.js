// The chat list: messages appended as text (never HTML), deletions, highlights, and
// floating reactions. Shared by the viewer page, the studio and the replay.

const $ = (id) => document.getElementById(id);
const MAX_SHOWN = 200;

export class ChatList {
  constructor({ moderation = null } = {}) {
    this.list = $("chat-messages");
    this.moderation = moderation; // (li, message) => void: adds the host's buttons
    this.seen = new Set();
    // (counts) => counts: what to float of a reactions total (a page that floated its own
    // taps already takes them out).
    this.othersReactions = (counts) => counts;
  }

  add(message) {
    if (!this.list) return; // a page without the chat (an embed without ?chat=1)
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    const li = document.createElement("li");
    li.dataset.id = message.id;
    const name = document.createElement("strong");
    name.textContent = message.name;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    li.append(name, " ", text);
    if (message.highlighted) li.classList.add("highlighted");
    if (this.moderation) this.moderation(li, message);
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(li);
    while (this.list.children.length > MAX_SHOWN) this.list.firstElementChild.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  remove(id) {
    if (!this.list) return;
    const li = this.list.querySelector(`li[data-id="${Number(id)}"]`);
    if (li) li.remove();
  }

  mark(id, highlighted) {
    if (!this.list) return;
    for (const li of this.list.querySelectorAll("li.highlighted")) li.classList.remove("highlighted");
    const li = this.list.querySelector(`li[data-id="${Number(id)}"]`);
    if (li && highlighted) li.classList.add("highlighted");
  }

  clear() {
    if (!this.list) return;
    this.list.replaceChildren();
    this.seen.clear();
  }

  /** Handle an event from the show's socket. */
  event(event) {
    if (event.type === "snapshot") {
      for (const m of event.chat || []) this.add(m);
      if (event.question) this.mark(event.question.message, true);
    }
    if (event.type === "chat") this.add(event);
    if (event.type === "chat_delete") this.remove(event.message);
    if (event.type === "highlight") this.mark(event.message, true);
    if (event.type === "highlight_end") this.mark(event.message, false);
    if (event.type === "reactions") float(this.othersReactions(event.counts));
  }
}

/** Float a few hearts (at most 12 a second, however many viewers tapped). */
export function float(counts) {
  const box = $("floaters");
  if (!box) return;
  let budget = 12;
  for (const [emoji, n] of Object.entries(counts)) {
    for (let i = 0; i < Math.min(n, budget); i++) {
      const span = document.createElement("span");
      span.className = "floater";
      span.textContent = emoji;
      span.style.left = `${10 + Math.random() * 80}%`;
      span.style.animationDelay = `${Math.random() * 0.8}s`;
      span.addEventListener("animationend", () => span.remove());
      box.append(span);
    }
    budget -= Math.min(n, budget);
  }
}
