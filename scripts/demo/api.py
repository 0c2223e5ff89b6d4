"""A small client for Home Assistant's own HTTP and WebSocket APIs.

Everything the demo and the end-to-end test do to Home Assistant goes through these
public APIs, the way the frontend does it: onboarding, login, config flows, config
subentry flows, actions, states, registries and the WebSocket event stream.

Like the frontend, the client renews its access token (30 minutes by default) with its
refresh token before it expires, and once more on a 401: a demo runs for hours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
import contextlib
from dataclasses import dataclass
import time
from typing import Any, Self

import aiohttp

JSON = dict[str, Any]


class ApiError(RuntimeError):
    """Home Assistant answered with an error status or an unexpected result."""

    def __init__(self, message: str, *, status: int | None = None, body: object = None) -> None:
        super().__init__(message if status is None else f"{message} (HTTP {status}): {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens of a logged-in user."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_frontend_storage(self, base_url: str) -> JSON:
        """The `hassTokens` value the frontend keeps in localStorage."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "hassUrl": base_url,
            "clientId": f"{base_url}/",
            "expires": int(time.time() * 1000) + self.expires_in * 1000,
            "refresh_token": self.refresh_token,
        }


# Renew the access token when this share of its life is left (at most a minute before).
_RENEW_AT_REMAINING = 0.25
_RENEW_MARGIN_MAX = 60.0


class HomeAssistantApi:
    """One Home Assistant instance, reached at `base_url` (e.g. `http://127.0.0.1:8123`)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        """Use `session` for every request; log in with `onboard` or `login` first."""
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.client_id = f"{self.base_url}/"
        self.tokens: Tokens | None = None
        self.token_renewals = 0
        self._renew_at = 0.0  # loop-independent monotonic time
        self._renew_lock = asyncio.Lock()

    # --- plumbing ----------------------------------------------------------------------

    def _headers(self, path: str) -> dict[str, str]:
        # The auth endpoints take no bearer token: an expired one there would count as a
        # failed login attempt (and a "Login attempt failed" notification).
        if self.tokens is None or path.startswith("/auth/"):
            return {}
        return {"Authorization": f"Bearer {self.tokens.access_token}"}

    def _set_tokens(self, tokens: Tokens) -> Tokens:
        self.tokens = tokens
        margin = min(tokens.expires_in * _RENEW_AT_REMAINING, _RENEW_MARGIN_MAX)
        self._renew_at = time.monotonic() + tokens.expires_in - margin
        return tokens

    async def renew_access_token(self) -> Tokens:
        """A new access token from the refresh token (`grant_type=refresh_token`)."""
        assert self.tokens is not None, "log in first"
        stale = self.tokens.access_token
        refresh_token = self.tokens.refresh_token
        async with self._renew_lock:
            # Renewed by another request meanwhile: nothing to do.
            if self.tokens.access_token == stale:
                answer = await self.request(
                    "POST",
                    "/auth/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_token,
                        "client_id": self.client_id,
                    },
                )
                self._set_tokens(
                    Tokens(
                        access_token=answer["access_token"],
                        refresh_token=refresh_token,
                        expires_in=int(answer["expires_in"]),
                    )
                )
                self.token_renewals += 1
        return self.tokens

    async def _fresh_token(self, path: str) -> None:
        """Renew the access token first when it is about to expire."""
        if (
            self.tokens is not None
            and not path.startswith("/auth/")
            and time.monotonic() >= self._renew_at
        ):
            await self.renew_access_token()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        data: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        """Send one request and return the decoded JSON answer (None when empty).

        A 401 (the token expired while the machine slept, say) renews the token and
        sends the request once more.
        """
        await self._fresh_token(path)
        for attempt in range(2):
            async with self.session.request(
                method, f"{self.base_url}{path}", json=json, data=data, headers=self._headers(path)
            ) as response:
                text = await response.text()
                if (
                    response.status == 401
                    and attempt == 0
                    and self.tokens is not None
                    and not path.startswith("/auth/")
                ):
                    await self.renew_access_token()
                    continue
                if response.status not in expect:
                    raise ApiError(f"{method} {path}", status=response.status, body=text)
                if not text:
                    return None
                return await response.json(content_type=None)
        raise AssertionError("unreachable")  # pragma: no cover

    async def wait_until_up(self, within: float = 60.0) -> None:
        """Wait until Home Assistant answers (and, once logged in, has finished starting)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                if await self._is_up():
                    return
            except (aiohttp.ClientError, ApiError, OSError):
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"Home Assistant did not answer at {self.base_url}")
            await asyncio.sleep(0.25)

    async def _is_up(self) -> bool:
        try:
            await self.request("GET", "/api/onboarding")
        except ApiError as err:
            # Once onboarded, Home Assistant no longer serves the onboarding API at all.
            if err.status != 404:
                raise
        if self.tokens is None:
            return True
        config = await self.request("GET", "/api/config")
        return bool(config.get("state") == "RUNNING")

    # --- onboarding and login ----------------------------------------------------------

    async def onboarding_steps(self) -> dict[str, bool]:
        """Onboarding steps and whether each is done (all done: onboarded)."""
        try:
            steps = await self.request("GET", "/api/onboarding")
        except ApiError as err:
            if err.status == 404:  # onboarded long ago: the onboarding API is gone
                return {}
            raise
        return {step["step"]: bool(step["done"]) for step in steps}

    async def _token_from_code(self, code: str) -> Tokens:
        answer = await self.request(
            "POST",
            "/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        return self._set_tokens(
            Tokens(
                access_token=answer["access_token"],
                refresh_token=answer["refresh_token"],
                expires_in=int(answer["expires_in"]),
            )
        )

    async def onboard(self, *, name: str, username: str, password: str) -> Tokens:
        """Finish onboarding as the frontend does, or log in when it was done before.

        Creates the owner (whose login this returns), accepts the core configuration from
        configuration.yaml, declines analytics and finishes the integration step.
        """
        steps = await self.onboarding_steps()
        if steps.get("user", True):
            await self.login(username, password)
        else:
            answer = await self.request(
                "POST",
                "/api/onboarding/users",
                json={
                    "client_id": self.client_id,
                    "name": name,
                    "username": username,
                    "password": password,
                    "language": "en",
                },
            )
            await self._token_from_code(answer["auth_code"])
        if not steps.get("core_config", True):
            await self.request("POST", "/api/onboarding/core_config", json={})
        if not steps.get("analytics", True):
            await self.request("POST", "/api/onboarding/analytics", json={})
        if not steps.get("integration", True):
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json={
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.base_url}/?auth_callback=1",
                },
            )
        assert self.tokens is not None
        return self.tokens

    async def login(self, username: str, password: str) -> Tokens:
        """Log in with Home Assistant's own username and password provider."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.base_url}/?auth_callback=1",
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json={"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise ApiError(f"login as {username} failed: {result.get('errors')}")
        return await self._token_from_code(result["result"])

    # --- flows -------------------------------------------------------------------------

    async def _drive_flow(self, path: str, first: JSON, answers: Mapping[str, Any]) -> JSON:
        """Answer each form of a flow from `answers` until it ends; return the last result.

        A form gets the answers whose keys its schema has; a menu takes the option named
        by `answers["next_step_id"]` (or its first option).
        """
        result = first
        for _ in range(10):
            match result.get("type"):
                case "form":
                    if result.get("errors"):
                        raise ApiError(f"flow step {result['step_id']}: {result['errors']}")
                    fields = [field["name"] for field in result.get("data_schema") or ()]
                    payload = {key: answers[key] for key in fields if key in answers}
                case "menu":
                    options = list(result["menu_options"])
                    payload = {"next_step_id": answers.get("next_step_id", options[0])}
                case _:
                    return result
            result = await self.request("POST", f"{path}/{result['flow_id']}", json=payload)
        raise ApiError(f"flow {path} did not finish: {result}")

    async def create_config_entry(self, domain: str, answers: Mapping[str, Any]) -> JSON:
        """Add an integration through its config flow, answering each form from `answers`."""
        path = "/api/config/config_entries/flow"
        first = await self.request("POST", path, json={"handler": domain})
        result = await self._drive_flow(path, first, answers)
        if result.get("type") != "create_entry":
            raise ApiError(f"config flow of {domain} ended with {result}")
        entry: JSON = result["result"]
        return entry

    async def create_subentry(
        self, entry_id: str, subentry_type: str, answers: Mapping[str, Any]
    ) -> JSON:
        """Add a config subentry through its flow; returns the flow's final result."""
        path = "/api/config/config_entries/subentries/flow"
        first = await self.request("POST", path, json={"handler": [entry_id, subentry_type]})
        result = await self._drive_flow(path, first, answers)
        if result.get("type") != "create_entry":
            raise ApiError(f"{subentry_type} subentry flow ended with {result}")
        return result

    async def config_entries(self, domain: str) -> list[JSON]:
        """The config entries of `domain`."""
        entries: list[JSON] = await self.request(
            "GET", f"/api/config/config_entries/entry?domain={domain}"
        )
        return entries

    # --- actions and states ------------------------------------------------------------

    async def call_service(
        self, domain: str, service: str, data: Mapping[str, Any] | None = None
    ) -> Any:
        """Call an action over REST; returns the changed states."""
        return await self.request(
            "POST", f"/api/services/{domain}/{service}", json=dict(data or {})
        )

    async def call_service_with_response(
        self, domain: str, service: str, data: Mapping[str, Any] | None = None
    ) -> JSON:
        """Call an action that returns data (`?return_response`); returns its response."""
        answer = await self.request(
            "POST", f"/api/services/{domain}/{service}?return_response", json=dict(data or {})
        )
        response: JSON = answer["service_response"]
        return response

    async def states(self) -> list[JSON]:
        """Every entity's state."""
        states: list[JSON] = await self.request("GET", "/api/states")
        return states

    async def state(self, entity_id: str) -> JSON | None:
        """One entity's state, or None when it has none."""
        try:
            state: JSON = await self.request("GET", f"/api/states/{entity_id}")
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        return state

    # --- WebSocket ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[WebSocket]:
        """An authenticated WebSocket connection."""
        assert self.tokens is not None, "log in first"
        await self._fresh_token("/api/websocket")
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        async with self.session.ws_connect(url, max_msg_size=0) as ws:
            hello = await ws.receive_json()
            if hello.get("type") != "auth_required":
                raise ApiError(f"unexpected WebSocket greeting {hello}")
            await ws.send_json({"type": "auth", "access_token": self.tokens.access_token})
            answer = await ws.receive_json()
            if answer.get("type") != "auth_ok":
                raise ApiError(f"WebSocket authentication failed: {answer}")
            socket = WebSocket(ws)
            reader = asyncio.create_task(socket.read_forever())
            try:
                yield socket
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


class WebSocket:
    """Commands and subscriptions over one WebSocket connection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an authenticated connection; `read_forever` must run beside it."""
        self._ws = ws
        self._next_id = 1
        self._results: dict[int, asyncio.Future[JSON]] = {}
        self._subscriptions: dict[int, asyncio.Queue[JSON]] = {}

    async def read_forever(self) -> None:
        """Dispatch every message to its command's future or subscription's queue."""
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            payload = message.json()
            for item in payload if isinstance(payload, list) else [payload]:
                ident = item.get("id")
                if item.get("type") == "event" and ident in self._subscriptions:
                    self._subscriptions[ident].put_nowait(item["event"])
                elif ident in self._results:
                    self._results.pop(ident).set_result(item)
        for future in self._results.values():
            future.set_exception(ApiError("WebSocket closed"))

    async def command(self, message_type: str, **fields: Any) -> Any:
        """Send one command and return its result."""
        ident = self._next_id
        self._next_id += 1
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._results[ident] = future
        await self._ws.send_json({"id": ident, "type": message_type, **fields})
        answer = await asyncio.wait_for(future, 60)
        if not answer.get("success"):
            raise ApiError(
                f"{message_type} failed: {answer.get('error')}", body=answer.get("error")
            )
        return answer.get("result")

    async def subscribe(self, message_type: str, **fields: Any) -> Subscription:
        """Start a subscription (`subscribe_events`, `subscribe_trigger`, ...)."""
        ident = self._next_id
        queue: asyncio.Queue[JSON] = asyncio.Queue()
        self._subscriptions[ident] = queue
        await self.command(message_type, **fields)
        return Subscription(queue)

    async def subscribe_events(self, event_type: str | None = None) -> Subscription:
        """Every event of `event_type` (all events when None) from now on."""
        fields = {} if event_type is None else {"event_type": event_type}
        return await self.subscribe("subscribe_events", **fields)


class Subscription:
    """The events of one subscription, in order."""

    def __init__(self, queue: asyncio.Queue[JSON]) -> None:
        """Read from `queue`, which the connection fills."""
        self._queue = queue
        self.seen: list[JSON] = []

    async def next(self, within: float) -> JSON:
        """The next event, waiting at most `within` seconds."""
        event = await asyncio.wait_for(self._queue.get(), within)
        self.seen.append(event)
        return event

    async def wait_for(self, predicate: Callable[[JSON], bool], within: float) -> JSON:
        """The first event (seen before or arriving `within` seconds) matching `predicate`."""
        for event in self.seen:
            if predicate(event):
                return event
        deadline = asyncio.get_running_loop().time() + within
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("no matching event")
            event = await self.next(remaining)
            if predicate(event):
                return event

    def __aiter__(self) -> Self:
        """Iterate over the events as they come."""
        return self

    async def __anext__(self) -> JSON:
        """The next event, however long it takes."""
        event = await self._queue.get()
        self.seen.append(event)
        return event
