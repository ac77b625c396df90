"""Withdraw a participant found by its recruitment platform id (a Prolific data-deletion request)."""

from django.core.management.base import BaseCommand, CommandError

from studies import audit
from studies.management import study_or_error
from studies.participants.flow import EXTERNAL_PARAMS
from studies.participants.withdrawal import NoSuchParticipant, do_withdraw_external_id


class Command(BaseCommand):
    help = (
        "Withdraw the participant of a study with this Prolific (or MTurk) id, as the study's withdrawal policy "
        "says: delete its answers, or keep them excluded. Recorded in the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "external_id", help="the participant's PROLIFIC_PID (or MTurk workerId with --source mturk)"
        )
        parser.add_argument("--source", choices=sorted(EXTERNAL_PARAMS), default="prolific")
        parser.add_argument("--yes", action="store_true", help="do it without asking")

    def handle(self, *args, slug, external_id, source, yes, **options):
        study = study_or_error(slug)
        if not yes:
            answer = input(f"Withdraw that participant of {slug!r} ({study.withdrawal_policy} their answers)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("nothing changed")
        try:
            result = do_withdraw_external_id(
                study,
                source,
                external_id,
                actor=audit.command_actor("withdraw_participant"),
                via=audit.VIA_COMMAND,
            )
        except NoSuchParticipant as exc:
            raise CommandError(str(exc)) from None
        public_id = result.participant.public_id
        if not result.done:
            self.stdout.write(
                f"Participant {public_id} of {slug} had withdrawn already (or never consented): nothing changed."
            )
        elif result.policy == "exclude":
            self.stdout.write(f"Withdrew participant {public_id} of {slug}: answers kept, excluded from the analysis.")
        else:
            self.stdout.write(f"Withdrew participant {public_id} of {slug}: {result.answers_deleted} answers deleted.")
