"""What a live show burns into its video beyond the camera: the pinned product's card, a
flash sale's countdown, stock, the brand's logo (and, later, a highlighted question).

Every change is rendered off the event loop into a new overlay scene, handed to the
compositor, and stored as a show event stamped with the pts of the first program frame
that shows it (the compositor reports it), so live pages, chapters and replays all
agree on when it happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog.brand import BrandSettings
from ..catalog.labels import card_words
from ..catalog.money import format_price
from ..media.overlays import CardModel, Labels, LogoModel, QuestionModel
from ..media.scene import OverlayScene
from ..media.show import LiveShow
from ..store import ProductRecord, Store
from .events import EventHub
from .images import image_urls

log = logging.getLogger(__name__)

SHOWN_TIMEOUT = 5.0
"Seconds to wait for the compositor to report the first frame with a new scene."


class StageError(Exception):
    """An on-air action that cannot be done now (HTTP 409 / 404 / 422 by `status`)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Sale:
    """A running flash sale."""

    product_id: int
    price: Decimal
    ends_at: float
    "Program seconds when it ends."


@dataclass
class StageState:
    """What is on air, as pages need it."""

    pinned: int | None = None
    sale: Sale | None = None
    featured: list[int] = field(default_factory=list)
    "Products pinned so far in this show, in order."
    question: tuple[int, str, str] | None = None
    "The highlighted chat message: (id, name, text)."


ImagePath = Callable[[str], Path | None]
"Image key → its file (None if missing)."


class Stage:
    """The overlay state of one live show (all methods on the event loop)."""

    def __init__(
        self,
        show_id: str,
        live: LiveShow,
        store: Store,
        hub: EventHub,
        thumbnail: ImagePath,
        logo: ImagePath,
    ) -> None:
        self.show_id = show_id
        self.live = live
        self.store = store
        self.hub = hub
        self._thumbnail = thumbnail
        self._logo = logo
        self.state = StageState()
        self._scene: OverlayScene | None = None
        self._lock = asyncio.Lock()
        # One worker renders scenes and pre-renders countdown seconds, off the loop.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"stage-{show_id}")
        self._sale_timer: asyncio.Task[None] | None = None
        self._cards: dict[int, dict[str, Any]] = {}
        self._logo_task = asyncio.ensure_future(self._logo_when_on_air())

    # -- actions ------------------------------------------------------------------------------

    def _require_on_air(self) -> None:
        # Before any state changes: a refused action must leave nothing half-done.
        program = self.live.program
        if program.settings is None or not program.running:
            raise StageError("the show is not on air yet: go live first")

    async def pin(self, product_id: int) -> dict[str, Any]:
        """Put the product's card on air (replacing any other; a sale on another ends)."""
        self._require_on_air()
        product = await self._product(product_id)
        async with self._lock:
            if self.state.sale and self.state.sale.product_id != product_id:
                self._end_sale_timer()
                self.state.sale = None
            self.state.pinned = product_id
            if product_id not in self.state.featured:
                self.state.featured.append(product_id)
            return await self._apply("pin", product)

    async def unpin(self) -> dict[str, Any]:
        """Take the card off air (ends a running sale)."""
        async with self._lock:
            if self.state.pinned is None:
                raise StageError("no product is pinned")
            self._end_sale_timer()
            self.state.pinned = None
            self.state.sale = None
            return await self._apply("unpin", None)

    async def start_sale(self, product_id: int, price: Decimal, seconds: int) -> dict[str, Any]:
        """Pin the product at a sale price with a countdown that ends by itself."""
        self._require_on_air()
        product = await self._product(product_id)
        async with self._lock:
            self._end_sale_timer()
            ends_at = self.live.program.clock.seconds() + seconds
            self.state.sale = Sale(product_id, price, ends_at)
            self.state.pinned = product_id
            if product_id not in self.state.featured:
                self.state.featured.append(product_id)
            event = await self._apply("sale", product)
            self._sale_timer = asyncio.ensure_future(self._end_sale_after(seconds))
            return event

    async def highlight(self, message_id: int, name: str, text: str) -> dict[str, Any]:
        """Burn a viewer's question into the video as a lower-third, until dismissed."""
        self._require_on_air()
        async with self._lock:
            self.state.question = (message_id, name, text)
            return await self._apply(
                "highlight",
                await self._pinned_product(),
                extra={"message": message_id, "author": name, "text": text},
            )

    async def dismiss(self) -> dict[str, Any]:
        """Take the highlighted question off air."""
        async with self._lock:
            if self.state.question is None:
                raise StageError("no question is highlighted")
            message_id = self.state.question[0]
            self.state.question = None
            return await self._apply(
                "highlight_end", await self._pinned_product(), extra={"message": message_id}
            )

    async def _pinned_product(self) -> ProductRecord | None:
        if self.state.pinned is None:
            return None
        return await self.store.get_product(self.state.pinned, include_deleted=True)

    async def product_changed(self, product_id: int) -> None:
        """Stock, price or name of a product changed: redraw it if it is on air."""
        async with self._lock:
            if self.state.pinned != product_id:
                return
            product = await self.store.get_product(product_id, include_deleted=True)
            if product is None or product.deleted_at is not None:
                self.state.pinned = None
                self.state.sale = None
                await self._apply("unpin", None)
                return
            await self._apply("stock", product)

    async def brand_changed(self) -> None:
        """Accent, corner or logo changed: redraw."""
        async with self._lock:
            product = None
            if self.state.pinned is not None:
                product = await self.store.get_product(self.state.pinned, include_deleted=True)
            await self._apply("brand", product, store_event=False)

    async def _logo_when_on_air(self) -> None:
        # The brand's logo watermark is on from the first program frame, pin or not.
        while not (self.live.program.running and self.live.program.settings):
            if self.live.ended:
                return
            await asyncio.sleep(0.1)
        brand = await self.store.get_brand()
        if brand.logo and self._scene is None:
            try:
                await self.brand_changed()
            except StageError:
                pass

    def close(self) -> None:
        """The show ended."""
        self._logo_task.cancel()
        self._end_sale_timer()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- pages --------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The current card and featured products, for a page joining now."""
        pinned = self.state.pinned
        q = self.state.question
        return {
            "card": self._cards.get(pinned) if pinned is not None else None,
            "featured": [self._cards[p] for p in self.state.featured if p in self._cards],
            "question": {"message": q[0], "author": q[1], "text": q[2]} if q else None,
        }

    # -- internals ----------------------------------------------------------------------------

    async def _product(self, product_id: int) -> ProductRecord:
        product = await self.store.get_product(product_id)
        if product is None or product.deleted_at is not None:
            raise StageError("no such product (deleted or never in the catalog)", 404)
        return product

    def _end_sale_timer(self) -> None:
        if self._sale_timer is not None and self._sale_timer is not asyncio.current_task():
            self._sale_timer.cancel()
        self._sale_timer = None

    async def _end_sale_after(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        async with self._lock:
            sale = self.state.sale
            if sale is None:
                return
            self.state.sale = None
            product = await self.store.get_product(sale.product_id, include_deleted=True)
            await self._apply("sale_end", product)

    async def _apply(
        self,
        kind: str,
        product: ProductRecord | None,
        store_event: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._require_on_air()
        program = self.live.program
        assert program.settings is not None
        brand = await self.store.get_brand()
        card = self._card(product, brand) if product is not None else None
        card_json = self._card_json(product, card, brand) if product is not None and card else None
        if product is not None and card_json is not None:
            self._cards[product.id] = card_json
        logo_path = self._logo(brand.logo) if brand.logo else None
        logo = LogoModel(logo_path) if logo_path is not None else None
        q = self.state.question
        question = QuestionModel(q[1], q[2], brand.accent) if q else None
        size = (program.settings.width, program.settings.height)
        loop = asyncio.get_running_loop()
        now = program.clock.seconds()
        previous = self._scene

        def build() -> OverlayScene:
            if previous is None:
                return OverlayScene(size, card, logo, question, now=now, prefetch=self._executor)
            return previous.replace(card=card, logo=logo, question=question, now=now)

        # Not in self._executor: the scene pre-renders countdown seconds there, and a
        # build waiting behind them would delay the pin.
        scene = await loop.run_in_executor(None, build)
        self._scene = scene
        shown: asyncio.Future[int] = loop.create_future()

        def report(pts: int) -> None:
            loop.call_soon_threadsafe(_resolve, shown, pts)

        program.compositor.set_scene(scene, on_shown=report)
        try:
            pts = await asyncio.wait_for(asyncio.shield(shown), SHOWN_TIMEOUT)
        except TimeoutError:
            pts = program.clock.pts()  # the program stalled; stamp with the clock
        wall = time.time()
        data: dict[str, Any] = {"product": product.id if product else None}
        if product is not None:
            data["name"] = product.name
        data.update(extra or {})
        if card_json is not None:
            data["card"] = card_json
        event: dict[str, Any] = {"kind": kind, "pts": pts, "wall": wall, **data}
        if store_event:
            event["event_id"] = await self.store.add_event(self.show_id, kind, data, pts, wall)
        self.hub.publish(self.show_id, kind, pts=pts, **data)
        return event

    def _card(self, product: ProductRecord, brand: BrandSettings) -> CardModel:
        f = product.fields
        sale = (
            self.state.sale
            if self.state.sale and self.state.sale.product_id == product.id
            else None
        )
        compare: str | None
        if sale is not None:
            price_text = format_price(sale.price, f.currency, brand.locale)
            compare = format_price(f.price, f.currency, brand.locale)
        else:
            price_text = format_price(f.price, f.currency, brand.locale)
            compare = (
                format_price(f.compare_at_price, f.currency, brand.locale)
                if f.compare_at_price is not None
                else None
            )
        words = card_words(brand.locale)
        return CardModel(
            name=f.name,
            price_text=price_text,
            compare_at_text=compare,
            image=self._thumbnail(product.image) if product.image else None,
            accent=brand.accent,
            corner=brand.corner,  # type: ignore[arg-type]
            stock=f.stock,
            sale_ends_at=sale.ends_at if sale else None,
            labels=Labels(
                ends_in=words.ends_in, only_left=words.only_left, sold_out=words.sold_out
            ),
        )

    def _card_json(
        self, product: ProductRecord, model: CardModel, brand: BrandSettings
    ) -> dict[str, Any]:
        """The card on air, for the viewer page (its text goes in with textContent).

        `labels` are the page card's own fixed words in the brand's language (the same
        catalog as the burned-in ones; "sale_ends_in" has a {time} the page fills in).
        """
        ends = model.sale_ends_at
        return {
            "id": product.id,
            "name": model.name,
            "price": model.price_text,
            "compare_at": model.compare_at_text,
            "stock": model.stock,
            "stock_text": model.stock_text(),
            "sold_out": model.sold_out,
            "thumbnail": image_urls(product.image)["thumbnail_url"],
            "sale_ends_pts": round(ends * 90000) if ends is not None else None,
            "buy": f"/go/{self.show_id}/{product.id}",
            "accent": model.accent,
            "labels": card_words(brand.locale).page(),
        }


def _resolve(future: asyncio.Future[int], pts: int) -> None:
    if not future.done():
        future.set_result(pts)


__all__ = ["Stage", "StageError"]
