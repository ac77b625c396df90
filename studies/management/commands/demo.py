"""Build the demo: a staff account with a one-time password (more is added by the demo world)."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "researcher"


def do_reset_demo_staff(username: str = DEMO_USERNAME) -> str:
    """Create (or reset) the demo staff account and return its new one-time password."""
    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": ""})
    user.is_staff = True
    user.is_superuser = True
    user.set_password(password)
    user.save()
    return password


class Command(BaseCommand):
    help = "Build the offline demo and print the admin login."

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="accepted for symmetry with `make demo`; this command never serves")
        parser.add_argument("--host", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        password = do_reset_demo_staff()
        host = options["host"].rstrip("/")
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Admin:        {host}/admin/")
        self.stdout.write(f"  Login:        {DEMO_USERNAME} / {password}   (one-time password, reset on every run)")
