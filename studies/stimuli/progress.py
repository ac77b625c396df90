"""What the study page says about generation: one phase vocabulary, the queue position, ready-made texts.

`generation.generation_progress` gives the counts; this module turns them into the words the admin
page and its live progress bar (static/js/progress.js) both show, so the page says the same thing
before and after its first poll. A job goes through these phases:

waiting     queued, no GPU worker has taken it yet: it shows what is ahead of it on the gpu queue
planning    a worker builds the trial bank and counts the stimuli to make (the total is not known yet)
generating  stimuli are being made: counts, rate and time left
done/failed finished
"""

from __future__ import annotations

from ..models import FaithfulnessReport, GenerationJob, JobStatus, Study, StudyStatus
from . import generation

PHASE_LABELS = {
    "waiting": "Waiting in the queue",
    "planning": "Planning",
    "generating": "Generating",
    "done": "Done",
    "failed": "Failed",
}
STATUS_LABELS = dict(StudyStatus.choices)


def failure_text(image: str | None, model: str | None, method: str, reason: str) -> str:
    """One failure as a line: image (model) method: reason; a job-level failure is its reason alone."""
    where = " ".join(part for part in (image or "", f"({model})" if model else "", method or "") if part)
    return f"{where}: {reason}" if where else reason


def job_phase(job: dict) -> str:
    if job["status"] == JobStatus.PENDING:
        return "waiting"
    if job["status"] == JobStatus.RUNNING:
        return "generating" if job["total"] else "planning"
    return job["status"]


def queue_ahead(job: GenerationJob) -> list[str]:
    """The unfinished GPU work queued before this job (other studies' jobs and faithfulness reports), oldest first."""
    unfinished = (JobStatus.PENDING, JobStatus.RUNNING)
    jobs = (
        GenerationJob.objects.filter(status__in=unfinished, created_at__lt=job.created_at)
        .exclude(pk=job.pk)
        .select_related("study")
    )
    reports = FaithfulnessReport.objects.filter(status__in=unfinished, created_at__lt=job.created_at).select_related(
        "study"
    )
    ahead = [(j.created_at, f"stimulus generation for {j.study.name}") for j in jobs]
    ahead += [(r.created_at, f"the faithfulness report of {r.study.name}") for r in reports]
    return [what for _, what in sorted(ahead, key=lambda item: item[0])]


def job_summary(job: dict) -> str:
    label = PHASE_LABELS[job["phase"]]
    if job["phase"] == "waiting":
        ahead = job["queue_ahead"]
        if not ahead:
            return f"Job {job['id']} — {label}: first in line, waiting for a GPU worker."
        return (
            f"Job {job['id']} — {label}: position {job['queue_position']}, behind {len(ahead)} "
            f"earlier task{'s' if len(ahead) != 1 else ''} ({'; '.join(ahead[:5])})."
        )
    if job["phase"] == "planning":
        return f"Job {job['id']} — {label}: building the trial bank and finding the stimuli to make."
    if job["phase"] == "failed" and not job["total"]:
        return f"Job {job['id']} — {label} while planning, before any stimulus was made (see the failures below)."
    text = f"Job {job['id']} — {label}: {job['done']} of {job['total']} stimuli, {job['failed']} failed"
    if job["phase"] == "generating":
        if job["rate_per_s"]:
            text += f", {job['rate_per_s']:.2f} per second"
        if job["eta_s"]:
            text += f", about {job['eta_s']:.0f} s left"
    return text + "."


def study_progress(study: Study) -> dict:
    """generation.generation_progress plus labels, the job's phase, its queue position and display texts."""
    data = generation.generation_progress(study)
    data["study_status_label"] = STATUS_LABELS.get(data["study_status"], data["study_status"])
    for f in data["failures"]:
        f["text"] = failure_text(f["image"], f["model"], f["method"], f["reason"])
    job = data["job"]
    if job is None:
        return data
    job["phase"] = job_phase(job)
    job["phase_label"] = PHASE_LABELS[job["phase"]]
    job["queue_ahead"] = []
    job["queue_position"] = None
    if job["phase"] == "waiting":
        job["queue_ahead"] = queue_ahead(GenerationJob.objects.get(pk=job["id"]))
        job["queue_position"] = len(job["queue_ahead"]) + 1
    job["summary"] = job_summary(job)
    return data
