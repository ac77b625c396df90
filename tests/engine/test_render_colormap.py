"""The colormap is part of the render recipe: its version names it, and the pixels follow it."""

import numpy as np
import pytest

from explain_engine.render import RECIPE_VERSION, colormap_lut, recipe_version, render_stimulus


def test_jet_keeps_the_bare_recipe_version_and_other_colormaps_name_themselves():
    assert recipe_version("overlay", "jet") == RECIPE_VERSION
    assert recipe_version("overlay", "cividis") == f"{RECIPE_VERSION}+cividis"
    assert recipe_version("heatmap", "viridis") == f"{RECIPE_VERSION}+viridis"


def test_styles_that_draw_no_colormap_keep_the_bare_recipe_version():
    assert recipe_version("masked", "cividis") == RECIPE_VERSION
    assert recipe_version("gradient", "viridis") == RECIPE_VERSION


def test_an_unknown_colormap_is_refused():
    with pytest.raises(KeyError):
        recipe_version("overlay", "no-such-map")


def test_an_overlay_is_drawn_with_the_colormap_asked_for():
    photo = np.zeros((8, 8, 3), np.uint8)
    cam = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))
    jet = render_stimulus("gradcam", photo, cam, style="overlay", colormap="jet")
    cividis = render_stimulus("gradcam", photo, cam, style="overlay", colormap="cividis")
    assert jet != cividis
    # cividis's brightest entry is yellow, jet's dark red: the map's maximum shows which one drew it
    assert tuple(colormap_lut("cividis")[-1]) != tuple(colormap_lut("jet")[-1])
