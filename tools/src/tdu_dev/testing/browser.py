"""A real browser for the web pages' tests: Debian's Chromium driven by Playwright, axe-core in each page.

No browser is downloaded at test time: ``make install`` installs the ``chromium`` package and the web
service's npm packages (axe-core among them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from tdu_dev.infra.paths import Paths

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""As root on a closed network: no sandbox, and no background connections to Google's hosts."""


def axe_script() -> Path:
    return Paths.discover().root / "services" / "web" / "node_modules" / "axe-core" / "axe.min.js"


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run `make install` (installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (rule, targets)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


class Pages:
    """Each page visited: a full-page screenshot in ``folder`` and an axe-core check."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.seen: list[str] = []
        self.violations: dict[str, list[str]] = {}

    def check(self, page: Page, name: str) -> Path:
        page.wait_for_load_state("load")
        shot = self.folder / f"{len(self.seen) + 1:02d}-{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        page.screenshot(path=str(shot), full_page=True)
        self.seen.append(name)
        found = serious_violations(page)
        if found:
            self.violations[f"{name} ({page.url})"] = found
        return shot
