"""Build the offline demo (images, two trained networks, two live studies) and print its links."""

import time

from django.core.management.base import BaseCommand, CommandError

from explain_engine.demo_train import DemoWeightsError
from studies.demo import DEMO_USERNAME, bots_command, do_build_demo, do_reset_demo_staff
from studies.stimuli import configuration


class Command(BaseCommand):
    help = "Build the offline demo through the real code paths and print the participant links and admin login."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="build only (this command never serves; `make demo` serves after it)",
        )
        parser.add_argument("--host", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--retrain",
            action="store_true",
            help="train the two demo networks from scratch (into DEMO_MODELS_DIR) instead of loading the shipped ones",
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        say = self.stdout.write
        try:
            studies = do_build_demo(say, retrain=options["retrain"])
        except (configuration.StudyError, DemoWeightsError) as exc:
            raise CommandError(str(exc)) from exc
        password = do_reset_demo_staff()
        host = options["host"].rstrip("/")
        say(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.0f} s."))
        say(f"  Admin:        {host}/admin/")
        say(f"  Login:        {DEMO_USERNAME} / {password}   (one-time password, reset on every run)")
        for study in studies.all():
            say(f"  {study.name}")
            say(f"    participant link:  {host}/s/{study.slug}/")
            say(f"    Prolific-style:    {host}/s/{study.slug}/?PROLIFIC_PID=demo-pid&STUDY_ID=demo&SESSION_ID=1")
            say(f"    results:           {host}/staff/studies/{study.pk}/results/")
            say(f"    simulate 20 bots:  {bots_command(study.slug)}")
