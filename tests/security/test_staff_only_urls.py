"""Every staff page, export and JSON endpoint refuses anonymous visitors and non-staff users.

The test walks every URL pattern of the project, so a view added later without protection fails it.
"""

import re

import pytest
from django.core import signing
from django.urls import URLPattern, URLResolver, get_resolver

from studies.participants.views import COOKIE_SALT, cookie_name
from tests.support import factories


def signed_token(participant) -> str:
    return signing.get_cookie_signer(salt=cookie_name(participant.study) + COOKIE_SALT).sign(participant.token)


PUBLIC = {
    "",
    "healthz",
    "s/<slug:slug>/",
    "s/<slug:slug>/instructions/",
    "s/<slug:slug>/trial/",
    "s/<slug:slug>/answer/",
    "s/<slug:slug>/questionnaire/",
    "s/<slug:slug>/done/",
    "s/<slug:slug>/leave/",
    "s/<slug:slug>/withdraw/",
}
# The admin's own login, logout and password-reset pages, and its JavaScript catalog, are public by design.
ADMIN_PUBLIC = re.compile(r"^admin/(login/|logout/|password_reset|jsi18n/|r/|autocomplete/$)")


def walk(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def concrete(route: str, study_id: int, slug: str) -> str | None:
    route = route.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\/", "/")
    values = {
        "study_id": str(study_id),
        "pk": str(study_id),
        "object_id": str(study_id),
        "slug": slug,
        "name": "accuracy",
        "fmt": "png",
        "path": "x",
        "app_label": "studies",
        "model_name": "study",
    }

    def fill(match):
        name = match.group(1).split(":")[-1]
        return values.get(name, "1")

    route = re.sub(r"<([^>]+)>", fill, route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), route)
    if any(ch in route for ch in "()[]?*+"):
        return None
    return "/" + route


def staff_urls(study):
    urls = []
    for route in sorted(set(walk(get_resolver().url_patterns))):
        if route in PUBLIC or route.startswith(("static/", "media/", "^media/")):
            continue
        url = concrete(route, study.pk, study.slug)
        if url is None or ADMIN_PUBLIC.match(url.lstrip("/")):
            continue
        urls.append(url)
    return urls


@pytest.mark.django_db
def test_anonymous_visitors_and_participants_get_no_staff_page(client, outsider_client):
    study = factories.make_class_discrimination_study()
    participant = factories.make_participant(study)
    urls = staff_urls(study)
    assert (
        any("/export/" in u for u in urls) and any("monitor" in u for u in urls) and any("/admin/" in u for u in urls)
    )
    for who, c in (("anonymous", client), ("outsider", outsider_client)):
        c.cookies[cookie_name(study)] = signed_token(participant)  # what a participant's browser carries
        for url in urls:
            for method in ("get", "post"):
                response = getattr(c, method)(url)
                # The JSON API takes tokens, not sessions: without one it answers 401.
                refused = (302, 403, 404, 405) + ((401,) if url.startswith("/api/") else ())
                assert response.status_code in refused, f"{who} {method.upper()} {url}: {response.status_code}"
                if response.status_code == 302:
                    assert "/admin/login/" in response["Location"], f"{who} {url} -> {response['Location']}"


@pytest.mark.django_db
def test_a_participant_cannot_answer_another_participants_trial(client):
    study = factories.make_class_discrimination_study()
    alice, bob = factories.make_participant(study), factories.make_participant(study)
    client.cookies[cookie_name(study)] = signed_token(alice)
    bobs = bob.assignments.order_by("position").first()
    answer = {**factories.good_answer(bobs), "assignment": bobs.pk}
    response = client.post(f"/s/{study.slug}/answer/", answer)
    assert response.status_code >= 400
    assert factories.response_count(study) == 0
    # the same cookie does work for alice's own trial (so the refusal above is about ownership)
    own = client.post(f"/s/{study.slug}/answer/", factories.good_answer(alice.assignments.order_by("position").first()))
    assert own.status_code in (302, 303) and factories.response_count(study) == 1


def test_participant_tokens_are_unguessable():
    from studies.models import new_participant_token

    tokens = {new_participant_token() for _ in range(1000)}
    assert len(tokens) == 1000 and min(len(t) for t in tokens) >= 32
