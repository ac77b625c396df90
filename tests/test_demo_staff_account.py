"""The demo's staff account: a fresh one-time password on every run, and it signs in."""

import pytest
from django.contrib.auth import authenticate
from django.http import HttpRequest

from studies.demo import DEMO_USERNAME, do_reset_demo_staff


@pytest.mark.django_db
def test_the_printed_password_signs_in_to_the_admin(client):
    first = do_reset_demo_staff()
    second = do_reset_demo_staff()
    assert first != second
    # Sign-in is throttled per request (django-axes), so a request comes along.
    assert authenticate(HttpRequest(), username=DEMO_USERNAME, password=first) is None
    assert client.login(request=HttpRequest(), username=DEMO_USERNAME, password=second)
    assert client.get("/admin/").status_code == 200
