// The home page: a replay without a poster (none recorded yet) shows the site's picture.
for (const img of document.querySelectorAll("img[data-fallback]")) {
  const fallback = () => {
    if (img.getAttribute("src") !== img.dataset.fallback) img.src = img.dataset.fallback;
  };
  img.addEventListener("error", fallback);
  if (img.complete && img.naturalWidth === 0) fallback(); // failed before this script ran
}
