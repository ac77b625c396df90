"""The demo's staff account: a fresh one-time password on every run, and it signs in."""

import pytest
from django.contrib.auth import authenticate

from studies.demo import DEMO_USERNAME, do_reset_demo_staff


@pytest.mark.django_db
def test_the_printed_password_signs_in_to_the_admin(client):
    first = do_reset_demo_staff()
    second = do_reset_demo_staff()
    assert first != second
    assert authenticate(username=DEMO_USERNAME, password=first) is None
    assert client.login(username=DEMO_USERNAME, password=second)
    assert client.get("/admin/").status_code == 200
