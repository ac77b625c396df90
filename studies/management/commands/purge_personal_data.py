"""Delete a study's personal data (external ids, recruitment parameters, free text)."""

from django.core.management.base import BaseCommand, CommandError

from studies import audit
from studies.management import study_or_error
from studies.participants.privacy import do_purge_personal_data


class Command(BaseCommand):
    help = "Delete the personal data of a study's participants; their pseudonymous answers stay."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="do it without asking")

    def handle(self, *args, slug, yes, **options):
        study = study_or_error(slug)
        if not yes:
            answer = input(f"Delete external ids and free-text answers of every participant of {slug!r}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("nothing deleted")
        result = do_purge_personal_data(study)
        audit.do_record(
            audit.command_actor("purge_personal_data"),
            audit.AuditAction.PURGE_PERSONAL_DATA,
            f"purged the personal data of {result['participants_purged']} participants of {slug}",
            study=study,
            via=audit.VIA_COMMAND,
            details={"participants_purged": result["participants_purged"]},
        )
        self.stdout.write(
            f"Purged personal data of {result['participants_purged']} of {result['participants_total']} participants "
            f"of {slug}."
        )
