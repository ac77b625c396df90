"""Screenshots of the demo's trial pages, in the browser tests' Chromium set-up.

Run against a served demo: `DEBUG=1 python manage.py runserver 127.0.0.1:8000` in one shell, then
`python scripts/screenshot_demo.py http://127.0.0.1:8000 docs/screenshots`.
"""

import sys
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.browser import launch  # noqa: E402


def shoot(base: str, slug: str, out: Path) -> None:
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1000, "height": 820})
        page.goto(f"{base}/s/{slug}/?PROLIFIC_PID=screenshot-{uuid.uuid4().hex[:8]}&STUDY_ID=demo&SESSION_ID=1")
        page.get_by_test_id("consent-accept").click()
        page.get_by_test_id("continue").click()
        page.get_by_test_id("stimulus").first.wait_for()
        page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(out), full_page=True)
        browser.close()


if __name__ == "__main__":
    base, folder = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    shoot(base, "demo-class-discrimination", folder / "demo_class_discrimination_trial.png")
    shoot(base, "demo-trust", folder / "demo_trust_trial.png")
    print(f"wrote {folder}/demo_class_discrimination_trial.png and demo_trust_trial.png")
