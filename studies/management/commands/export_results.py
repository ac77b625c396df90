"""Write a study's responses (and optionally participants and stimuli) as CSV, streamed, or a Psych-DS dataset."""

from django.core.management.base import BaseCommand, CommandError

from studies import audit
from studies.management import study_or_error
from studies.results import export, prolific, psychds


class _Out:
    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text):
        self.wrapper.write(text, ending="")


class Command(BaseCommand):
    help = (
        "Export a study's responses, one row per answer (docs/codebook.md), streamed. "
        "Example: export_results SLUG --out results.csv --participants participants.csv --stimuli stimuli.csv; "
        "or export_results SLUG --psych-ds DIR for a Psych-DS dataset folder"
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument(
            "--out",
            help="responses CSV path ('-' for standard output, the default unless --psych-ds is given)",
        )
        parser.add_argument("--participants", metavar="PATH", help="also write the participants export here")
        parser.add_argument("--stimuli", metavar="PATH", help="also write the stimuli (provenance) export here")
        parser.add_argument(
            "--include-external-ids",
            action="store_true",
            help="put the Prolific/MTurk ids in clear in the participants export (personal data; off by default)",
        )
        parser.add_argument(
            "--prolific-bonuses",
            dest="prolific_bonuses",
            metavar="PATH",
            help="also write Prolific's bulk bonus list (participant_id,amount; ids in clear: logged as such)",
        )
        parser.add_argument(
            "--psych-ds",
            dest="psych_ds",
            metavar="DIR",
            help="write a Psych-DS dataset into this new or empty folder (never with external ids)",
        )

    def handle(
        self, *args, slug, out, participants, stimuli, include_external_ids, psych_ds, prolific_bonuses, **options
    ):
        study = study_or_error(slug)
        self.study = study
        if psych_ds:
            try:
                written = psychds.do_write_psychds(
                    study, psych_ds, lambda what, n: self.stderr.write(f"  {what}: {n} rows")
                )
            except psychds.PsychDSRefused as exc:
                raise CommandError(str(exc)) from exc
            audit.do_record_export(
                audit.command_actor("export_results"), study, "Psych-DS dataset", via=audit.VIA_COMMAND
            )
            self.stderr.write(f"Psych-DS dataset written to {psych_ds} ({len(written)} files)")
        if out is not None or not psych_ds:  # the responses go to standard output unless a dataset was asked for
            self._write("responses", out or "-", export.RESPONSE_COLUMNS, export.response_rows(study))
        if participants:
            self._write(
                "participants",
                participants,
                export.participant_columns(study),
                export.participant_rows(study, include_external_ids=include_external_ids),
                external_ids=include_external_ids,
            )
            if include_external_ids:
                self.stderr.write("warning: the participants export holds external ids in clear (personal data)")
        if stimuli:
            self._write("stimuli", stimuli, export.STIMULUS_COLUMNS, export.stimulus_rows(study))
        if prolific_bonuses:
            self._write_bonuses(study, prolific_bonuses)

    def _write_bonuses(self, study, path):
        bonuses = prolific.prolific_bonuses(study)
        audit.do_record_export(
            audit.command_actor("export_results"), study, "Prolific bonuses", via=audit.VIA_COMMAND, external_ids=True
        )
        try:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                handle.write(bonuses.text)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
        self.stderr.write(f"Prolific bonuses written to {path} ({len(bonuses.lines)} participants)")
        if bonuses.unreadable:
            self.stderr.write(
                f"warning: {bonuses.unreadable} participants are owed a bonus but the study keeps their ids only "
                "as a hash; upload Prolific's submissions CSV on the results page to get their bonuses"
            )

    def _write(self, what, path, columns, rows, external_ids=False):
        def progress(n):
            self.stderr.write(f"  {what}: {n} rows")

        audit.do_record_export(
            audit.command_actor("export_results"), self.study, what, via=audit.VIA_COMMAND, external_ids=external_ids
        )

        if path == "-":
            export.write_csv(columns, rows, _Out(self.stdout), progress)
            return
        try:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                export.write_csv(columns, rows, handle, progress)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
        self.stderr.write(f"{what} written to {path}")
