"""From a model's admin page to its failure modes and its bias summary, in a real browser, on the demo."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.explorer.conftest import all_images_loaded

pytestmark = pytest.mark.browser


def keep_screenshot(page, tmp_path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        shutil.copy(shot, os.path.join(os.environ["SCREENSHOT_DIR"], name))


def test_the_weaker_demo_networks_failures_and_its_star_bias_show_in_the_browser(
    admin_page,
    live_server,
    demo_networks,
    demo_scenes,
    tmp_path,  # noqa: F811
):
    _, weak = demo_networks
    page = admin_page
    page.goto(f"{live_server.url}/admin/studies/classifiermodel/{weak.pk}/change/")
    page.get_by_test_id("model-failures").click()
    page.locator("#id_image_set").select_option(str(demo_scenes.pk))
    page.get_by_role("button", name="Show").click()
    page.get_by_test_id("confusion").wait_for()
    failures = page.get_by_test_id("failure")
    assert failures.count() >= 1
    all_images_loaded(page)
    keep_screenshot(page, tmp_path, "failure_modes.png")

    page.get_by_role("link", name="Bias summary").click()
    page.get_by_test_id("bias-table").wait_for()
    rows = page.get_by_test_id("bias-row")
    assert rows.first.get_attribute("data-class") == "star"
    keep_screenshot(page, tmp_path, "bias_summary.png")
    with page.expect_download() as download:
        page.get_by_test_id("analysis-csv").click()
    assert download.value.suggested_filename.startswith("bias-")
    assert page.js_errors == []
