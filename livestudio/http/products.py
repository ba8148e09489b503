"""The catalog's JSON API: products, images, CSV, each show's running order, the brand."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from ..catalog.brand import BrandSettings
from ..catalog.csvio import (
    CsvImportError,
    ImportItem,
    export_csv,
    image_sources,
    plan_import,
    read_csv,
    resolve_image,
)
from ..catalog.errors import FieldError, InvalidInput
from ..catalog.fetch import FetchPolicy, fetch_images
from ..catalog.images import (
    MAX_BYTES,
    MEDIA_PREFIX,
    ImageError,
    ImageLibrary,
    PreparedImage,
    image_name,
    image_urls,
)
from ..catalog.money import format_price, read_local_number
from ..catalog.shops import SHOP_URL_OPTION
from ..catalog.validation import parse_product, validate_url
from ..store import ConflictError, NotFoundError, ProductRecord, ValidationError
from . import brand
from .api import require_host
from .errors import error, read_limited
from .ids import json_id, path_id
from .images import (
    IMAGES,
    ImageWork,
    file_parts,
    media_file,
    multipart_parts,
    read_part,
    store_upload,
)
from .jsonbody import json_body, json_object
from .keys import SETTINGS, STORE

MAX_CSV = 2 * 1024 * 1024
MAX_IMPORT = 64 * 1024 * 1024
"""A multipart import: the CSV plus the images its rows name."""
MAX_IMPORT_IMAGES = 200
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")
_ID = r"{id:\d+}"
log = logging.getLogger(__name__)

ProductListener = Callable[[int], Awaitable[None]]
PRODUCT_CHANGED: web.AppKey[list[ProductListener]] = web.AppKey("product_changed")
"""Called with a product's id after the API changed or deleted it (e.g. stock on air).

Append to `app[PRODUCT_CHANGED]` after `setup(app)`; a failing listener is logged and
does not fail the request.
"""


async def _changed(request: web.Request, product_ids: Iterable[int]) -> None:
    for product_id in product_ids:
        for listener in request.app[PRODUCT_CHANGED]:
            try:
                await listener(product_id)
            except Exception:
                log.exception("product listener failed for product %s", product_id)


def product_json(record: ProductRecord, brand_settings: BrandSettings) -> dict[str, Any]:
    """A product as the API returns it: prices as decimal strings plus display strings.

    The text is returned as stored: whoever puts it in HTML must escape it (Jinja2
    autoescape, textContent in JavaScript), never innerHTML.
    """
    f = record.fields
    locale = brand_settings.locale
    compare = f.compare_at_price
    return {
        "id": record.id,
        "name": f.name,
        "description": f.description,
        "price": format(f.price, "f"),
        "compare_at_price": None if compare is None else format(compare, "f"),
        "currency": f.currency,
        "price_display": format_price(f.price, f.currency, locale),
        "compare_at_price_display": (
            None if compare is None else format_price(compare, f.currency, locale)
        ),
        "url": f.url,
        "stock": f.stock,
        "sku": f.sku,
        "image": record.image,
        **image_urls(record.image),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "deleted_at": record.deleted_at,
    }


def _product_id(request: web.Request) -> int:
    return path_id(request, "id", "product")


def _take_image(data: dict[str, Any], creating: bool) -> bool:
    """Take "image" out of a JSON body: only null (remove the image, on PATCH) is accepted."""
    if "image" not in data:
        return False
    if data.pop("image") is not None or creating:
        raise error(422, "image: upload it with POST /api/products/{id}/image")
    return True


async def list_products(request: web.Request) -> web.Response:
    """GET /api/products?q=: the catalog, newest first, optionally searched."""
    await require_host(request)
    store = request.app[STORE]
    records = await store.list_products(request.query.get("q", ""))
    brand_settings = await store.get_brand()
    return web.json_response({"products": [product_json(r, brand_settings) for r in records]})


PRICE_FORMAT_HEADER = "X-Price-Format"
"""`locale`: prices in the body are written as the brand's locale writes them ("24,90" in
de_DE), as hosts type them in the studio's forms. Without it prices are plain decimal
text ("24.90") or JSON numbers, whatever the locale: scripts never depend on it."""


def local_prices(request: web.Request, data: dict[str, Any], locale: str) -> None:
    """Read the prices of `data` the locale's way, in place, if the request says so."""
    if request.headers.get(PRICE_FORMAT_HEADER, "").strip().lower() != "locale":
        return
    errors = []
    for key in ("price", "compare_at_price"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            try:
                data[key] = read_local_number(value.strip(), locale, key)
            except FieldError as exc:
                errors.append(exc)
    if errors:
        raise error(422, str(InvalidInput(errors)))


async def create_product(request: web.Request) -> web.Response:
    """POST /api/products: a new product (currency defaults to the brand's)."""
    await require_host(request)
    data = await json_object(request)
    _take_image(data, creating=True)
    store = request.app[STORE]
    brand_settings = await store.get_brand()
    local_prices(request, data, brand_settings.locale)
    try:
        fields = parse_product(data, None, brand_settings.currency)
        record = await store.create_product(fields)
    except ConflictError as exc:
        raise error(409, str(exc)) from None
    except (InvalidInput, ValidationError) as exc:
        raise error(422, str(exc)) from None
    return web.json_response(
        product_json(record, brand_settings),
        status=201,
        headers={"Location": f"/api/products/{record.id}"},
    )


async def get_product(request: web.Request) -> web.Response:
    """GET /api/products/{id}: 404 if unknown or deleted."""
    await require_host(request)
    store = request.app[STORE]
    record = await store.get_product(_product_id(request))
    if record is None:
        raise error(404, "no such product")
    return web.json_response(product_json(record, await store.get_brand()))


async def patch_product(request: web.Request) -> web.Response:
    """PATCH /api/products/{id}: change the fields sent, e.g. {"stock": 3}.

    "image": null removes the image.
    """
    await require_host(request)
    data = await json_object(request)
    remove_image = _take_image(data, creating=False)
    store = request.app[STORE]
    product_id = _product_id(request)
    local_prices(request, data, (await store.get_brand()).locale)
    try:
        record = await store.update_product(product_id, data)
        if remove_image:
            record = await store.set_product_image(product_id, None)
    except NotFoundError:
        raise error(404, "no such product") from None
    except ConflictError as exc:
        raise error(409, str(exc)) from None
    except (InvalidInput, ValidationError) as exc:
        raise error(422, str(exc)) from None
    await _changed(request, [product_id])
    return web.json_response(product_json(record, await store.get_brand()))


async def delete_product(request: web.Request) -> web.Response:
    """DELETE /api/products/{id}: hidden from the catalog, kept in past shows' history."""
    await require_host(request)
    product_id = _product_id(request)
    try:
        await request.app[STORE].delete_product(product_id)
    except NotFoundError:
        raise error(404, "no such product") from None
    await _changed(request, [product_id])
    return web.Response(status=204)


async def upload_product_image(request: web.Request) -> web.Response:
    """POST /api/products/{id}/image: multipart field "image", or a raw image body."""
    await require_host(request)
    store = request.app[STORE]
    product_id = _product_id(request)
    if await store.get_product(product_id) is None:
        raise error(404, "no such product")
    key = await store_upload(request, ("image", "file"))
    try:
        record = await store.set_product_image(product_id, key)
    except NotFoundError:
        raise error(404, "no such product") from None
    await _changed(request, [product_id])
    return web.json_response(product_json(record, await store.get_brand()))


async def _show_or_404(request: web.Request) -> str:
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show.id


async def _running_order_response(request: web.Request, show_id: str) -> web.Response:
    store = request.app[STORE]
    records = await store.get_running_order(show_id)
    brand_settings = await store.get_brand()
    return web.json_response({"products": [product_json(r, brand_settings) for r in records]})


async def get_running_order(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/products: the running order, deleted products included."""
    await require_host(request)
    return await _running_order_response(request, await _show_or_404(request))


async def put_running_order(request: web.Request) -> web.Response:
    """PUT /api/shows/{show}/products: {"products": [id, …]} (or a bare list) in order."""
    await require_host(request)
    show_id = await _show_or_404(request)
    data = await json_body(request)
    if isinstance(data, dict) and set(data) - {"products"}:
        unknown = ", ".join(sorted(str(k)[:40] for k in set(data) - {"products"}))
        raise error(422, f'unknown fields: {unknown} (send {{"products": [id, …]}})')
    ids = data.get("products") if isinstance(data, dict) else data
    if not isinstance(ids, list):
        raise error(422, 'products: send {"products": [id, …]}, a list of product ids')
    ids = [json_id(i, "products") for i in ids]
    try:
        await request.app[STORE].set_running_order(show_id, ids)
    except NotFoundError as exc:
        raise error(404, f"products: {exc}") from None
    except ConflictError as exc:
        raise error(409, f"products: {exc}") from None
    except ValidationError as exc:
        raise error(422, f"products: {exc}") from None
    return await _running_order_response(request, show_id)


async def export_products(request: web.Request) -> web.Response:
    """GET /api/products.csv: the catalog as CSV, safe to open in a spreadsheet."""
    await require_host(request)
    base = request.app[SETTINGS].base_url
    records = await request.app[STORE].list_products()
    text = export_csv(
        (r.fields, None if r.image is None else base + MEDIA_PREFIX + image_name(r.image))
        for r in records
    )
    return web.Response(
        body=text.encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="products.csv"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _decode_csv(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(400, "the CSV must be UTF-8 (in a spreadsheet: save as CSV UTF-8)") from None


_OPTIONS = (SHOP_URL_OPTION, "base_url")
"""Import options, as query parameters or form fields (base_url: another name for shop_url)."""
MAX_OPTION = 4096


def _shop_url(options: Mapping[str, str]) -> str | None:
    """The validated shop address the options give, if any (400 if it is not a URL)."""
    for name in _OPTIONS:
        value = options.get(name, "").strip()
        if value:
            try:
                return validate_url(value, name)
            except FieldError as exc:
                raise error(400, f"{name} {exc.message}") from None
    return None


async def _read_import(request: web.Request) -> tuple[str, dict[str, bytes], str | None]:
    """The CSV text, the image files sent with it (by file name) and the shop URL option."""
    options = {name: request.query[name] for name in _OPTIONS if name in request.query}
    _shop_url(options)  # a bad query value is refused even if the form names another
    if request.content_type != "multipart/form-data":
        if request.content_type not in CSV_TYPES:
            raise error(415, "send the CSV as text/csv, or multipart/form-data with a file field")
        return _decode_csv(await read_limited(request, MAX_CSV)), {}, _shop_url(options)
    reader = await multipart_parts(request, MAX_IMPORT)
    csv_data: bytes | None = None
    files: dict[str, bytes] = {}
    total = 0
    async for part in file_parts(reader):
        is_csv = part.name in ("file", "csv") and csv_data is None
        if is_csv:
            csv_data = await read_part(part, MAX_CSV, "the CSV")
            total += len(csv_data)
            continue
        if not part.filename and part.name in _OPTIONS:
            value = await read_part(part, MAX_OPTION, str(part.name))
            options[str(part.name)] = value.decode("utf-8", "replace")
            continue
        if not part.filename:
            raise error(400, f"unexpected form field {str(part.name)[:40]!r}")
        if len(files) >= MAX_IMPORT_IMAGES:
            raise error(413, f"at most {MAX_IMPORT_IMAGES} images per import")
        content = await read_part(part, MAX_BYTES, f"image {part.filename[:80]!r}")
        total += len(content)
        if total > MAX_IMPORT:
            raise error(413, f"the import is larger than {MAX_IMPORT // (1024 * 1024)} MB")
        # The name as the CSV would write it: no folders (browsers may send them).
        files[part.filename.replace("\\", "/").rsplit("/", 1)[-1]] = content
    if csv_data is None:
        raise error(400, "send the CSV as a multipart file field named 'file'")
    return _decode_csv(csv_data), files, _shop_url(options)


Images = dict[str, PreparedImage | ImageError]


async def _prepare_uploads(work: ImageWork, names: set[str], files: Mapping[str, bytes]) -> Images:
    """Decode the uploaded images that rows refer to (others are ignored)."""
    prepared: Images = {}
    for name in sorted(names & set(files)):
        try:
            prepared[name] = await work.prepare(files[name])
        except ImageError as exc:
            prepared[name] = exc
    return prepared


async def _fetch_urls(request: web.Request, urls: list[str], uploads: int) -> Images:
    """Fetch and decode the image URLs rows name, within the per-import image limit."""
    room = max(0, MAX_IMPORT_IMAGES - uploads)
    over = ImageError(f"more than {MAX_IMPORT_IMAGES} different images in one import")
    policy = FetchPolicy(allow_private=request.app[SETTINGS].import_allow_private_hosts)
    fetched: Images = await fetch_images(urls[:room], request.app[IMAGES].prepare, policy)
    return fetched | dict.fromkeys(urls[room:], over)


async def _store_used(
    work: ImageWork, items: list[ImportItem], images: Iterable[Images], written: list[str]
) -> None:
    """Write the images the import uses, adding the names of new files to `written`.

    (A list the caller holds, so that it can remove what was written even if this fails.)
    """
    used = {item.image for item in items if item.image}
    for found in images:
        for image in found.values():
            if isinstance(image, PreparedImage) and image.key in used:
                used.discard(image.key)  # an upload and a URL may be the same picture
                written += await asyncio.to_thread(work.library.add, image)


def _import_failed(exc: CsvImportError) -> web.HTTPException:
    body = {
        "error": str(exc),
        "errors": [e.to_json() for e in exc.errors],
        "total": exc.total,
    }
    return web.HTTPUnprocessableEntity(
        text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )


async def import_products(request: web.Request) -> web.Response:
    """POST /api/products/import: all rows or none; 422 with every row's problems."""
    await require_host(request)
    text, files, shop_url = await _read_import(request)
    store = request.app[STORE]
    work = request.app[IMAGES]
    library: ImageLibrary = work.library
    try:
        brand_settings = await store.get_brand()
        read = read_csv(text, shop_url, brand_settings.currency)
        names, urls = image_sources(read.rows, library.has)
        uploads = await _prepare_uploads(work, names, files)
        fetched = await _fetch_urls(request, urls, len(uploads))
        existing = {sku: (r.id, r.fields) for sku, r in (await store.products_by_sku()).items()}
        items = plan_import(
            read.rows,
            existing,
            brand_settings.currency,
            lambda cell: resolve_image(cell, uploads, fetched, library.has),
            read.errors,
        )
    except CsvImportError as exc:
        raise _import_failed(exc) from None
    # Stored only now that every row is valid, and taken back if the database refuses: a
    # failed import leaves no files behind. (Files are content-addressed: one written here
    # is shared only with an upload of the very same picture in the same instant.)
    written: list[str] = []
    try:
        await _store_used(work, items, (uploads, fetched), written)
        created, updated = await store.import_products(items)
    except BaseException as exc:
        # Inline (a few unlinks), so that a cancelled request cleans up too.
        library.remove(written)
        if isinstance(exc, ValidationError):
            raise error(409, str(exc)) from None
        raise
    await _changed(request, [item.product_id for item in items if item.product_id is not None])
    answer: dict[str, Any] = {"created": created, "updated": updated}
    if read.shop is not None:
        answer |= {"format": read.shop, "notes": read.notes}
    return web.json_response(answer)


def setup(app: web.Application) -> None:
    """Register the catalog's routes (call after app[SETTINGS] is set)."""
    app[IMAGES] = ImageWork(ImageLibrary(app[SETTINGS].data_dir / "media" / "products"))
    app[PRODUCT_CHANGED] = []
    r = app.router
    r.add_get("/api/products", list_products)
    r.add_post("/api/products", create_product)
    r.add_get("/api/products.csv", export_products)
    r.add_post("/api/products/import", import_products)
    r.add_get(f"/api/products/{_ID}", get_product)
    r.add_patch(f"/api/products/{_ID}", patch_product)
    r.add_delete(f"/api/products/{_ID}", delete_product)
    r.add_post(f"/api/products/{_ID}/image", upload_product_image)
    r.add_get("/api/shows/{show}/products", get_running_order)
    r.add_put("/api/shows/{show}/products", put_running_order)
    r.add_get(MEDIA_PREFIX + "{file}", media_file)
    brand.setup(app)
