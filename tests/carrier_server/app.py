"""The aiohttp application: each service's wire format at its real paths, plus `/_control`.

Paths served (each counted per source and per path, and open to injected faults):

- Cainiao: `GET /global/detail.json?mailNos=a,b`
- USPS: `POST /oauth2/v3/token`, `POST /tracking/v3r2/tracking`,
  `GET /tracking/v3/tracking/{number}`
- 17TRACK: `POST /track/v2.2/register`, `/gettrackinfo`, `/getquota`
- AfterShip: `POST|GET /tracking/2024-10/trackings`, `GET /tracking/2024-10/trackings/{id}`,
  `GET /tracking/2024-10/couriers`
- Control: `POST /_control/clock`, `POST|DELETE /_control/fault`, `GET /_control/stats`,
  `POST /_control/reset`, `POST /_control/mode`
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
import json
from typing import Any, Final
from urllib.parse import parse_qsl
import uuid

from aiohttp import web

from .renderers import (
    USPS_NO_STATUS_YET,
    USPS_NOT_AVAILABLE,
    aftership_tracking,
    cainiao_module,
    seventeen_track_item,
    usps_detail,
    usps_error,
)
from .state import RECORDED_HEADERS, AfterShipTracking, Fault, RequestRecord, ServerState

STATE: Final = web.AppKey("state", ServerState)

USPS_MAX_BATCH: Final = 35
SEVENTEEN_TRACK_MAX_BATCH: Final = 40
AFTERSHIP_MAX_NUMBERS: Final = 50

BLOCK_PAGE: Final = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Verification</title>
<script>
window._config_ = {"action": "captcha", "url": "/_____tmd_____/punish?x5secdata=xx"};
</script>
</head><body><div id="nocaptcha">Please slide to verify</div></body></html>
"""

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def source_for_path(path: str) -> str:
    """Which service a path belongs to."""
    if path.startswith("/global/"):
        return "cainiao"
    if path.startswith(("/oauth2/", "/tracking/v3")):
        return "usps"
    if path.startswith("/track/v2.2/"):
        return "17track"
    if path.startswith("/tracking/2024-10/"):
        return "aftership"
    return "unknown"


def _numbers(values: Iterable[object]) -> list[str]:
    return ["".join(str(value).split()).upper() for value in values]


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return dict(parse_qsl(raw.decode("utf-8", "replace")))


# --- Faults ------------------------------------------------------------------------------


def _success_false(source: str) -> web.Response:
    if source == "cainiao":
        body: Any = {
            "success": False,
            "errorCode": "SYSTEM_ERROR",
            "errorMsg": "system busy, please try again later",
        }
    elif source == "17track":
        error = {"code": -18010003, "message": "Internal service error."}
        body = {"code": -18010003, "data": {"errors": [error]}}
    elif source == "aftership":
        body = {
            "meta": {"code": 500, "message": "Something went wrong.", "type": "InternalError"},
            "data": {},
        }
    else:
        body = usps_error("500", "Internal server error", http_status=500, api="/tracking/v3r2")
    return web.json_response(body)


async def _apply_fault(
    fault: Fault, source: str, request: web.Request, handler: Handler
) -> web.StreamResponse:
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    match fault.kind:
        case "timeout":
            await asyncio.sleep(fault.delay)
            return await handler(request)
        case "rate_limit":
            return web.json_response(
                {"message": "Too Many Requests"}, status=fault.status or 429, headers=headers
            )
        case "server_error":
            return web.Response(
                text="Internal Server Error", status=fault.status or 500, headers=headers
            )
        case "unavailable":
            return web.Response(text="Service Unavailable", status=503, headers=headers)
        case "html_block":
            return web.Response(
                text=BLOCK_PAGE, status=fault.status or 200, content_type="text/html"
            )
        case "truncated_json":
            response = await handler(request)
            assert isinstance(response, web.Response)
            raw = response.body if isinstance(response.body, bytes) else b""
            return web.Response(
                body=raw[: len(raw) // 2],
                status=response.status,
                content_type="application/json",
            )
        case "success_false":
            return _success_false(source)
        case "expire_token":
            request.app[STATE].usps_tokens.clear()
            return _usps_unauthorized()
        case "oversized":
            return await _oversized(request, await handler(request), source, fault)
        case _:
            return web.Response(
                text=fault.body or "{}",
                status=fault.status or 400,
                content_type="application/json",
                headers=headers,
            )


_OVERSIZED_CHUNK: Final = 64 * 1024


async def _oversized(
    request: web.Request, real: web.StreamResponse, source: str, fault: Fault
) -> web.StreamResponse:
    """The real answer grown to `fault.size` bytes of well-formed JSON, never held whole.

    Cainiao's module list repeats the first real module (a portal gone haywire); the
    other sources' answers are followed by whitespace. Written chunk by chunk, so a
    client that stops reading stops the server too.
    """
    assert isinstance(real, web.Response)
    raw = real.body if isinstance(real.body, bytes) else b""
    head, item, tail = raw, b" ", b""
    if source == "cainiao":
        modules = json.loads(raw).get("module") or [{}]
        module = json.dumps(modules[0], separators=(",", ":")).encode()
        head, item, tail = b'{"success":true,"module":[', module + b",", module + b"]}"
    response = web.StreamResponse(status=real.status)
    response.content_type = "application/json"
    if fault.declare_length:
        response.content_length = fault.size
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = item * max(1, _OVERSIZED_CHUNK // len(item))
    left = fault.size - len(head) - len(tail)
    try:
        await response.write(head)
        while left >= len(chunk):
            await response.write(chunk)
            left -= len(chunk)
        # JSON allows any whitespace between the list's entries.
        await response.write(b" " * max(left, 0) + tail)
        await response.write_eof()
    except ConnectionError:
        pass  # the client stopped reading: exactly what a bounded client does
    return response


@web.middleware
async def carrier_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request, then answer it normally or with the first matching fault."""
    if request.path.startswith("/_control/"):
        return await handler(request)
    state = request.app[STATE]
    source = source_for_path(request.path)
    state.record(
        RequestRecord(
            source=source,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=await _body(request),
            loop_time=asyncio.get_running_loop().time(),
            headers={
                name: request.headers[name] for name in RECORDED_HEADERS if name in request.headers
            },
        )
    )
    if (fault := state.take_fault(source, request.path)) is not None:
        return await _apply_fault(fault, source, request, handler)
    return await handler(request)


# --- Cainiao -----------------------------------------------------------------------------


async def cainiao_detail(request: web.Request) -> web.Response:
    """`detail.json`: one module per requested number, unknown ones as EXTERNAL."""
    state = request.app[STATE]
    modules = []
    for number in _numbers(n for n in request.query.get("mailNos", "").split(",") if n):
        state.poll("cainiao", number)
        track = state.track("cainiao", number)
        visible = state.visible(track) if track else []
        modules.append(cainiao_module(number, track, visible))
    return web.json_response({"module": modules, "success": True})


# --- USPS --------------------------------------------------------------------------------


def _usps_unauthorized() -> web.Response:
    body = usps_error("401", "Unauthorized: invalid or expired token", http_status=401, api="")
    return web.json_response(body, status=401)


async def usps_token(request: web.Request) -> web.Response:
    """OAuth 2.0 client credentials, JSON or form body."""
    state = request.app[STATE]
    body = await _body(request)
    body = body if isinstance(body, dict) else {}
    if body.get("grant_type") != "client_credentials":
        return web.json_response(
            {"error": "unsupported_grant_type", "error_description": "grant_type is invalid"},
            status=400,
        )
    if (
        body.get("client_id") != state.usps_client_id
        or body.get("client_secret") != state.usps_client_secret
    ):
        return web.json_response(
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            status=401,
        )
    token = f"usps-token-{uuid.uuid4().hex}"
    state.usps_issued_tokens.append(token)
    state.usps_tokens[token] = asyncio.get_running_loop().time() + state.usps_token_ttl
    return web.json_response(
        {
            "access_token": token,
            "token_type": "Bearer",
            "issued_at": int(state.current_time().timestamp() * 1000),
            "expires_in": state.usps_token_ttl,
            "status": "approved",
            "scope": "tracking",
            "issuer": "api.usps.com",
        }
    )


def _usps_authorized(request: web.Request) -> bool:
    state = request.app[STATE]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expiry = state.usps_tokens.get(token)
    return scheme == "Bearer" and expiry is not None and expiry > asyncio.get_running_loop().time()


def _usps_answer(state: ServerState, number: str) -> tuple[dict[str, Any], int]:
    """A number's tracking detail, or its error body: (entry, HTTP status)."""
    state.poll("usps", number)
    track = state.track("usps", number)
    if track is None:
        code, message = USPS_NOT_AVAILABLE
        return usps_error(code, message, http_status=404, api="/tracking/v3r2"), 404
    detail = usps_detail(number, track, state.visible(track))
    if detail is None:
        code, message = USPS_NO_STATUS_YET
        return usps_error(code, message, http_status=400, api="/tracking/v3r2"), 400
    return detail, 200


async def usps_track_v3r2(request: web.Request) -> web.Response:
    """Tracking 3.2: a list of numbers in, one entry each out (207 when some failed)."""
    state = request.app[STATE]
    if not state.usps_v3r2_enabled:
        return web.Response(text="Not Found", status=404)
    if not _usps_authorized(request):
        return _usps_unauthorized()
    body = await _body(request)
    if not isinstance(body, list) or not body or len(body) > USPS_MAX_BATCH:
        error = usps_error(
            "150000",
            f"The request must list 1 to {USPS_MAX_BATCH} tracking numbers.",
            http_status=400,
            api="/tracking/v3r2",
        )
        return web.json_response(error, status=400)
    entries: list[dict[str, Any]] = []
    for item in body:
        number = _numbers([item.get("trackingNumber", "")])[0]
        entry, status = _usps_answer(state, number)
        entries.append({**entry, "statusCode": str(status), "trackingNumber": number})
    failed = any(entry["statusCode"] != "200" for entry in entries)
    if not failed:
        for entry in entries:
            entry.pop("statusCode")
    return web.json_response(entries, status=207 if failed else 200)


async def usps_track_v3(request: web.Request) -> web.Response:
    """Tracking 3.0: one number per request."""
    state = request.app[STATE]
    if not _usps_authorized(request):
        return _usps_unauthorized()
    number = _numbers([request.match_info["number"]])[0]
    entry, status = _usps_answer(state, number)
    if status != 200:
        entry["apiVersion"] = "/tracking/v3"
    return web.json_response(entry, status=status)


# --- 17TRACK -----------------------------------------------------------------------------


def _st_error(code: int, message: str, *, status: int = 200) -> web.Response:
    return web.json_response(
        {"code": code, "data": {"errors": [{"code": code, "message": message}]}}, status=status
    )


def _st_items(body: Any) -> list[dict[str, Any]] | None:
    if not isinstance(body, list) or len(body) > SEVENTEEN_TRACK_MAX_BATCH:
        return None
    return [item for item in body if isinstance(item, dict)]


def _st_rejected(number: str, code: int, message: str) -> dict[str, Any]:
    return {"number": number, "error": {"code": code, "message": message}}


async def _st_guard(request: web.Request) -> web.Response | None:
    if request.headers.get("17token") != request.app[STATE].seventeen_track_key:
        return _st_error(-18010002, "Invalid access key.", status=401)
    return None


async def st_register(request: web.Request) -> web.Response:
    """Register numbers: each costs one quota unit; repeats and unknown carriers rejected."""
    if (denied := await _st_guard(request)) is not None:
        return denied
    state = request.app[STATE]
    items = _st_items(await _body(request))
    if items is None:
        return _st_error(-18010014, "The number of tracking numbers exceeds the limit of 40.")
    accepted, rejected = [], []
    for item in items:
        number = _numbers([item.get("number", "")])[0]
        track = state.track("17track", number)
        hint = item.get("carrier") or (track.header.get("carrier") if track else None)
        carrier = int(hint) if isinstance(hint, int | str) else 0
        if number in state.seventeen_track_registered:
            rejected.append(
                _st_rejected(
                    number,
                    -18019901,
                    f"The tracking number '{number}' has been registered, "
                    "don't need to repeat registration.",
                )
            )
        elif state.seventeen_track_quota_used >= state.seventeen_track_quota_total:
            rejected.append(
                _st_rejected(number, -18019908, "The quota is not enough, please recharge.")
            )
        elif not carrier:
            rejected.append(_st_rejected(number, -18019903, "The carrier cannot be detected."))
        else:
            state.seventeen_track_registered[number] = carrier
            state.seventeen_track_quota_used += 1
            accepted.append({"origin": 1, "number": number, "carrier": carrier})
    return web.json_response({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})


async def st_track(request: web.Request) -> web.Response:
    """Track registered numbers."""
    if (denied := await _st_guard(request)) is not None:
        return denied
    state = request.app[STATE]
    items = _st_items(await _body(request))
    if items is None:
        return _st_error(-18010014, "The number of tracking numbers exceeds the limit of 40.")
    accepted, rejected = [], []
    for item in items:
        number = _numbers([item.get("number", "")])[0]
        carrier = state.seventeen_track_registered.get(number)
        if carrier is None:
            rejected.append(
                _st_rejected(
                    number,
                    -18019902,
                    f"The tracking number '{number}' does not register, please register first.",
                )
            )
            continue
        state.poll("17track", number)
        track = state.track("17track", number)
        accepted.append(
            seventeen_track_item(
                number,
                track,
                state.visible(track) if track else [],
                carrier=carrier,
                now=state.current_time(),
            )
        )
    return web.json_response({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})


async def st_quota(request: web.Request) -> web.Response:
    """The account's registration quota."""
    if (denied := await _st_guard(request)) is not None:
        return denied
    state = request.app[STATE]
    total, used = state.seventeen_track_quota_total, state.seventeen_track_quota_used
    return web.json_response(
        {
            "code": 0,
            "data": {
                "quota_total": total,
                "quota_used": used,
                "quota_remain": max(0, total - used),
                "today_used": used,
                "max_track_daily": 10000,
                "free_email_quota": 0,
                "free_email_quotaused": 0,
            },
        }
    )


# --- AfterShip ---------------------------------------------------------------------------


def _as_reply(code: int, message: str, data: Any, *, status: int | None = None) -> web.Response:
    kind = {200: "OK", 201: "Created", 401: "Unauthorized", 404: "NotFound"}.get(code, "BadRequest")
    return web.json_response(
        {"meta": {"code": code, "message": message, "type": kind}, "data": data},
        status=status or (code if code < 1000 else 400),
    )


def _as_guard(request: web.Request) -> web.Response | None:
    if request.headers.get("as-api-key") != request.app[STATE].aftership_key:
        return _as_reply(401, "Invalid API key.", {})
    return None


def _as_render(state: ServerState, tracking: AfterShipTracking, *, poll: bool) -> dict[str, Any]:
    if poll:
        state.poll("aftership", tracking.number)
    track = state.track("aftership", tracking.number)
    return aftership_tracking(
        tracking.number,
        track,
        state.visible(track) if track else [],
        tracking_id=tracking.id,
        slug=tracking.slug,
        created_at=tracking.created_at,
        now=state.current_time(),
    )


async def as_create(request: web.Request) -> web.Response:
    """Create a tracking; an existing one is meta code 4003."""
    if (denied := _as_guard(request)) is not None:
        return denied
    state = request.app[STATE]
    body = await _body(request)
    body = body if isinstance(body, dict) else {}
    raw_number = body.get("tracking_number")
    if not isinstance(raw_number, str) or not raw_number.strip():
        return _as_reply(4007, "tracking_number is required.", {})
    number = _numbers([raw_number])[0]
    if (existing := state.aftership_trackings.get(number)) is not None:
        return _as_reply(
            4003,
            "Tracking already exists.",
            {"id": existing.id, "tracking_number": number, "slug": existing.slug},
        )
    track = state.track("aftership", number)
    slug = body.get("slug") or (track.header.get("slug") if track else None)
    if not slug:
        return _as_reply(
            4012,
            "Unable to import shipment as we don't recognize the carrier from this "
            "tracking number.",
            {},
        )
    tracking = AfterShipTracking(
        id=uuid.uuid4().hex[:24], number=number, slug=slug, created_at=state.current_time()
    )
    state.aftership_trackings[number] = tracking
    return _as_reply(201, "Created", _as_render(state, tracking, poll=False))


async def as_list(request: web.Request) -> web.Response:
    """List trackings, filtered by `tracking_numbers` (at most 50)."""
    if (denied := _as_guard(request)) is not None:
        return denied
    state = request.app[STATE]
    wanted = [n for n in request.query.get("tracking_numbers", "").split(",") if n.strip()]
    if len(wanted) > AFTERSHIP_MAX_NUMBERS:
        return _as_reply(4008, "The value of tracking_numbers is invalid.", {})
    limit = int(request.query.get("limit", "100"))
    numbers = _numbers(wanted) if wanted else list(state.aftership_trackings)
    found = [state.aftership_trackings[n] for n in numbers if n in state.aftership_trackings]
    trackings = [_as_render(state, tracking, poll=True) for tracking in found[:limit]]
    pagination = {"total": len(found), "next_cursor": None, "has_next_page": len(found) > limit}
    return _as_reply(200, "OK", {"pagination": pagination, "trackings": trackings})


async def as_get(request: web.Request) -> web.Response:
    """One tracking by id."""
    if (denied := _as_guard(request)) is not None:
        return denied
    state = request.app[STATE]
    for tracking in state.aftership_trackings.values():
        if tracking.id == request.match_info["id"]:
            return _as_reply(200, "OK", _as_render(state, tracking, poll=True))
    return _as_reply(4004, "Tracking does not exist.", {}, status=404)


async def as_couriers(request: web.Request) -> web.Response:
    """The account's couriers."""
    if (denied := _as_guard(request)) is not None:
        return denied
    couriers = [
        {
            "slug": "usps",
            "name": "USPS",
            "phone": "+1 800-275-8777",
            "web_url": "https://www.usps.com",
        },
        {
            "slug": "cainiao",
            "name": "Cainiao",
            "phone": None,
            "web_url": "https://global.cainiao.com",
        },
    ]
    return _as_reply(200, "OK", {"total": len(couriers), "couriers": couriers})


# --- Control -----------------------------------------------------------------------------


async def control_clock(request: web.Request) -> web.Response:
    """Set the clock (`{"now": iso}`), move it (`{"advance_seconds": n}`) or free it."""
    state = request.app[STATE]
    body = await _body(request) or {}
    if "now" in body:
        state.now = datetime.fromisoformat(body["now"]) if body["now"] else None
    if "advance_seconds" in body:
        state.advance(float(body["advance_seconds"]))
    return web.json_response({"now": state.current_time().isoformat()})


async def control_add_fault(request: web.Request) -> web.Response:
    """Queue a fault: `{"kind": ..., "source": ..., "times": ..., ...}` (see Fault)."""
    state = request.app[STATE]
    body = await _body(request)
    try:
        fault = state.add_fault(**body)
    except (TypeError, ValueError) as err:
        return web.json_response({"error": str(err)}, status=400)
    return web.json_response({"queued": fault.kind, "faults": len(state.faults)}, status=201)


async def control_clear_faults(request: web.Request) -> web.Response:
    """Forget every queued fault."""
    request.app[STATE].clear_faults()
    return web.json_response({"faults": 0})


async def control_stats(request: web.Request) -> web.Response:
    """Request counters per source and per path, polls, clock, pending faults."""
    return web.json_response(request.app[STATE].stats())


async def control_reset(request: web.Request) -> web.Response:
    """Zero the counters and the request log."""
    request.app[STATE].reset_stats()
    return web.json_response({"reset": True})


async def control_mode(request: web.Request) -> web.Response:
    """Switch advance-on-poll (`{"advance_on_poll": bool}`) and the USPS 3.2 endpoint."""
    state = request.app[STATE]
    body = await _body(request) or {}
    if "advance_on_poll" in body:
        state.advance_on_poll = bool(body["advance_on_poll"])
    if "usps_v3r2_enabled" in body:
        state.usps_v3r2_enabled = bool(body["usps_v3r2_enabled"])
    return web.json_response(
        {"advance_on_poll": state.advance_on_poll, "usps_v3r2_enabled": state.usps_v3r2_enabled}
    )


def create_app(state: ServerState) -> web.Application:
    """The carrier server application serving `state`."""
    app = web.Application(middlewares=[carrier_middleware])
    app[STATE] = state
    app.router.add_get("/global/detail.json", cainiao_detail)
    app.router.add_post("/oauth2/v3/token", usps_token)
    app.router.add_post("/tracking/v3r2/tracking", usps_track_v3r2)
    app.router.add_get("/tracking/v3/tracking/{number}", usps_track_v3)
    app.router.add_post("/track/v2.2/register", st_register)
    app.router.add_post("/track/v2.2/gettrackinfo", st_track)
    app.router.add_post("/track/v2.2/getquota", st_quota)
    app.router.add_post("/tracking/2024-10/trackings", as_create)
    app.router.add_get("/tracking/2024-10/trackings", as_list)
    app.router.add_get("/tracking/2024-10/trackings/{id}", as_get)
    app.router.add_get("/tracking/2024-10/couriers", as_couriers)
    app.router.add_post("/_control/clock", control_clock)
    app.router.add_post("/_control/fault", control_add_fault)
    app.router.add_delete("/_control/fault", control_clear_faults)
    app.router.add_get("/_control/stats", control_stats)
    app.router.add_post("/_control/reset", control_reset)
    app.router.add_post("/_control/mode", control_mode)
    return app
