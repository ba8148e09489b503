"""What a live show burns into its video beyond the camera: the pinned product's card, a
flash sale's countdown, stock, the brand's logo and a highlighted question.

Every change is rendered off the event loop into a new overlay scene, put on the program,
and stored as a show event stamped with the pts of the first program frame that shows it
(`LiveShow.show_scene` reports it), so live pages, chapters and replays all agree on when
it happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..media.overlays import LogoModel, QuestionModel
from ..media.scene import OverlayScene
from ..media.show import LiveShow
from ..store import ProductRecord, Store
from .cards import ImagePath, Sale, card_model, page_card
from .errors import NothingToUndo, NotOnAir, UnknownProduct
from .events import EventHub

log = logging.getLogger(__name__)


@dataclass
class OnAirState:
    """What is on air, as pages need it."""

    pinned: int | None = None
    sale: Sale | None = None
    featured: list[int] = field(default_factory=list)
    "Products pinned so far in this show, in order."
    question: tuple[int, str, str] | None = None
    "The highlighted chat message: (id, name, text)."


class OnAirProducts:
    """The pinned product, sale and question of one live show (all methods on the loop)."""

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
        self.state = OnAirState()
        self.scene: OverlayScene | None = None
        "What the program draws now (None before the first change)."
        self._lock = asyncio.Lock()
        # One worker renders scenes and pre-renders countdown seconds, off the loop.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"onair-{show_id}")
        self._sale_timer: asyncio.Task[None] | None = None
        self._cards: dict[int, dict[str, Any]] = {}
        self._logo_task = asyncio.ensure_future(self._logo_when_on_air())

    # -- actions ------------------------------------------------------------------------------

    def _require_on_air(self) -> None:
        # Before any state changes: a refused action must leave nothing half-done.
        if not self.live.on_air:
            raise NotOnAir("the show is not on air yet: go live first")

    async def pin(self, product_id: int) -> dict[str, Any]:
        """Put the product's card on air (replacing any other; a sale on another ends)."""
        self._require_on_air()
        product = await self._product(product_id)
        async with self._lock:
            if self.state.sale and self.state.sale.product_id != product_id:
                self._end_sale_timer()
                self.state.sale = None
            self._feature(product_id)
            return await self._apply("pin", product)

    async def unpin(self) -> dict[str, Any]:
        """Take the card off air (ends a running sale)."""
        async with self._lock:
            if self.state.pinned is None:
                raise NothingToUndo("no product is pinned")
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
            ends_at = self.live.program_seconds() + seconds
            self.state.sale = Sale(product_id, price, ends_at)
            self._feature(product_id)
            event = await self._apply("sale", product)
            self._sale_timer = asyncio.ensure_future(self._end_sale_after(seconds))
            return event

    async def end_sale(self) -> dict[str, Any]:
        """End the running flash sale now: the card goes back to the product's price."""
        async with self._lock:
            sale = self.state.sale
            if sale is None:
                raise NothingToUndo("no flash sale is running")
            self._end_sale_timer()
            self.state.sale = None
            product = await self.store.get_product(sale.product_id, include_deleted=True)
            return await self._apply("sale_end", product, extra={"early": True})

    def sale_json(self) -> dict[str, Any] | None:
        """The running sale for the studio: product, price as shown, wall time it ends."""
        sale = self.state.sale
        if sale is None:
            return None
        card = self._cards.get(sale.product_id)
        left = max(0.0, sale.ends_at - self.live.program_seconds())
        return {
            "product": sale.product_id,
            "price": card["price"] if card else str(sale.price),
            "ends_at": time.time() + left,
        }

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
                raise NothingToUndo("no question is highlighted")
            message_id = self.state.question[0]
            self.state.question = None
            return await self._apply(
                "highlight_end", await self._pinned_product(), extra={"message": message_id}
            )

    @property
    def highlighted(self) -> int | None:
        """The id of the chat message on air as a question, if any."""
        return self.state.question[0] if self.state.question else None

    def _feature(self, product_id: int) -> None:
        self.state.pinned = product_id
        if product_id not in self.state.featured:
            self.state.featured.append(product_id)

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
            await self._apply("brand", await self._pinned_product(), store_event=False)

    async def _logo_when_on_air(self) -> None:
        # The brand's logo watermark is on from the first program frame, pin or not.
        if not await self.live.wait_on_air():
            return
        brand = await self.store.get_brand()
        if brand.logo and self.scene is None:
            try:
                await self.brand_changed()
            except NotOnAir:
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
            "sale": self.sale_json(),
        }

    # -- internals ----------------------------------------------------------------------------

    async def _product(self, product_id: int) -> ProductRecord:
        product = await self.store.get_product(product_id)
        if product is None or product.deleted_at is not None:
            raise UnknownProduct("no such product (deleted or never in the catalog)")
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
        size = self.live.frame_size
        assert size is not None
        brand = await self.store.get_brand()
        card = card_json = None
        if product is not None:
            sale = self.state.sale
            sale = sale if sale is not None and sale.product_id == product.id else None
            card = card_model(product, brand, sale, self._thumbnail)
            card_json = self._cards[product.id] = page_card(self.show_id, product, card, brand)
        logo_path = self._logo(brand.logo) if brand.logo else None
        logo = LogoModel(logo_path) if logo_path is not None else None
        q = self.state.question
        question = QuestionModel(q[1], q[2], brand.accent) if q else None
        now = self.live.program_seconds()
        previous = self.scene

        def build() -> OverlayScene:
            if previous is None:
                return OverlayScene(size, card, logo, question, now=now, prefetch=self._executor)
            return previous.replace(card=card, logo=logo, question=question, now=now)

        # Not in self._executor: the scene pre-renders countdown seconds there, and a
        # build waiting behind them would delay the pin.
        scene = await asyncio.get_running_loop().run_in_executor(None, build)
        self.scene = scene
        pts = await self.live.show_scene(scene)
        wall = time.time()
        data: dict[str, Any] = {"product": product.id if product else None}
        if product is not None:
            data["name"] = product.name
        data.update(extra or {})
        if card_json is not None:
            data["card"] = card_json
        if kind == "sale":
            data["sale"] = self.sale_json()
        event: dict[str, Any] = {"kind": kind, "pts": pts, "wall": wall, **data}
        if store_event:
            event["event_id"] = await self.store.add_event(self.show_id, kind, data, pts, wall)
        self.hub.publish(self.show_id, kind, pts=pts, **data)
        return event
