"""Compute a study's automatic evaluations (the metrics of studies.results.faithfulness and the sanity checks)."""

import json

from django.core.management.base import BaseCommand, CommandError

from studies.management import study_or_error
from studies.models import JobStatus
from studies.results.faithfulness import (
    DEFAULT_MAX_IMAGES,
    DEFAULT_SANITY_IMAGES,
    do_request_report,
    format_report,
    human_scores,
)
from studies.results.reports import study_analysis


class Command(BaseCommand):
    help = "Run the faithfulness report of a study on a GPU worker (in-process without a broker) and print it."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--max-images",
            type=int,
            default=DEFAULT_MAX_IMAGES,
            help="(image, class) pairs evaluated, chosen by the study seed; 0 for all",
        )
        parser.add_argument(
            "--sanity-images",
            type=int,
            default=DEFAULT_SANITY_IMAGES,
            help="(image, class) pairs per model on which the sanity checks (MPRT, random logit) run",
        )
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the worker")
        parser.add_argument("--json", default="", help="also write the results as JSON here")

    def handle(self, *args, slug, max_images, sanity_images, timeout, **options):
        json_path = options["json"]
        study = study_or_error(slug)
        self.stdout.write(f"Faithfulness report for {slug}: up to {max_images or 'all'} (image, class) pairs per model")
        report = do_request_report(
            study, max_images=max_images or None, sanity_images=sanity_images, wait_timeout=timeout
        )
        if report.status != JobStatus.DONE:
            raise CommandError(f"the report did not finish: {report.status} {report.error}")
        self.stdout.write(format_report(report.results, human_scores(study_analysis(study)[0])))
        if json_path:
            with open(json_path, "w") as fh:
                json.dump(report.results, fh, indent=2)
            self.stdout.write(f"Wrote {json_path}")
