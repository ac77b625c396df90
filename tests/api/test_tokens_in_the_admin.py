"""Staff issue API tokens in the admin (the key shown once, only its hash kept) and revoke them."""

import re

import pytest

from studies import api_tokens
from studies.models import ApiToken

from .conftest import bearer

pytestmark = pytest.mark.django_db


def issue(client, user, name="notebook", studies=()):
    response = client.post("/admin/studies/apitoken/add/", {"user": user.pk, "name": name, "studies": list(studies)})
    assert response.status_code == 200, response.content.decode()[:1000]
    return re.search(r'data-testid="api-token"[^>]*>([^<]+)<', response.content.decode()).group(1)


def test_a_researcher_issues_a_token_sees_it_once_and_it_works(researcher_client, researcher, client, built):
    key = issue(researcher_client, researcher, studies=[built.study.pk])
    token = ApiToken.objects.get()
    assert token.key_hash == api_tokens.key_hash(key) and key not in str(token.__dict__)
    assert token.created_by == "rosa" and list(token.studies.all()) == [built.study]
    page = researcher_client.get(f"/admin/studies/apitoken/{token.pk}/change/").content.decode()
    assert key not in page and token.prefix in page
    assert client.get(f"/api/studies/{built.study.slug}/responses", **bearer(key)).status_code == 200


def test_revoking_in_the_admin_stops_the_token(researcher_client, researcher, client, built):
    key = issue(researcher_client, researcher)
    token = ApiToken.objects.get()
    researcher_client.post(
        "/admin/studies/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/api/studies", **bearer(key)).status_code == 401


def test_only_staff_reach_the_token_admin_and_tokens_go_only_to_staff(outsider, researcher_client):
    from django.test import Client

    otto = Client()
    otto.force_login(outsider)
    assert otto.get("/admin/studies/apitoken/add/").status_code == 302  # to the admin login
    response = researcher_client.post("/admin/studies/apitoken/add/", {"user": outsider.pk, "name": "x"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_tokens_cannot_be_deleted_only_revoked(researcher_client, researcher):
    issue(researcher_client, researcher)
    token = ApiToken.objects.get()
    assert researcher_client.post(f"/admin/studies/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
