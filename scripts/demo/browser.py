"""Screenshots of the Home Assistant frontend with headless Chromium over the DevTools protocol."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
import contextlib
import itertools
import json
from pathlib import Path
import shutil
import subprocess
import tempfile
from typing import Any

import aiohttp

from .api import Tokens

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No network but the page's own origin: no updates, no sync, no QUIC, no crash reports.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
    # Names resolve to nothing: the page reaches Home Assistant by IP and nothing else.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def find_chromium() -> str:
    """The Chromium executable on PATH."""
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    raise FileNotFoundError(
        "Chromium not found: `apt-get install chromium` (scripts/screenshots does)"
    )


class Page:
    """One browser tab driven over its DevTools WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Drive the tab behind `ws`."""
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> Any:
        """Call one DevTools method and return its result (events in between are dropped)."""
        ident = next(self._ids)
        await self._ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self._ws.receive_json(), 60)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", within=30)

    async def wait_for(self, expression: str, *, within: float = 30.0) -> None:
        """Wait until a JavaScript expression is truthy."""
        deadline = asyncio.get_running_loop().time() + within
        while not await self.evaluate(f"!!({expression})"):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}")
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> None:
        """Save the visible page as PNG."""
        result = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))


# The frontend's page components live in nested shadow roots; this finds text in any.
DEEP_TEXT = """
(() => {
  const walk = (root) => {
    let text = '';
    for (const node of root.querySelectorAll('*')) {
      if (node.shadowRoot) text += walk(node.shadowRoot);
    }
    return text + (root.textContent || '');
  };
  return walk(document);
})()
"""


@contextlib.asynccontextmanager
async def chromium_page(
    session: aiohttp.ClientSession, *, width: int = 1280, height: int = 900
) -> AsyncIterator[Page]:
    """A headless Chromium tab of `width` x `height` CSS pixels; the browser stops after."""
    with tempfile.TemporaryDirectory(prefix="parcel-handoff-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            for _ in range(200):
                if port_file.exists() and port_file.read_text().strip():
                    break
                await asyncio.sleep(0.1)
            port = int(port_file.read_text().splitlines()[0])
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = json.loads(await response.text())
            target = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                await page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                yield page
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def log_in(page: Page, base_url: str, tokens: Tokens) -> None:
    """Give the frontend on `base_url` the tokens of a logged-in user."""
    await page.goto(f"{base_url}/auth/authorize?response_type=code&client_id={base_url}/")
    storage = json.dumps(json.dumps(tokens.as_frontend_storage(base_url)))
    await page.evaluate(f"localStorage.setItem('hassTokens', {storage})")
    await page.evaluate("localStorage.setItem('selectedLanguage', JSON.stringify('en'))")


async def capture(
    page: Page, url: str, path: Path, *, expect_text: tuple[str, ...], settle: float = 2.0
) -> None:
    """Open `url`, wait until every text of `expect_text` shows, then screenshot it."""
    await page.goto(url)
    checks = " && ".join(f"t.includes({json.dumps(text)})" for text in expect_text) or "true"
    await page.wait_for(f"(t => {checks})({DEEP_TEXT})", within=45)
    await asyncio.sleep(settle)  # let fonts, icons and history charts finish drawing
    await page.screenshot(path)
