// The home page: a replay without a poster (none recorded yet) shows the site's picture;
// dates in the viewer's zone, as the brand's locale writes them.
import { localizeTimes } from "./intl.js";

for (const img of document.querySelectorAll("img[data-fallback]")) {
  const fallback = () => {
    if (img.getAttribute("src") !== img.dataset.fallback) img.src = img.dataset.fallback;
  };
  img.addEventListener("error", fallback);
  if (img.complete && img.naturalWidth === 0) fallback(); // failed before this script ran
}
const configEl = document.getElementById("config");
if (configEl) localizeTimes(JSON.parse(configEl.textContent).locale);
