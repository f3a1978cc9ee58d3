"""Real-browser tests: Playwright driving Debian's Chromium against Django's live server.

Every test here is marked `browser` (the SQLite run skips them; `make test` runs them on
PostgreSQL). Calendar writes run eagerly in the live server's thread, so a test can read the
event back from the simulator as soon as the page shows the booking.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    """With production settings (hashed static files from collectstatic, as `make test` runs
    the PostgreSQL pass), the live server must serve STATIC_ROOT like whitenoise does; its
    default handler looks files up by their unhashed source names and would 404 them."""
    from django.conf import settings

    storage = settings.STORAGES["staticfiles"]["BACKEND"]
    if "Manifest" in storage:
        import django.contrib.staticfiles.handlers as handlers
        from django.test.testcases import _StaticFilesHandler

        handlers.StaticFilesHandler = _StaticFilesHandler  # type: ignore[misc]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def _playwright() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(_playwright):  # type: ignore[no-untyped-def]
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    browser = _playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=executable, headless=True, args=["--no-sandbox"]
    )
    yield browser
    browser.close()


def watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    """What went wrong in the page: every console error and uncaught JavaScript error
    (Content-Security-Policy violations included). One kind is allowed: "Failed to load
    resource" for a document, fetch or XHR answered 4xx or 503, because that is a page or an
    API answer the test asks for on purpose and the app shows its message (a refused booking,
    a 404 page, "Exchange isn't answering"). A failed script, style or image, or any other
    5xx, still fails the test."""
    problems: list[str] = []
    answered_4xx: set[str] = set()

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if (
            400 <= response.status < 500 or response.status == 503
        ) and response.request.resource_type in {
            "document",
            "fetch",
            "xhr",
        }:
            answered_4xx.add(response.url)

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and url in answered_4xx:
            return
        problems.append(f"{url}: {message.text}")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
    return problems


def assert_fits(page) -> None:  # type: ignore[no-untyped-def]
    """The page doesn't scroll sideways: nothing is wider than the viewport."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} is {width} px wide in a {viewport} px viewport"


def open_watched(context):  # type: ignore[no-untyped-def]
    """A page in `context`, watched; closes the context and fails on what `watch` saw."""
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = watch(page)
    yield page
    context.close()
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def browser(chromium, live_server, eager_writes, settings):  # type: ignore[no-untyped-def]
    """A fresh browser context (desktop size) on the live server; see `phone` for mobile.
    The test fails if the page breaks the Content-Security-Policy or throws (`watch`)."""
    settings.SITE_URL = live_server.url
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    yield from open_watched(context)


@pytest.fixture
def phone(chromium, live_server, eager_writes, settings):  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url
    context = chromium.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    yield from open_watched(context)


def login(page, username: str, password: str = "staff-password") -> None:  # type: ignore[no-untyped-def]
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


# --- Exchange Online worlds in the browser ---------------------------------------------------

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture
def cloud(request: pytest.FixtureRequest, protocol: str, settings: Any) -> Iterator[Any]:
    """A Graph world the live server's "Connect with Microsoft" can sign in to."""
    assert protocol == "graph"  # named here so the module's parametrize reaches `world`
    # live_server before world: the world's rows must be in the live server's database.
    live_server = request.getfixturevalue("live_server")
    world = request.getfixturevalue("world")
    request.getfixturevalue("eager_writes")
    settings.SITE_URL = live_server.url
    # The session's site app knows only the suite's fixed redirect URI; Entra refuses any
    # other, so register the live server's callback (its port changes every run) as well.
    from django.urls import reverse

    from tests.conftest import SITE_APP_ID, SITE_APP_SECRET, SITE_REDIRECT_URI

    idp = world.sim.identity_provider
    callback = live_server.url + reverse("connection-microsoft-callback")
    idp.register_application(
        SITE_APP_ID, SITE_APP_SECRET, redirect_uris=[SITE_REDIRECT_URI, callback]
    )
    yield world
    idp.register_application(SITE_APP_ID, SITE_APP_SECRET, redirect_uris=[SITE_REDIRECT_URI])


@pytest.fixture
def tabs(chromium: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """Opens watched pages, each in a fresh context; at the end the contexts close and the
    test fails on any console error or uncaught exception one of them saw."""
    contexts: list[Any] = []
    seen: list[list[str]] = []

    def open_tab(size: str = "desktop", **options: Any) -> Any:
        context = chromium.new_context(base_url=live_server.url, **SIZES[size], **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        seen.append(watch(page))
        return page

    yield open_tab
    for context in contexts:
        context.close()
    problems = [problem for page_problems in seen for problem in page_problems]
    assert not problems, "the browser reported:\n" + "\n".join(problems)
