"""MTurk shows an external question in a frame on its own site, so the study's cookies are a third
party's there: a participant gets through only if they are `SameSite=None; Secure` (with
SECURE_COOKIES=1 and CSRF_COOKIE_SAMESITE=None, as the README says for MTurk) and the pages allow
MTurk to frame them. A real Chromium, which blocks third-party cookies, plays a study inside a page of MTurk's sandbox
origin: the cookies get through because they are partitioned (config/partitioned_cookies.py).

The study is served from this machine's loopback, and Chromium refuses a public page (MTurk's)
framing a server on the local network (Local Network Access); in a deployment the study's host is
public too, so that check is turned off for this browser, and nothing else."""

import pytest

from studies.models import Participant, ParticipantStatus, Response
from tests.participant.test_recruitment_in_a_browser import CODES, external_submit, play  # noqa: F401 (fixture)
from tests.support import factories
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MTURK_TASK_PAGE = "https://workersandbox.mturk.com/projects/P1/tasks/T1"


@pytest.fixture
def mturk_page(browser, site):
    """A fresh context, which blocks third-party cookies as Chromium does by default, in a Chromium
    that lets a public page frame a loopback server (above)."""
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
    )
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    try:
        yield page
    finally:
        chromium.close()


def test_a_participant_completes_an_mturk_study_inside_mturks_frame(mturk_page, site, settings, external_submit):  # noqa: F811
    page = mturk_page
    url, received = external_submit
    settings.MTURK_EXTERNAL_SUBMIT_URLS = {"sandbox": url, "production": "https://www.mturk.com/mturk/externalSubmit"}
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SAMESITE = "None"
    study = factories.make_class_discrimination_study(trials_per_participant=2, mturk_environment="sandbox", **CODES)
    question = f"{site}/s/{study.slug}/?workerId=W9&assignmentId=A-9&hitId=H9&turkSubmitTo=https%3A%2F%2Fx"
    page.route(
        f"{MTURK_TASK_PAGE}**",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body=f'<title>MTurk</title><iframe src="{question}" width="1100" height="800"></iframe>',
        ),
    )

    page.goto(MTURK_TASK_PAGE)
    frame = page.frame_locator("iframe")
    frame.get_by_test_id("consent-accept").click()
    frame.get_by_test_id("continue").click()
    play(frame, study)
    frame.get_by_test_id("comment").fill("Fine.")
    frame.get_by_test_id("submit").click()
    frame.get_by_test_id("mturk-submit").get_by_role("button").click()
    frame.get_by_text("Your HIT has been submitted.").wait_for()

    assert page.url.startswith("https://workersandbox.mturk.com/")  # a third-party frame throughout
    participant = Participant.objects.get(study=study)
    assert participant.status == ParticipantStatus.COMPLETED
    assert Response.objects.filter(assignment__participant=participant).count() == participant.trial_count
    [post] = received
    assert post["fields"]["assignmentId"] == ["A-9"]
    cookies = {c["name"]: c for c in page.context.cookies()}
    participant_cookie = cookies[f"visexp_p{study.pk}"]
    assert (participant_cookie["sameSite"], participant_cookie["secure"]) == ("None", True)
    assert not page.js_errors
