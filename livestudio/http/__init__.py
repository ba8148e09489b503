"""HTTP: the only package that imports aiohttp.web (routes, signalling, API, pages)."""
