"""Create the media bucket (MEDIA_STORAGE=s3) and make its stimuli public-read; run at start-up."""

from django.conf import settings
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the S3 media bucket if missing and give it the policy that makes stimuli/ public-read."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-policy",
            action="store_true",
            help="leave the bucket policy alone (a CDN with origin access, or a policy managed elsewhere)",
        )

    def handle(self, *args, no_policy=False, **options):
        if settings.MEDIA_STORAGE != "s3":
            self.stdout.write("MEDIA_STORAGE is local: no bucket to create.")
            return
        from botocore.exceptions import BotoCoreError, ClientError

        from config.storage import ensure_bucket

        try:
            for line in ensure_bucket(storages["default"], policy=not no_policy):
                self.stdout.write(line)
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(
                f"the media bucket {settings.AWS_STORAGE_BUCKET_NAME} at "
                f"{settings.AWS_S3_ENDPOINT_URL or 'AWS S3'} refused: {exc}. On AWS, allow public bucket "
                "policies for this bucket (Block Public Access) or use --no-policy behind a CDN."
            ) from exc
        self.stdout.write(self.style.SUCCESS("media bucket ready"))
