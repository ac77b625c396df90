"""Textual explanations of a class's decisions over an image set, from neuron importance and dissection."""

import json

from django.core.management.base import BaseCommand, CommandError

from studies.models import ClassifierModel, ImageSet, JobStatus
from studies.stimuli.textual import DEFAULT_TOP, TextualError, request_textual


class Command(BaseCommand):
    help = (
        "Name the concepts of the units a model's decisions for a class rely on, for every image of that class "
        "in an image set (dissection and explanations run on a GPU worker; in-process without a broker)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="registered model name")
        parser.add_argument("--image-set", required=True, help="image set name (also the dissection's probe set)")
        parser.add_argument("--class", dest="class_name", required=True, help="class name")
        parser.add_argument("--top", type=int, default=DEFAULT_TOP, help="concepts per explanation (default 3)")
        parser.add_argument("--layer", default="", help="layer to dissect (default: the model's target layer)")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the worker")
        parser.add_argument("--json", default="", help="write the explanations and the summary as JSON here")

    def handle(self, *args, **options):
        model = ClassifierModel.objects.filter(name=options["model"]).first()
        if model is None:
            raise CommandError(f"no registered model is named {options['model']!r}")
        image_set = ImageSet.objects.filter(name=options["image_set"]).first()
        if image_set is None:
            raise CommandError(f"no image set is named {options['image_set']!r}")
        self.stdout.write(
            f"Textual explanations of {model.name} for {options['class_name']!r} on {image_set.name} "
            f"(dissection of {options['layer'] or 'the target layer'}, top {options['top']}) ..."
        )
        try:
            analysis = request_textual(
                model, image_set, options["class_name"], options["top"], options["layer"], wait=options["timeout"]
            )
        except TextualError as exc:
            raise CommandError(str(exc)) from None
        if analysis.status != JobStatus.DONE:
            raise CommandError(f"the explanations did not finish: {analysis.status} {analysis.error}")
        results = analysis.results
        for entry in results["images"][:5]:
            self.stdout.write(f"  {entry['image']}: {entry['sentence']}")
        summary = results["summary"]
        shares = ", ".join(f"{name} {share:.0%}" for name, share in summary["top_k_share"].items())
        self.stdout.write(f"{summary['images']} images; concepts in the top {results['top']}: {shares}")
        for cue, info in summary["with_cue"].items():
            share = info["top_k_share"].get(cue, 0.0)
            self.stdout.write(f"  on the {info['images']} images with the cue {cue!r}: {cue} named in {share:.0%}")
        if options["json"]:
            payload = {
                "model": model.name,
                "image_set": image_set.name,
                "analysis": analysis.content_key,
                "provenance": analysis.provenance,
                **results,
            }
            with open(options["json"], "w") as fh:
                json.dump(payload, fh, indent=2)
            self.stdout.write(f"Wrote {options['json']}")
