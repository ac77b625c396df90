"""Rendering recipes: deterministic PNG bytes, known pixels."""

import io

import numpy as np
import pytest
from PIL import Image

from explain_engine.render import (
    RECIPE_VERSION,
    colormap_lut,
    gradient_array,
    masked_array,
    normalize_map,
    overlay_array,
    render_stimulus,
)

RNG = np.random.default_rng(0)
IMG = RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def test_version():
    assert isinstance(RECIPE_VERSION, str) and RECIPE_VERSION


@pytest.mark.parametrize(
    "method,raw,style",
    [
        ("gradcam", RNG.random((16, 20)), "auto"),
        ("gradcam", RNG.random((4, 5)), "overlay"),
        ("gradcam_pp", RNG.random((16, 20)), "masked"),
        ("counterfactual_gradcam", RNG.random((16, 20)), "heatmap"),
        ("guided_backprop", RNG.standard_normal((3, 16, 20)), "auto"),
        ("deconvnet", RNG.standard_normal((16, 20, 3)), "gradient"),
        ("guided_gradcam", RNG.standard_normal((3, 16, 20)), "auto"),
        ("deconv_gradcam", RNG.standard_normal((3, 16, 20)), "auto"),
    ],
)
def test_dispatcher_is_deterministic_and_sized(method, raw, style):
    a = render_stimulus(method, IMG, raw, style)
    b = render_stimulus(method, IMG.copy(), raw.copy(), style)
    assert a == b and a[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode(a).shape == (16, 20, 3)


def test_overlay_and_masked_known_pixels():
    cam = np.zeros((16, 20), np.float32)
    cam[0, 0] = 2.0
    np.testing.assert_array_equal(overlay_array(IMG, cam, alpha=0.0), IMG)
    over = overlay_array(IMG, cam, alpha=1.0)
    lut = colormap_lut("jet")
    assert (over[0, 0] == lut[255]).all() and (over[5, 5] == lut[0]).all()
    masked = masked_array(IMG, cam)
    assert (masked[0, 0] == IMG[0, 0]).all() and masked[1:].max() == 0
    # a constant map shows nothing rather than the whole photograph
    assert masked_array(IMG, np.ones((16, 20))).max() == 0
    assert normalize_map(np.array([1.0, 3.0])).tolist() == [0.0, 1.0]


def test_gradient_min_max_over_all_channels():
    g = np.zeros((3, 2, 2))
    g[0, 0, 0], g[2, 1, 1] = -1.0, 3.0
    img = gradient_array(g)
    assert img.shape == (2, 2, 3)
    assert img[0, 0, 0] == 0 and img[1, 1, 2] == 255 and img[0, 1, 1] == 64  # (0 - -1) / 4 * 255 = 63.75


def test_dispatcher_errors():
    with pytest.raises(ValueError):
        render_stimulus("nope", IMG, np.zeros((16, 20)))
    with pytest.raises(ValueError):
        render_stimulus("gradcam", IMG, np.zeros((16, 20)), "gradient")
    with pytest.raises(ValueError):
        render_stimulus("guided_backprop", IMG, np.zeros((3, 16, 20)), "masked")
