// The studio's signed-in browsers: end one with DELETE /api/sessions/{id}.
const config = JSON.parse(document.getElementById("config").textContent);
const status = document.getElementById("status");

for (const time of document.querySelectorAll("time[data-unix]")) {
  time.textContent = new Date(Number(time.dataset.unix) * 1000).toLocaleString();
}

for (const button of document.querySelectorAll("[data-end]")) {
  button.addEventListener("click", async () => {
    const row = button.closest("li");
    button.disabled = true;
    const response = await fetch(`/api/sessions/${button.dataset.end}`, {
      method: "DELETE",
      headers: { "X-CSRF-Token": config.csrf },
    });
    if (response.ok || response.status === 404) {
      if (row.dataset.current) { location.href = "/login"; return; }
      row.remove();
      status.textContent = "That browser is logged out.";
    } else {
      button.disabled = false;
      status.textContent = `Could not end it: ${(await response.text()).trim()}`;
    }
  });
}
