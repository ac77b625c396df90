"""python manage.py register_model NAME --arch ARCH (--weights NAME | --checkpoint FILE) [--categories FILE]."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.stimuli.registry import RegistrationRefused, parse_categories, register_model


class Command(BaseCommand):
    help = (
        "Register a classifier: a torchvision architecture with a weights name, or an architecture with a "
        "state-dict checkpoint (read with weights_only=True). Loads it once to find the target layer and "
        "the weights' sha256."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--arch",
            required=True,
            help="torchvision name (vgg16, alexnet, resnet50, ...) or a demo architecture (shapes_strong, shapes_weak)",
        )
        parser.add_argument("--weights", default="", help="torchvision weights name, e.g. DEFAULT or IMAGENET1K_V1")
        parser.add_argument("--checkpoint", default=None, help="a state dict saved with torch.save")
        parser.add_argument("--categories", default=None, help="file with class names, one per line (or JSON list)")
        parser.add_argument("--target-layer", default="", help="dotted module name; detected when omitted")
        parser.add_argument(
            "--display",
            choices=["standard", "pad_square"],
            default="standard",
            help="standard: the architecture's transform (torchvision: resize and center-crop, which cuts off "
            "the sides of non-square photos); pad_square: pad photos to a square and show them whole",
        )
        parser.add_argument("--notes", default="")

    def handle(self, *args, **o):
        try:
            cats = None
            if o["categories"]:
                cats = parse_categories(Path(o["categories"]).read_text(encoding="utf-8"))
            self.stdout.write(f"Loading {o['arch']} ...")
            model = register_model(
                o["name"],
                o["arch"],
                weights_name=o["weights"],
                checkpoint=o["checkpoint"],
                categories=cats,
                target_layer=o["target_layer"],
                notes=o["notes"],
                display=o["display"],
            )
        except (RegistrationRefused, OSError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from None
        cats = model.categories
        shown = ", ".join(cats[:20]) + (f", ... ({len(cats)} in all)" if len(cats) > 20 else "")
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {model.name}: {model.arch}, target layer {model.target_layer}, "
                f"weights sha256 {model.weights_sha256}, input {model.input_size}px"
            )
        )
        self.stdout.write(f"Categories: {shown}")
