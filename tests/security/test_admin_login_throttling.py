"""Admin sign-in is throttled: after repeated wrong passwords even the right one is refused,
until another administrator lifts the lockout."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def sign_in(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


def signed_in(client):
    return client.get("/admin/").status_code == 200


@pytest.fixture
def researcher(django_user_model):
    return django_user_model.objects.create_user("researcher", password="right-horse-battery", is_staff=True)


def lock_out(username, attempts=30):
    attacker = Client()
    for n in range(attempts):
        sign_in(attacker, username, f"wrong-{n}")


def test_after_repeated_wrong_passwords_the_right_one_is_refused(researcher):
    lock_out("researcher")
    client = Client()
    response = sign_in(client, "researcher", "right-horse-battery")
    assert response.status_code == 429 and b"Sign-in locked" in response.content
    assert not signed_in(client)


def test_another_administrator_lifts_the_lockout_in_the_admin(researcher, django_user_model):
    lock_out("researcher")
    admin_client = Client()
    admin_client.force_login(django_user_model.objects.create_superuser("head", password="another-long-pass"))
    attempt = AccessAttempt.objects.get(username="researcher")
    lifted = admin_client.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"}
    )
    assert lifted.status_code == 302 and not AccessAttempt.objects.exists()
    client = Client()
    sign_in(client, "researcher", "right-horse-battery")
    assert signed_in(client)


def test_the_lockout_can_be_lifted_from_the_command_line(researcher):
    lock_out("researcher", attempts=6)
    call_command("axes_reset_username", "researcher")
    client = Client()
    sign_in(client, "researcher", "right-horse-battery")
    assert signed_in(client)


def test_a_few_typos_do_not_lock_anyone_out(researcher):
    lock_out("researcher", attempts=3)
    client = Client()
    sign_in(client, "researcher", "right-horse-battery")
    assert signed_in(client)
