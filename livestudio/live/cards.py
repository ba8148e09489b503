"""A product as it goes on air: the burned-in card's model and the page card's JSON.

Both come from the same product, brand and sale, in the brand's language and currency, so
the card beside the player says exactly what the video shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog.brand import BrandSettings
from ..catalog.images import image_urls
from ..catalog.labels import card_words
from ..catalog.money import format_price
from ..media.overlays import CardModel, Labels
from ..store import ProductRecord

ImagePath = Callable[[str], Path | None]
"Image key → its file (None if missing)."


@dataclass
class Sale:
    """A running flash sale."""

    product_id: int
    price: Decimal
    ends_at: float
    "Program seconds when it ends."


def card_model(
    product: ProductRecord, brand: BrandSettings, sale: Sale | None, thumbnail: ImagePath
) -> CardModel:
    """The card burned into the video (`sale`: the product's running sale, if any)."""
    f = product.fields
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
        image=thumbnail(product.image) if product.image else None,
        accent=brand.accent,
        corner=brand.corner,  # type: ignore[arg-type]
        stock=f.stock,
        sale_ends_at=sale.ends_at if sale else None,
        labels=Labels(ends_in=words.ends_in, only_left=words.only_left, sold_out=words.sold_out),
    )


def page_card(
    show_id: str, product: ProductRecord, model: CardModel, brand: BrandSettings
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
        "buy": f"/go/{show_id}/{product.id}",
        "accent": model.accent,
        "labels": card_words(brand.locale).page(),
    }
