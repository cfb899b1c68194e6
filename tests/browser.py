"""Debian's Chromium under Playwright, as the console's browser tests drive it (headless, a new
profile, no background networking: this machine reaches nothing outside)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
needs_chromium = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                    reason="Debian chromium not installed (provisioning/apt-test.txt)")


@contextlib.asynccontextmanager
async def chromium_page(profile: Path, *extra_args: str) -> AsyncIterator[Any]:
    """A page in a fresh persistent Chromium profile that accepts the console's self-signed certificate."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        ctx = await p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=[*ARGS, *extra_args], headless=True, ignore_https_errors=True)
        ctx.set_default_timeout(30_000)
        try:
            yield ctx.pages[0] if ctx.pages else await ctx.new_page()
        finally:
            await ctx.close()


async def sign_in(page: Any, base: str, user: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
