"""Pages and the host's login, over HTTP: sessions, CSRF, rate limits, escaping."""

from __future__ import annotations

from .conftest import ADMIN, PASSWORD, Studio, csrf_from


async def test_host_pages_and_api_refuse_strangers(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    for path in ("/studio", f"/studio/shows/{show_id}"):
        async with studio.session.get(studio.url(path), allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/login")
    async with studio.session.post(
        studio.url("/studio/shows"), data={"title": "x"}, allow_redirects=False
    ) as r:
        assert r.status == 303
    for method, path in (("GET", "/api/shows"), ("POST", f"/api/shows/{show_id}/end")):
        async with studio.session.request(method, studio.url(path)) as r:
            assert r.status == 401
    assert len(await studio.store.list_shows()) == 1


async def test_login_session_cookie_and_forged_posts(studio: Studio) -> None:
    await studio.ensure_admin()
    async with studio.session.get(studio.url("/login")) as r:
        set_cookie = r.headers["Set-Cookie"]
    assert set_cookie.startswith("livestudio_session=")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie, "plain HTTP on localhost: Secure would drop the cookie"
    csrf = await studio.log_in()

    # A forged cross-site form post carries the cookie but not the token.
    async with studio.session.post(
        studio.url("/studio/shows"),
        data={"title": "Forged"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    ) as r:
        assert r.status == 403
    async with studio.session.post(studio.url("/api/shows"), json={"title": "Forged"}) as r:
        assert r.status == 403, "session without X-CSRF-Token"
    assert await studio.store.list_shows() == []

    async with studio.session.post(
        studio.url("/studio/shows"),
        data={"title": "Real", "csrf_token": csrf},
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/studio/shows/")
    async with studio.session.post(
        studio.url("/api/shows"), json={"title": "Via API"}, headers={"X-CSRF-Token": csrf}
    ) as r:
        assert r.status == 201
    async with studio.session.get(studio.url("/api/shows")) as r:
        assert r.status == 200 and len((await r.json())["shows"]) == 2

    async with studio.session.post(studio.url("/logout"), data={"csrf_token": csrf}) as r:
        assert r.url.path == "/login"
    async with studio.session.get(studio.url("/studio"), allow_redirects=False) as r:
        assert r.status == 303


async def test_login_attempts_are_rate_limited(studio: Studio) -> None:
    await studio.ensure_admin()
    async with studio.session.get(studio.url("/login")) as r:
        token = csrf_from(await r.text())
    statuses = []
    for _ in range(7):
        form = {"username": ADMIN, "password": "wrong password!", "csrf_token": token}
        async with studio.session.post(studio.url("/login"), data=form) as r:
            statuses.append(r.status)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    form = {"username": ADMIN, "password": PASSWORD, "csrf_token": token}
    async with studio.session.post(studio.url("/login"), data=form) as r:
        assert r.status == 429, "even the right password waits out the window"


async def test_login_redirect_stays_on_site(studio: Studio) -> None:
    await studio.ensure_admin()
    async with studio.session.get(studio.url("/login?next=//evil.example/x")) as r:
        html = await r.text()
    assert 'value="/studio"' in html and "evil" not in html


async def test_viewer_page_escapes_and_previews(studio: Studio) -> None:
    show, _ = await studio.store.create_show(
        '<script>alert("x")</script> & Co', "2099-01-01T18:00:00+00:00"
    )
    async with studio.session.get(studio.url(f"/live/{show.id}")) as r:
        assert r.status == 200
        html = await r.text()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html
    assert '<meta property="og:title"' in html and '<meta property="og:image"' in html
    assert "muted autoplay playsinline" in html and "Tap to unmute" in html
    async with studio.session.get(studio.url("/live/nosuchshow")) as r:
        assert r.status == 404
    async with studio.session.get(studio.url("/")) as r:
        assert r.status == 200 and "&lt;script&gt;" in await r.text()


async def test_cookie_is_secure_behind_https(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(public_url="https://studio.example")
    async with studio.session.get(studio.url("/login")) as r:
        assert "Secure" in r.headers["Set-Cookie"]
