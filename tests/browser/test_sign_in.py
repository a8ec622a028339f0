"""Signing in to the console in a real browser."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_see_the_overview_and_sign_out(live_server, page, make_user, screenshot):
    user = make_user("viewer")
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/login/?next=/", "the console needs a signed-in user"
    screenshot(page, "login")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("#sign-in")
    assert page.locator("#login-error").is_visible()
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("#signed-in-as").inner_text() == user.username
    assert page.locator("h1", has_text="Nodes").is_visible()
    screenshot(page, "overview")
    page.click("#logout")
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url, "signed out for real"


def test_repeated_failures_lock_the_sign_in(live_server, page, make_user, screenshot):
    user = make_user("operator")
    for _ in range(5):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "wrong-password-123")
        page.click("#sign-in")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in")
    assert page.locator("#locked-out").is_visible(), "locked even with the right password"
    screenshot(page, "locked-out")
