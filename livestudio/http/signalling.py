"""WHIP ingest and WHEP playback (RFC 9725 and the WHEP draft), as in DESIGN "Contracts"."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator

from aiohttp import web
from aiohttp.typedefs import Handler

from ..media.ingest import Publisher
from ..media.sdp import MAX_SDP_BYTES, OfferError, check_publish_offer
from ..media.show import LiveShow, ShowBusy, ShowEnded, ShowFull
from ..media.trickle import (
    MAX_FRAGMENT_BYTES,
    FragmentError,
    IceRestartUnsupported,
    parse_fragment,
)
from ..media.viewer import Viewer
from ..store import ShowRecord
from .auth import CSRF_HEADER, check_csrf, current_user
from .errors import domain_error, error, read_limited
from .events import viewer_id
from .iceservers import link_headers
from .keys import AUDIENCE, ONAIR, SERVER_LOAD, SETTINGS, STORE, TURNED_AWAY
from .net import address_group, client_address, server_address

log = logging.getLogger(__name__)

RETRY_AFTER = "5"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch, Retry-After",
}
ENDED_STATES = {"ended", "published", "unpublished"}
TRICKLE = "application/trickle-ice-sdpfrag"


class Negotiations:
    """Counts SDP negotiations in flight (each costs ICE gathering and DTLS setup).

    A quarter of the slots is kept for WHIP: anonymous viewers joining in a crowd must not
    keep the host from (re)connecting, which is what the show waits for.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @property
    def reserved_for_publishers(self) -> int:
        """Slots only a WHIP publisher may take."""
        return self.limit // 4

    @contextlib.contextmanager
    def slot(self, publisher: bool) -> Iterator[None]:
        """Hold a slot while negotiating; 503 when none is free for this kind of client."""
        room = self.limit if publisher else self.limit - self.reserved_for_publishers
        if self.in_flight >= room:
            raise error(
                503,
                "too many connections are being set up right now; retry in a moment",
                {"Retry-After": "1"},
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


NEGOTIATIONS = web.AppKey("negotiations", Negotiations)


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every WHIP/WHEP answer, errors included, readable by a page on another origin."""
    if not request.path.startswith(("/whip/", "/whep/")):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(CORS)
        raise
    response.headers.update(CORS)
    return response


SESSIONS_PER_IP = web.AppKey("sessions_per_ip", Counter)


async def _offer(request: web.Request) -> str:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise error(415, "send the SDP offer with Content-Type: application/sdp")
    body = await read_limited(request, MAX_SDP_BYTES)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise error(400, "the SDP offer is not UTF-8 text") from None


async def _show(request: web.Request) -> ShowRecord:
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show


def _created(request: web.Request, location: str, answer: str, ice_tag: str) -> web.Response:
    headers = {"Location": location, "ETag": ice_tag, "Accept-Patch": TRICKLE}
    response = web.Response(
        status=201, text=answer, content_type="application/sdp", headers=headers
    )
    for link in link_headers(request.app[SETTINGS]):
        response.headers.add("Link", link)
    return response


async def options(request: web.Request) -> web.Response:
    """OPTIONS: CORS preflight, and the ICE servers a client should use, as Link headers."""
    response = web.Response(status=204, headers={"Accept-Post": "application/sdp"})
    if "session" in request.match_info:
        response.headers["Accept-Patch"] = TRICKLE
    for link in link_headers(request.app[SETTINGS]):
        response.headers.add("Link", link)
    return response


# -- WHIP ---------------------------------------------------------------------------------


async def whip_post(request: web.Request) -> web.Response:
    """POST /whip/{show}: the host publishes; 201 with the answer and a session Location."""
    show = await _show(request)
    await _check_publisher(request, show)
    if show.state in ENDED_STATES:
        raise error(409, "this show has ended; create a new show to go live again")
    offer = await _offer(request)
    try:
        check_publish_offer(offer)
    except OfferError as exc:
        raise domain_error(exc) from None
    onair = request.app[ONAIR]
    settings = request.app[SETTINGS]
    address = client_address(request, settings.trusted_proxy)
    reached = server_address(request, settings.trusted_proxy)
    with request.app[NEGOTIATIONS].slot(publisher=True):
        created = onair.get(show.id) is None
        live = onair.start(show.id, show.state, show.orientation)
        try:
            publisher = await live.publish(offer, address=address, reached=reached)
        except ShowBusy:
            raise error(
                409,
                "this show already has a live publisher; stop it first (or wait 2 s after "
                "it goes silent to take over)",
                CORS,
            ) from None
        except ShowEnded:
            raise error(409, "this show has ended") from None
        except OfferError as exc:
            raise domain_error(exc) from None
        except TimeoutError:
            raise error(503, "negotiation timed out", {"Retry-After": "1"}) from None
        finally:
            if created and live.publisher is None:
                # Nothing went on air: put the show back as it was.
                await onair.abandon(show.id, show.state, live)
    log.info("show %s: publisher %s (%s)", show.id, publisher.id, publisher.video_codec)
    return _created(
        request, f"/whip/{show.id}/{publisher.id}", publisher.answer_sdp, publisher.ice_tag
    )


async def _check_publisher(request: web.Request, show: ShowRecord) -> None:
    """401 unless the request carries the show's stream key as Bearer token, or (the
    studio page) comes from the logged-in host with the page's CSRF token."""
    auth = request.headers.get("Authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if key:
        if await request.app[STORE].check_stream_key(show.id, key):
            return
    elif await current_user(request) is not None:
        # A page of another site can make the browser send the cookie, not the token.
        await check_csrf(request, request.headers.get(CSRF_HEADER))
        return
    raise error(
        401,
        "wrong or missing stream key (Authorization: Bearer <stream key>)",
        {"WWW-Authenticate": 'Bearer realm="whip"'},
    )


async def whip_delete(request: web.Request) -> web.Response:
    """DELETE /whip/{show}/{session}: the publisher stops streaming, which ends the show
    (or, if nothing of it aired yet, puts it back as it was)."""
    # A client may close its connection before it DELETEs (whip.js does): the session
    # it names is then the publisher that just left, and the DELETE still ends the show.
    stopped = await request.app[ONAIR].stop_publishing(
        request.match_info["show"], request.match_info["session"]
    )
    if not stopped:
        raise error(404, "no such WHIP session")
    return web.Response(status=200)


async def whep_clock(request: web.Request) -> web.Response:
    """GET /whep/{show}/{session}: how this session's RTP timestamps map to program time.

    `rtpOrigin` is the RTP timestamp of program pts 0 (null until the first frames went
    out): a page reads the rtpTimestamp of the frame on screen (requestVideoFrameCallback)
    and shows what the program showed at pts = rtpTimestamp - rtpOrigin (mod 2^32).
    """
    live = request.app[ONAIR].get(request.match_info["show"])
    viewer = live.viewer(request.match_info["session"]) if live else None
    if viewer is None:
        raise error(404, "no such WHEP session")
    return web.json_response(
        {"rtpOrigin": viewer.rtp_origin, "clockRate": 90000},
        headers={"Cache-Control": "no-store"},
    )


async def whip_patch(request: web.Request) -> web.Response:
    """PATCH /whip/{show}/{session}: trickle ICE (RFC 9725 section 4.3)."""
    live = request.app[ONAIR].get(request.match_info["show"])
    publisher = live.publisher_session(request.match_info["session"]) if live else None
    if publisher is None:
        raise error(404, "no such WHIP session")
    return await _trickle(request, publisher)


async def whep_patch(request: web.Request) -> web.Response:
    """PATCH /whep/{show}/{session}: trickle ICE, as for WHIP."""
    live = request.app[ONAIR].get(request.match_info["show"])
    viewer = live.viewer(request.match_info["session"]) if live else None
    if viewer is None:
        raise error(404, "no such WHEP session")
    return await _trickle(request, viewer)


async def _trickle(request: web.Request, session: Publisher | Viewer) -> web.Response:
    """Add the candidates of an `application/trickle-ice-sdpfrag` body: 204.

    An ICE restart (If-Match: *, or other ICE credentials) is refused with 422: aiortc
    cannot restart ICE (media/trickle.py), and the session keeps its ICE session. An
    If-Match naming another ICE session is 412. A PATCH without If-Match is taken (RFC
    9725 asks clients to send one; being lenient costs nothing with one ICE session).
    """
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != TRICKLE:
        raise error(415, f"send trickle ICE candidates as {TRICKLE}")
    if_match = [tag.strip() for tag in request.headers.get("If-Match", "").split(",")]
    if "*" in if_match:
        raise error(422, "ICE restart is not supported; publish again instead")
    if if_match != [""] and session.ice_tag not in if_match:
        raise error(412, "If-Match does not name this session's ICE session")
    body = await read_limited(request, MAX_FRAGMENT_BYTES)
    try:
        fragment = parse_fragment(body.decode("utf-8"))
    except (UnicodeDecodeError, FragmentError) as exc:
        raise error(400, f"the body is not an SDP fragment ({exc})") from None
    try:
        await session.trickle(fragment)
    except IceRestartUnsupported:
        raise error(422, "ICE restart is not supported; publish again instead") from None
    return web.Response(status=204, headers={"ETag": session.ice_tag})


# -- WHEP ---------------------------------------------------------------------------------


async def whep_post(request: web.Request) -> web.Response:
    """POST /whep/{show}: a viewer plays the program; 201 with the answer."""
    show = await _show(request)
    onair = request.app[ONAIR]
    live = onair.get(show.id)
    if live is None or live.ended:
        if show.state == "scheduled":
            message = "the show has not started yet"
        else:
            message = "the show is not live (it has ended)"
        raise error(409, message)
    offer = await _offer(request)
    who = await viewer_id(request)  # for the analytics (a keyed hash of it is kept)
    settings = request.app[SETTINGS]
    # The host's program preview in the studio (?preview=host, logged in) is not counted
    # in "N watching"; without a login the flag means nothing.
    preview = request.query.get("preview") == "host" and await current_user(request) is not None
    _admit(request, preview)
    address = client_address(request, settings.trusted_proxy)
    # Counted per address group: an IPv6 client has a whole /64 to pick addresses from.
    group = address_group(address)
    per_ip = request.app[SESSIONS_PER_IP]
    if per_ip[group] >= settings.max_sessions_per_ip:
        raise error(429, "too many sessions from your address", {"Retry-After": RETRY_AFTER})
    # The seat is taken before negotiating (it takes a while): POSTs arriving together
    # from one address must not all pass the check above.
    per_ip[group] += 1
    negotiated = ""  # the viewer's id once negotiated (for the preview's release)

    def released() -> None:
        per_ip[group] -= 1
        if per_ip[group] <= 0:
            del per_ip[group]
        if preview:
            onair.remove_preview(show.id, negotiated)
        onair.viewers_changed(show.id)

    try:
        viewer = await _negotiate_viewer(request, live, offer, address)
    except BaseException:
        released()
        raise
    assert viewer.subscriber is not None
    negotiated = viewer.id
    if preview:
        onair.add_preview(show.id, viewer.id)
    viewer.subscriber.on_close.append(released)
    # Analytics: a viewer session from now until its subscription closes. The host's
    # program preview is no viewer (like the host's replay previews: no views).
    if not preview:
        audience = request.app[AUDIENCE]
        watch = audience.joined(show.id, who)
        viewer.subscriber.on_close.append(lambda: audience.left(watch))
    onair.viewers_changed(show.id)
    return _created(request, f"/whep/{show.id}/{viewer.id}", viewer.answer_sdp, viewer.ice_tag)


def _admit(request: web.Request, preview: bool) -> None:
    """503 a new viewer while the server is at its limit (media/load.py): the page then
    plays HLS, and the host and everyone watching keep a whole show. The host's own
    preview is always let in."""
    load = request.app[SERVER_LOAD]
    limit = request.app[SETTINGS].max_server_load
    if preview or limit >= 1.0 or load.load < limit:
        return
    turned_away = request.app[TURNED_AWAY]
    turned_away[0] += 1
    if turned_away[0] % 100 == 1:  # the first, then every hundredth: a crowd, not a flood
        log.warning(
            "WHEP: server load %.2f is over max_server_load %.2f: new viewers get HLS "
            "(%d turned away so far)",
            load.load,
            limit,
            turned_away[0],
        )
    raise error(
        503,
        "this server is at its limit right now; standard latency (HLS) instead",
        {"Retry-After": RETRY_AFTER},
    )


async def _negotiate_viewer(
    request: web.Request, live: LiveShow, offer: str, address: str
) -> Viewer:
    reached = server_address(request, request.app[SETTINGS].trusted_proxy)
    with request.app[NEGOTIATIONS].slot(publisher=False):
        try:
            viewer = await live.play(offer, address=address, reached=reached)
        except ShowFull:
            raise error(
                503,
                "this show is full right now; retrying shortly",
                {"Retry-After": RETRY_AFTER},
            ) from None
        except ShowEnded:
            raise error(409, "the show is not live (it has ended)") from None
        except OfferError as exc:
            raise domain_error(exc) from None
        except TimeoutError:
            raise error(503, "negotiation timed out", {"Retry-After": "1"}) from None
    assert viewer.subscriber is not None
    if viewer.subscriber.closed:
        # The show ended (or the peer vanished) while we negotiated: nothing to count.
        raise error(409, "the show is not live (it has ended)")
    return viewer


async def whep_delete(request: web.Request) -> web.Response:
    """DELETE /whep/{show}/{session}: the viewer leaves."""
    live = request.app[ONAIR].get(request.match_info["show"])
    session = request.match_info["session"]
    viewer = live.viewer(session) if live else None
    if viewer is None:
        if live is not None and session in live.recent_viewer_ids:
            return web.Response(status=200)  # it had already left on its own
        raise error(404, "no such WHEP session")
    await viewer.close()
    return web.Response(status=200)


def setup(app: web.Application) -> None:
    """Register the signalling routes and their per-app state."""
    settings = app[SETTINGS]
    app[NEGOTIATIONS] = Negotiations(settings.max_negotiations)
    app[SESSIONS_PER_IP] = Counter()
    r = app.router
    for kind, post, delete, patch in (
        ("whip", whip_post, whip_delete, whip_patch),
        ("whep", whep_post, whep_delete, whep_patch),
    ):
        r.add_post(f"/{kind}/{{show}}", post)
        r.add_route("OPTIONS", f"/{kind}/{{show}}", options)
        r.add_delete(f"/{kind}/{{show}}/{{session}}", delete)
        if kind == "whep":
            r.add_get("/whep/{show}/{session}", whep_clock)
        r.add_patch(f"/{kind}/{{show}}/{{session}}", patch)
        r.add_route("OPTIONS", f"/{kind}/{{show}}/{{session}}", options)
