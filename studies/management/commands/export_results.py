"""Write a study's responses (and optionally participants and stimuli) as CSV, streamed."""

from django.core.management.base import BaseCommand, CommandError

from studies import export
from studies.management import study_or_error


class _Out:
    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text):
        self.wrapper.write(text, ending="")


class Command(BaseCommand):
    help = (
        "Export a study's responses, one row per answer (docs/codebook.md), streamed. "
        "Example: export_results SLUG --out results.csv --participants participants.csv --stimuli stimuli.csv"
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("--out", default="-", help="responses CSV path ('-' for standard output, the default)")
        parser.add_argument("--participants", metavar="PATH", help="also write the participants export here")
        parser.add_argument("--stimuli", metavar="PATH", help="also write the stimuli (provenance) export here")
        parser.add_argument(
            "--include-external-ids",
            action="store_true",
            help="put the Prolific/MTurk ids in clear in the participants export (personal data; off by default)",
        )

    def handle(self, *args, slug, out, participants, stimuli, include_external_ids, **options):
        study = study_or_error(slug)
        self._write("responses", out, export.RESPONSE_COLUMNS, export.response_rows(study))
        if participants:
            self._write(
                "participants",
                participants,
                export.participant_columns(study),
                export.participant_rows(study, include_external_ids=include_external_ids),
            )
            if include_external_ids:
                self.stderr.write("warning: the participants export holds external ids in clear (personal data)")
        if stimuli:
            self._write("stimuli", stimuli, export.STIMULUS_COLUMNS, export.stimulus_rows(study))

    def _write(self, what, path, columns, rows):
        def progress(n):
            self.stderr.write(f"  {what}: {n} rows")

        if path == "-":
            export.write_csv(columns, rows, _Out(self.stdout), progress)
            return
        try:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                export.write_csv(columns, rows, handle, progress)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
        self.stderr.write(f"{what} written to {path}")
