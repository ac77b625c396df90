"""python manage.py generate_stimuli SLUG: start a generation job and follow it with a progress bar."""

import time

from django.core.management.base import BaseCommand, CommandError

from studies.management import progress_bar, study_or_error
from studies.models import GenerationJob, JobStatus
from studies.stimuli import configuration, generation


class Command(BaseCommand):
    help = (
        "Generate a study's stimuli on the Celery gpu workers (or in this process with --inline) and show "
        "the progress. Idempotent: stimuli that exist are reused, a second run creates nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--inline",
            action="store_true",
            help="run the work in this process instead of on the workers (no broker needed)",
        )
        parser.add_argument("--no-wait", action="store_true", help="start the job and return")
        parser.add_argument("--force", action="store_true", help="restart even if a job looks unfinished")
        parser.add_argument("--timeout", type=float, default=0, help="give up waiting after this many seconds")
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args, slug, inline, no_wait, force, timeout, interval, **options):
        study = study_or_error(slug)
        try:
            if inline:
                job = generation.do_start_generation(study, force=force, enqueue=lambda job_id: None)
                self._run_inline(job)
            else:
                job = generation.do_start_generation(study, force=force)
        except configuration.StudyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Job {job.pk} for {study.name}")
        if no_wait and not inline:
            return
        self._follow(study, job, timeout, interval)

    def _run_inline(self, job):
        from studies.engine_runtime import resolve_device
        from studies.tasks import cached_bundle

        chunks = generation.do_plan(job.pk, cached_bundle)
        bar = progress_bar.ProgressPrinter(self.stdout)
        for chunk in chunks:
            generation.do_process_chunk(chunk, cached_bundle, device=resolve_device())
            j = GenerationJob.objects.get(pk=job.pk)
            bar(j.done + j.failed, j.total)

    def _follow(self, study, job, timeout, interval):
        bar = progress_bar.ProgressPrinter(self.stdout)
        started = time.monotonic()
        while True:
            data = generation.generation_progress(study)
            j = data["job"]
            if j and j["id"] == job.pk and j["total"]:
                bar(j["done"] + j["failed"], j["total"], rate=j["rate_per_s"] or None, eta=j["eta_s"])
            if j and j["status"] not in (JobStatus.PENDING, JobStatus.RUNNING):
                break
            if timeout and time.monotonic() - started > timeout:
                bar.finish()
                raise CommandError(f"still running after {timeout:.0f} s (job {job.pk}); it continues on the workers")
            if (
                j
                and j["status"] == JobStatus.PENDING
                and time.monotonic() - started > 30
                and int(time.monotonic() - started) % 30 == 0
            ):
                self.stdout.write("waiting for a gpu worker to take the job ...")
            time.sleep(interval)
        bar.finish()
        study.refresh_from_db()
        for failure in data["failures"]:
            self.stderr.write(f"failed: {failure['image'] or ''} {failure['method']}: {failure['reason']}")
        summary = (
            f"Job {j['id']} {j['status']}: {j['done']} of {j['total']} stimuli, {j['failed']} failed; "
            f"study is {study.get_status_display().lower()}"
        )
        if study.surviving_image_count is not None:
            summary += f"; {study.surviving_image_count} of {study.eligible_image_count} images survived"
        if j["warning"]:
            self.stderr.write(self.style.WARNING(f"warning: {j['warning']}"))
        if j["status"] == JobStatus.DONE:
            self.stdout.write(self.style.SUCCESS(summary))
        else:
            raise CommandError(summary)
