"""Accessibility checks shared by the browser tests: axe-core (the copy that the PyPI package
`axe-playwright-python` bundles, run in the page), visible focus, stimulus alt texts, page width;
and one study of each task kind, built by the factories, with a way to answer any trial page."""

from axe_playwright_python.sync_playwright import Axe

from tests.support import factories
from tests.support.browser import wait_until_answerable

# axe-core's impacts are minor, moderate, serious and critical: the last two fail a page.
FAILING_IMPACTS = ("serious", "critical")
_AXE = Axe()


def axe_violations(page):
    """axe-core's violations on the page as it is now (WCAG 2.x A and AA rules and best practices)."""
    return _AXE.run(page).response["violations"]


def describe(violations) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(node['target'])}: {node.get('failureSummary', '').splitlines()[-1].strip()}")
            lines.append(f"      {node['html'][:160]}")
        if len(v["nodes"]) > 5:
            lines.append(f"    … and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def assert_accessible(page, what: str) -> None:
    """No axe-core violation of impact serious or critical on the page; the failure lists them all."""
    bad = [v for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not bad, f"axe-core on {what} ({page.url}):\n{describe(bad)}"


def contrast(rgb1, rgb2) -> float:
    """WCAG's contrast ratio of two sRGB colours (0-255 channels)."""

    def luminance(rgb):
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((luminance(rgb1), luminance(rgb2)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def assert_focus_visible(page, what: str = "the focused control") -> None:
    """The focused element is on screen and matches :focus-visible, and draws a solid outline of 2 px
    or more whose colour stands 3:1 against the white page (WCAG 1.4.11), or a box shadow."""
    style = page.evaluate(
        """() => {
            const el = document.activeElement;
            const s = getComputedStyle(el);
            const r = el.getBoundingClientRect();
            return {html: el.outerHTML.slice(0, 120), outline: s.outlineStyle, width: parseFloat(s.outlineWidth),
                    color: s.outlineColor.match(/[0-9.]+/g).slice(0, 3).map(Number), shadow: s.boxShadow,
                    visible: r.width > 0 && r.height > 0, matches: el.matches(':focus-visible')};
        }"""
    )
    outline = style["outline"] not in ("none", "hidden") and style["width"] >= 2
    ring = outline and contrast(style["color"], (255, 255, 255)) >= 3
    assert style["matches"] and style["visible"] and (ring or (not outline and style["shadow"] != "none")), (
        f"no visible focus on {what}: {style}"
    )


def assert_stimuli_described(page, answer_labels=()) -> None:
    """Every stimulus picture has an alt text, and none names what the participant is asked to find."""
    for alt in page.locator("img[data-testid=stimulus]").evaluate_all("imgs => imgs.map(i => i.getAttribute('alt'))"):
        assert alt and alt.strip(), "a stimulus picture without alt text"
        for label in answer_labels:
            assert label.lower() not in alt.lower(), f"the alt text {alt!r} gives the answer {label!r} away"


def assert_no_horizontal_scroll(page, what: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px of content in {widths[1]} px"


def assert_stimuli_fit(page, what: str) -> None:
    """Every stimulus lies inside the viewport's width."""
    width = page.evaluate("window.innerWidth")
    for box in [e.bounding_box() for e in page.get_by_test_id("stimulus").all()]:
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"a stimulus of {what} overflows: {box}"


# One study per task kind, small: the same builders as the kinds' own browser tests.
STUDY_OF_KIND = {
    "class_discrimination": lambda: factories.make_class_discrimination_study(trials_per_participant=2),
    "trust": lambda: factories.make_trust_study(trials_per_participant=2),
    "hive_distinction": lambda: factories.make_hive_study("hive_distinction", trials_per_participant=2),
    "hive_agreement": lambda: factories.make_hive_study("hive_agreement", trials_per_participant=2),
    "forward_simulation": lambda: factories.make_forward_simulation_study(learning_per_round=1, test_per_round=1),
    "occlusion_2afc": lambda: factories.make_occlusion_study(trials_per_participant=2),
    "bias_detection": lambda: factories.make_bias_study(trials_per_participant=2),
}


def wait_for_any_trial(page):
    """The trial page is shown and answerable."""
    page.get_by_test_id("progress").wait_for()
    wait_until_answerable(page)


def trial_number(page) -> int:
    return int(page.get_by_test_id("progress").inner_text().split()[1])


def answer_first_of_several_questions(page) -> bool:
    """On a trial page that asks several questions, picks the first option of the first one (the page
    then waits for the others); False, and nothing done, where the page asks one."""
    questions = page.get_by_test_id("question")
    if questions.count() < 2:
        return False
    questions.first.get_by_test_id("option").first.click()
    return True


def answer_any(page) -> None:
    """Answers the trial shown, whatever its kind, with the first option of every question (the
    contract that every kind's page keeps: README, "Trial pages"), and waits for the next page."""
    number = trial_number(page)
    questions = page.get_by_test_id("question")
    for q in questions.all():
        q.get_by_test_id("option").first.click()
    if questions.count() > 1:
        page.get_by_test_id("submit-answer").click()
    page.wait_for_function(
        """n => { const p = document.querySelector('[data-testid=progress]');
                  return document.readyState === 'complete' && !(p && p.textContent.includes('Trial ' + n + ' ')); }""",
        arg=number,
    )


def tab_to(page, selector: str, *, back: bool = False, limit: int = 60) -> None:
    """Presses Tab (Shift+Tab with `back`) until the focus is on `selector`; focus must show at every stop."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        assert_focus_visible(page, f"the way to {selector}")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def focused(page, attribute: str):
    return page.evaluate("a => document.activeElement.getAttribute(a)", attribute)
