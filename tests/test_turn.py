"""TURN credentials per page (coturn use-auth-secret), and Link headers for WHIP/WHEP."""

from __future__ import annotations

import base64
import hashlib
import hmac

from livestudio.http.iceservers import turn_credentials

from .conftest import Studio


def test_turn_credentials_follow_the_rest_scheme() -> None:
    username, credential = turn_credentials("s3cret", now=1000.0)
    expiry, name = username.split(":")
    assert int(expiry) == 1000 + 12 * 3600 and name == "livestudio"
    expected = base64.b64encode(hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest())
    assert credential == expected.decode()


async def test_options_links_ice_servers_with_fresh_credentials(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(
        ice_servers="stun:turn.example:3478,turn:turn.example:3478", turn_secret="s3cret"
    )
    show_id, _ = await studio.create_show()
    async with studio.session.options(studio.url(f"/whip/{show_id}")) as r:
        links = r.headers.getall("Link")
    assert '<stun:turn.example:3478>; rel="ice-server"' in links
    turn = [link for link in links if link.startswith("<turn:")]
    assert turn and 'credential-type="password"' in turn[0] and "username=" in turn[0]
    async with studio.session.get(studio.url(f"/live/{show_id}")) as r:
        html = await r.text()
    assert "turn:turn.example:3478" in html and "s3cret" not in html
