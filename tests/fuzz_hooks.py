"""What the API fuzzer (tests/test_api_fuzz.py) needs to know beyond the OpenAPI schema,
loaded by schemathesis (SCHEMATHESIS_HOOKS):

- what a valid image and a valid CSV are: JSON Schema can say "binary", not "a PNG that
  decodes", so without these every upload the fuzzer calls valid would be random bytes
  the server rightly refuses;
- the product price rules JSON Schema cannot express (one field against another, or
  against stored data), and a clip's span (against its chapter and recording): bodies
  they would decide are not sent.

No failure is ever filtered out: only what is generated.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Any

import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.transport.serialization import Binary

_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@st.composite
def _image(draw: st.DrawFn, kind: str) -> bytes:
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    colour = tuple(draw(st.integers(0, 255)) for _ in range(3))
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=_FORMATS[kind])
    return out.getvalue()


for _kind in _FORMATS:
    schemathesis.openapi.media_type(_kind, _image(_kind))
# The image fields of multipart uploads are the API's only "binary" strings.
schemathesis.openapi.format("binary", st.one_of([_image(k) for k in _FORMATS]).map(Binary))

_NAME = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N"), max_codepoint=0x2FFF),
    min_size=1,
    max_size=40,
)


@st.composite
def _catalog_csv(draw: st.DrawFn) -> bytes:
    """Our own export's columns: name and price, maybe stock."""
    rows = draw(st.lists(st.tuples(_NAME, st.integers(0, 99_999), st.integers(0, 500)), max_size=5))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "price", "stock"])
    for name, price, stock in rows:
        writer.writerow([name, str(price), str(stock)])
    return out.getvalue().encode()


schemathesis.openapi.media_type("text/csv", _catalog_csv())


def _amount(value: object) -> Decimal | None:
    """A price as the server reads it, or None if it is not one at all."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


@schemathesis.hook("filter_case")
def price_rules_beyond_the_schema(context: schemathesis.HookContext, case: Any) -> bool:
    """Leave out the product bodies whose validity the schema cannot decide, as its
    descriptions say: compare_at_price must exceed price; without a currency, the brand's
    (which the run itself may change) sets how many decimals a price may have; and a change
    of price, compare_at_price or currency is checked against the stored product."""
    body = case.body
    if not isinstance(body, dict):
        return True
    where = (case.operation.method.upper(), case.operation.path)
    if where == ("PATCH", "/api/products/{id}"):
        return not {"price", "compare_at_price", "currency"} & body.keys()
    if where != ("POST", "/api/products"):
        return True
    price, compare = _amount(body.get("price")), _amount(body.get("compare_at_price"))
    if body.get("currency") in (None, "") and any(
        a is not None and a != a.to_integral_value() for a in (price, compare)
    ):
        return False
    return not (price is not None and compare is not None and compare <= price)


@schemathesis.hook("filter_case")
def clip_spans_beyond_the_schema(context: schemathesis.HookContext, case: Any) -> bool:
    """Leave out the clip bodies with a start or an end: whether a span is long enough
    depends on the chapter's other end and the recording, which no schema can state."""
    where = (case.operation.method.upper(), case.operation.path)
    if where not in (("POST", "/api/shows/{show}/clips"), ("PATCH", "/api/clips/{clip}")):
        return True
    return not (isinstance(case.body, dict) and {"start", "end"} & case.body.keys())
