"""Each way of drawing a stimulus gets its own alt text: the panel's name and what the picture shows,
never the class it explains (which may be the answer)."""

import re

from django.template.loader import render_to_string

from studies.models import Stimulus

STYLES = ("photo", "masked", "overlay", "auto", "heatmap", "gradient")


def alt_of(style):
    stim = Stimulus(method="gradcam", target_class="golden retriever", render_style=style, png="stimuli/x.png")
    html = render_to_string("participant/stimulus.html", {"stim": stim, "alt": "Panel 2", "size": 200})
    return re.search(r'alt="([^"]*)"', html).group(1)


def test_every_style_is_described_without_the_class():
    alts = {style: alt_of(style) for style in STYLES}
    for style, alt in alts.items():
        assert alt.startswith("Panel 2: ") and len(alt) > len("Panel 2: ") + 5, (style, alt)
        assert "golden" not in alt.lower() and "retriever" not in alt.lower(), (style, alt)
    assert alts["overlay"] == alts["auto"]  # "auto" is drawn as an overlay
    assert len({alts[s] for s in ("photo", "masked", "overlay", "heatmap", "gradient")}) == 5
