"""Headless Debian Chromium driven by Playwright (never a downloaded browser).

Screenshots of the pages a test visits go to var/screenshots/ for review."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def browser(django_db_setup, monkeypatch):
    """One browser per test, started after the database is up (and stopped before it goes):
    Playwright's sync API keeps an event loop on this thread, and the ORM calls a test makes
    between browser steps are plain synchronous calls Django would otherwise refuse. Tests on
    Django's live server request `live_server` before `page`, so it stops after the browser."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        # ORM calls made while Playwright's loop exists keep their connection in a context of
        # their own, which the database teardown never sees: close it here
        from django.db import connections

        connections.close_all()


@pytest.fixture
def new_page(browser):
    """new_page() -> a page in a fresh browser context (its own cookies: one user each)."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def start_stack(procs, spot_btc_files, var_dir, node_name, tmp_path, **document_fields) -> dict:
    """The real stack: simulated venue (20x), node quoting, console server, panel relay."""
    from tests.integration.harness import (
        node_document,
        start_node,
        start_panel_relay,
        start_simvenue,
        start_web,
        venue_open_orders,
        wait_for,
    )

    venue = start_simvenue(procs, list(spot_btc_files), speed="20")
    document = node_document(node_name, venue, **document_fields)
    node = start_node(procs, var_dir, document, tmp_path / "node.json")
    web = start_web(procs)
    start_panel_relay(procs)
    node.wait_trading(timeout=120)
    wait_for(lambda: venue_open_orders(venue), 60, "quotes resting at the venue")
    return {"procs": procs, "venue": venue, "node": node, "web": web, "base": f"http://127.0.0.1:{web}",
            "name": node_name}  # fmt: skip


@pytest.fixture
def stack(procs, spot_btc_files, var_dir, node_name, tmp_path):
    return start_stack(procs, spot_btc_files, var_dir, node_name, tmp_path)


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#sign-in")
    page.wait_for_url(f"{base_url}/")
