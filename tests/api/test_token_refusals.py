"""The API answers only a live token of an active staff researcher, and only for the studies it may read."""

import pytest

from studies import api_tokens
from studies.models import ApiToken

from .conftest import bearer

pytestmark = pytest.mark.django_db


def test_without_a_token_it_answers_401_even_to_a_signed_in_staff_session(client, researcher, built):
    assert client.get("/api/studies").status_code == 401
    client.force_login(researcher)  # sessions are not API credentials
    assert client.get(f"/api/studies/{built.study.slug}/responses").status_code == 401


@pytest.mark.parametrize(
    "key",
    [
        "not-a-token",
        api_tokens.KEY_PREFIX + "x" * 43,  # our format, never issued
        "ghp_" + "a" * 36,  # another service's token
        api_tokens.KEY_PREFIX + "y" * 5000,
    ],
)
def test_a_foreign_or_made_up_token_gets_401(client, built, token_key, key):
    assert client.get(f"/api/studies/{built.study.slug}/responses", **bearer(key)).status_code == 401


def test_a_revoked_token_gets_401(client, built, token_key):
    assert client.get("/api/studies", **bearer(token_key)).status_code == 200
    api_tokens.do_revoke_tokens(ApiToken.objects.all())
    assert client.get("/api/studies", **bearer(token_key)).status_code == 401


def test_a_token_whose_owner_is_no_longer_staff_gets_403(client, researcher, built, token_key):
    researcher.is_staff = False
    researcher.save()
    response = client.get("/api/studies", **bearer(token_key))
    assert response.status_code == 403 and "no longer an active staff account" in response.json()["detail"]


def test_a_token_for_one_study_gets_403_on_another_and_lists_only_its_own(client, researcher, built):
    from tests.results import factories as F

    other = F.trust_within().study
    _, key = api_tokens.do_issue_token(researcher, "one study", studies=[built.study])
    assert client.get(f"/api/studies/{other.slug}/responses", **bearer(key)).status_code == 403
    assert client.get(f"/api/studies/{other.slug}/monitor", **bearer(key)).status_code == 403
    assert [s["slug"] for s in client.get("/api/studies", **bearer(key)).json()] == [built.study.slug]
    assert client.get(f"/api/studies/{built.study.slug}/responses", **bearer(key)).status_code == 200


def test_an_unknown_study_is_404_with_a_message(client, token_key):
    response = client.get("/api/studies/nope/responses", **bearer(token_key))
    assert response.status_code == 404 and response.json() == {"detail": "no study with slug 'nope'"}


def test_it_is_read_only(client, built, token_key):
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(f"/api/studies/{built.study.slug}/responses", **bearer(token_key))
        assert response.status_code == 405, method
