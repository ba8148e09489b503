"""Ids out of SQLite's range (64-bit signed) name nothing: 404 in a path, 422 in a body,
never a 500."""

from __future__ import annotations

from .conftest import Studio

HUGE = [2**63, 11114215802208762433204152267486265344, 10**40]
"Just past the largest SQLite INTEGER, and the fuzzer's finds."


async def test_huge_ids_in_paths_are_404(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    token = await studio.api_token()
    for huge in [*HUGE, 0, 2**63 - 1]:
        for method, path in (
            ("POST", f"/api/shows/{show_id}/chat/{huge}/ban"),
            ("DELETE", f"/api/shows/{show_id}/chat/{huge}"),
            ("POST", f"/api/shows/{show_id}/chat/held/{huge}/approve"),
            ("DELETE", f"/api/chat/bans/{huge}"),
            ("GET", f"/api/products/{huge}"),
            ("PATCH", f"/api/products/{huge}"),
            ("DELETE", f"/api/products/{huge}"),
            ("DELETE", f"/api/sessions/{huge}"),
        ):
            kwargs = {"json": {"stock": 1}} if method == "PATCH" else {}
            reply = await studio.call(method, path, token=token, **kwargs)
            assert reply.status == 404, (method, path, reply.status, reply.text)
        reply = await studio.call("GET", f"/go/{show_id}/{huge}", auth=False)
        assert reply.status == 404, reply.text


async def test_huge_ids_in_bodies_are_422(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    token = await studio.api_token()
    product = await studio.create_product()
    for huge in [*HUGE, 0, -1]:
        for method, path, body in (
            ("PUT", f"/api/shows/{show_id}/products", {"products": [product["id"], huge]}),
            ("PUT", f"/api/shows/{show_id}/products", [huge]),
            ("POST", f"/api/shows/{show_id}/pin", {"product": huge}),
            ("POST", f"/api/shows/{show_id}/sale", {"product": huge, "price": "1", "seconds": 9}),
            ("POST", f"/api/shows/{show_id}/highlight", {"message": huge}),
        ):
            reply = await studio.call(method, path, token=token, json=body)
            assert reply.status == 422, (method, path, huge, reply.status, reply.text)
    status, order = await studio.api("GET", f"/api/shows/{show_id}/products", token)
    assert status == 200 and order["products"] == []
