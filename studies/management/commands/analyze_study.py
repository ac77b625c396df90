"""Print a study's statistical report, from the database or from an exported CSV, and write JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from studies.models import Study
from studies.results import analysis, export
from studies.stimuli import bank


class Command(BaseCommand):
    help = (
        "Analyze a study: exclusions, per-method statistics with intervals, Holm-corrected comparisons. "
        "Example: analyze_study SLUG [--from-csv results.csv] [--json out.json]"
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study's slug (its rules and method order are used when it exists)")
        parser.add_argument("--from-csv", metavar="PATH", help="analyze this responses export instead of the database")
        parser.add_argument(
            "--participants-csv", metavar="PATH", help="participants export (counts simulated participants)"
        )
        parser.add_argument(
            "--json", dest="json_path", metavar="PATH", help="write the report as JSON here ('-' for standard output)"
        )
        parser.add_argument("--seed", type=int, help="bootstrap seed (default: the study's seed, else 0)")
        parser.add_argument("--resamples", type=int, default=analysis.DEFAULT_BOOTSTRAP, help="bootstrap resamples")
        parser.add_argument(
            "--plan",
            nargs=2,
            type=float,
            metavar=("P1", "P2"),
            help="power analysis for a planned comparison of two accuracies, e.g. 0.6123 0.4444",
        )
        parser.add_argument("--alpha", type=float, default=0.05)
        parser.add_argument("--power", type=float, default=0.8)

    def handle(
        self, *args, slug, from_csv, participants_csv, json_path, seed, resamples, plan, alpha, power, **options
    ):
        import pandas as pd

        study = Study.objects.filter(slug=slug).first()
        if study is None and not from_csv:
            raise CommandError(f"no study with slug {slug!r} (give --from-csv to analyze an export alone)")
        participants = None
        if from_csv:
            self.stderr.write(f"reading {from_csv}")
            try:
                df = analysis.read_export_csv(from_csv)
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read {from_csv}: {exc}") from exc
            missing = [c for c in export.RESPONSE_COLUMNS if c not in df.columns]
            if missing:
                raise CommandError(f"{from_csv} is not a responses export (missing columns: {', '.join(missing)})")
            df = df[df["study"] == slug] if (df["study"] == slug).any() else df
            if participants_csv:
                participants = pd.read_csv(participants_csv, dtype=str, keep_default_na=False)
        else:
            self.stderr.write(f"reading the responses of {slug} from the database")
            df = export.responses_frame(study)
            participants = pd.DataFrame(list(export.participant_rows(study)))
        self.stderr.write(f"{len(df)} responses; computing statistics")
        result = analysis.report(
            df,
            kind=study.kind if study else None,
            design=study.design if study else None,
            methods=study.arms if study else None,
            rules=export.rules_for(study) if study else None,
            seed=seed if seed is not None else (study.seed if study else 0),
            n_resamples=resamples,
            participants=participants,
            plan=tuple(plan) if plan else None,
            alpha=alpha,
            power=power,
            trials_per_participant=(bank.trials_available(study) or study.trials_per_participant) if study else None,
        )
        result = {"study": slug, **result}
        if study is not None:
            from studies.results.faithfulness import study_metric_vs_human

            result["metric_vs_human"] = study_metric_vs_human(study, result)
        self.stdout.write(analysis.text_report(result, study.name if study else slug))
        if json_path:
            text = json.dumps(result, indent=2)
            if json_path == "-":
                self.stdout.write(text)
            else:
                with open(json_path, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
                self.stderr.write(f"JSON written to {json_path}")
