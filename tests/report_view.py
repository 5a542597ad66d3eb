"""Open a `report.html` the way a person does: headless Debian Chromium at 1400 × 900, offline.

Shared by the report's unit tests and the quickstart's end-to-end test. Playwright runs in its own
thread: a session-scoped Playwright of the browser tests may hold the test thread's event loop.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("OLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 900}

# What is inside the first screen: the summary, and each leaderboard row (its contributor cell's text).
FIRST_SCREEN = """() => {
  const inView = (el) => {
    const r = el.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
  };
  const board = [...document.querySelectorAll("section")].find((s) => s.querySelector("h2")?.textContent === "Leaderboard");
  const rows = board ? [...board.querySelectorAll("tbody tr")] : [];
  const summary = document.querySelector("#summary");
  return {
    summary: summary ? summary.innerText : "",
    summary_visible: summary ? inView(summary) : false,
    rows: rows.map((r) => ({ contributor: r.cells[1].innerText, visible: inView(r) })),
    figures: document.querySelectorAll(".js-plotly-plot").length,
    inner_scroll: [...document.querySelectorAll("table")].some((t) => t.scrollWidth > t.clientWidth + 1
        || t.parentElement.scrollHeight > t.parentElement.clientHeight + 1 && getComputedStyle(t.parentElement).overflowY !== "visible"),
  };
}"""


def view_report(path: Path, screenshot: str) -> dict[str, Any]:
    """Load `path`, wait until every figure is drawn, screenshot the first screen to test-artifacts/`screenshot`.png.

    Returns what is on the first screen (see FIRST_SCREEN) plus `errors` (page errors) and `external`
    (requests that left the file).
    """
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {"errors": [], "external": []}

    def browse() -> None:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.on(
                    "request",
                    lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else seen["external"].append(r.url),
                )
                page.on("pageerror", lambda e: seen["errors"].append(str(e)))
                page.goto(path.as_uri())
                page.wait_for_function("document.body.dataset.figures === 'drawn'", timeout=60_000)
                seen.update(page.evaluate(FIRST_SCREEN))
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"))  # the first screen, for a person to look at
                seen["bars"] = page.locator("#olab-figure-1 .bars .point").count()
                seen["shares_text"] = page.inner_text("#olab-figure-1")
            finally:
                browser.close()

    def guarded() -> None:
        try:
            browse()
        except BaseException as e:  # re-raised below, in the test's own thread
            seen["error"] = e

    worker = threading.Thread(target=guarded)
    worker.start()
    worker.join(timeout=180)
    if "error" in seen:
        raise seen["error"]
    return seen
