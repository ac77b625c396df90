"""Fixtures for the participant-flow tests: a Chromium driven by Playwright against live_server."""

import pytest


@pytest.fixture
def site(live_server, settings, transactional_db):
    """The live server with media served (test-only URLconf); returns its base URL."""
    settings.ROOT_URLCONF = "tests.participant.urls"
    return live_server.url


@pytest.fixture
def page(browser, site):
    """A fresh browser context (own cookies) and page, sized like a laptop screen."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    try:
        yield pg
    finally:
        context.close()
