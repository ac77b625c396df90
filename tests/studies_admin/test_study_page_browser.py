"""The study page at a laptop's width: its tools sit beside, not over, the study's title."""

from __future__ import annotations

import pytest

from studies.models import StudyStatus
from tests.support import factories

pytestmark = pytest.mark.browser


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_the_object_tools_do_not_cover_the_title_at_1400_px(admin_page, live_server):
    study = factories.make_class_discrimination_study(
        name="Which object does the explanation show? Pilot with our own photographs", status=StudyStatus.READY
    )
    admin_page.set_viewport_size({"width": 1400, "height": 900})
    admin_page.goto(f"{live_server.url}/admin/studies/study/{study.pk}/change/")
    title = admin_page.locator("#content h1").bounding_box()
    tools = admin_page.locator(".object-tools li")
    assert tools.count() >= 6
    for i in range(tools.count()):
        box = tools.nth(i).bounding_box()
        assert not overlaps(title, box), f"tool {tools.nth(i).inner_text()!r} covers the title"
    assert admin_page.js_errors == []
