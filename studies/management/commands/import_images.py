"""python manage.py import_images NAME PATH: import a zip of images with labels.csv or PASCAL VOC XML."""

from django.core.management.base import BaseCommand, CommandError

from studies.management.progress_bar import ProgressPrinter
from studies.stimuli.imports import ImportRefused, inspect_archive, write_plan


class Command(BaseCommand):
    help = (
        "Import an image set from a zip of images plus labels.csv (filename,labels,boxes) or PASCAL VOC XML "
        "annotations. Every image is checked; a bad archive is refused as a whole and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="name of the new image set")
        parser.add_argument("path", help="the zip archive")
        parser.add_argument("--description", default="")

    def handle(self, *args, name, path, description, **options):
        self.stdout.write(f"Checking {path}")
        bar = ProgressPrinter(self.stdout, "checking ")
        try:
            with open(path, "rb") as fh:
                plan = inspect_archive(fh, progress=bar)
            bar.finish()
            bar = ProgressPrinter(self.stdout, "storing  ")
            image_set = write_plan(plan, name, description, progress=bar)
            bar.finish()
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file") from None
        except ImportRefused as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"refused: {len(exc.errors)} problems, nothing imported") from None
        labels = plan.labels
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(plan.images)} images into {image_set.name!r} ({plan.annotation_format}); "
                f"{len(labels)} labels: {', '.join(labels)}"
            )
        )
        if plan.ignored:
            self.stdout.write(f"{len(plan.ignored)} images in the archive have no annotation and were skipped")
