"""A cookie that must cross sites (SameSite=None: an MTurk study inside MTurk's frame) is sent
Partitioned, so that browsers blocking third-party cookies keep it for that frame; the others are not."""

import pytest

from tests.support import factories

pytestmark = pytest.mark.django_db

MTURK_QUERY = "?workerId=W1&assignmentId=A-1&hitId=H1"


def set_cookie_lines(response) -> dict[str, str]:
    return {name: morsel.OutputString() for name, morsel in response.cookies.items()}


def test_an_mturk_studys_cookies_are_partitioned_when_they_cross_sites(client, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SAMESITE = "None"
    study = factories.make_class_discrimination_study(mturk_environment="sandbox")
    page = client.get(f"/s/{study.slug}/{MTURK_QUERY}", secure=True)
    assert "Partitioned" in set_cookie_lines(page)["csrftoken"]
    consent = client.post(
        f"/s/{study.slug}/{MTURK_QUERY}",
        {"action": "accept", "workerId": "W1", "assignmentId": "A-1", "hitId": "H1"},
        secure=True,
    )
    assert consent.status_code == 302
    line = set_cookie_lines(consent)[f"visexp_p{study.pk}"]
    assert "SameSite=None" in line and "Secure" in line and "Partitioned" in line


def test_first_party_cookies_stay_unpartitioned(client, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    study = factories.make_class_discrimination_study()
    query = "?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x"
    page = client.get(f"/s/{study.slug}/{query}", secure=True)
    assert "Partitioned" not in set_cookie_lines(page)["csrftoken"]
    consent = client.post(f"/s/{study.slug}/{query}", {"action": "accept"}, secure=True)
    line = set_cookie_lines(consent)[f"visexp_p{study.pk}"]
    assert "SameSite=Lax" in line and "Partitioned" not in line
