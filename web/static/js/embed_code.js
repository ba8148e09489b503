// The studio's embed code: the iframe snippet for the brand's site, with or without chat.
const code = document.getElementById("embed-code");
const chat = document.getElementById("embed-chat");
const copy = document.getElementById("copy-embed");

function update() {
  code.value = chat.checked ? code.dataset.chat : code.dataset.plain;
}

chat.addEventListener("change", update);
copy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(code.value);
  } catch (_) {
    code.select();
    document.execCommand("copy");
  }
  copy.textContent = "Copied";
  setTimeout(() => { copy.textContent = "Copy"; }, 1500);
});
update();
