"""A researcher uses the explorer in a real browser: picks an image, classes and methods, switches the layer."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.explorer.conftest import all_images_loaded

pytestmark = pytest.mark.browser


def test_a_researcher_explores_three_classes_with_four_methods_and_switches_the_layer(
    admin_page, live_server, demo_explorer_world, tmp_path
):
    model, image = demo_explorer_world
    page = admin_page
    page.get_by_role("link", name="Explorer").click()
    page.get_by_test_id("explorer-model").select_option(str(model.pk))
    page.get_by_test_id("explorer-image").select_option(f"item:{image.pk}")
    classes = page.get_by_test_id("explorer-classes")
    classes.fill("star, ci")
    suggested = page.locator("#class-names option").evaluate_all("els => els.map(e => e.value)")
    assert suggested == ["star, circle"]  # autocomplete over the model's class names, one class at a time
    classes.fill("star, circle, ring")
    checked = page.locator("[data-testid=explorer-method]:checked")
    assert sorted(checked.evaluate_all("els => els.map(e => e.value)")) == [
        "counterfactual_gradcam",
        "gradcam",
        "guided_backprop",
        "guided_gradcam",
    ]
    page.get_by_test_id("explorer-submit").click()
    page.get_by_test_id("explorer-results").wait_for()
    tiles = page.get_by_test_id("explorer-tile")
    assert tiles.count() == 12
    assert page.get_by_test_id("explorer-refused").count() == 0
    all_images_loaded(page)
    first = page.locator("[data-testid=explorer-tile][data-method=gradcam][data-class=star] img").first
    deep_src = first.get_attribute("src")
    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        shutil.copy(shot, os.path.join(os.environ["SCREENSHOT_DIR"], "explorer.png"))

    with page.expect_download() as download:
        page.locator(
            "[data-testid=explorer-tile][data-method=gradcam][data-class=star] [data-testid=explorer-npy]"
        ).click()
    assert download.value.suggested_filename.endswith("map.npy")

    page.get_by_test_id("explorer-layer").select_option("features.8")
    page.get_by_test_id("explorer-layer-submit").click()
    page.wait_for_url("**layer=features.8**")
    assert "features.8" in page.locator("h2").first.inner_text()
    all_images_loaded(page)
    shallow = page.locator("[data-testid=explorer-tile][data-method=gradcam][data-class=star] img").first
    assert shallow.get_attribute("src") != deep_src
    assert page.get_by_test_id("explorer-tile").count() == 12

    # A file that is not an image is refused with a message, on the same page.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    page.get_by_test_id("explorer-upload").set_input_files(str(bad))
    page.get_by_test_id("explorer-submit").click()
    assert "not an image" in page.get_by_test_id("explorer-error").inner_text()
    assert page.js_errors == []
