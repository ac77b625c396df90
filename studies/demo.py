"""The offline demo world, built through the same code paths a researcher uses.

Synthetic two-object scenes (explain_engine.synthetic) are imported as an image set; two networks
trained on them (explain_engine.demo_train: a stronger one, and a weaker one trained on a biased
copy whose maps attend to a background cue) are registered; a class-discrimination study and a
trust study are configured, their stimuli generated through the Celery task path (in-process when
no broker is set) and launched. Every step reuses what a previous run built.
"""

from __future__ import annotations

import io
import os
import secrets
import shlex
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from . import lifecycle
from .models import ClassifierModel, Design, ImageSet, JobStatus, Study, StudyStatus
from .stimuli import configuration, generation
from .stimuli.imports import import_image_set
from .stimuli.registry import register_model

DEMO_USERNAME = "researcher"
DEMO_SEED = 2017
DEMO_IMAGES = 80
# Scenes for the studies come after the training and test scenes, so the networks never saw them.
DEMO_IMAGE_START = 1_000_000
IMAGE_SET_NAME = "Demo shapes"
STRONG_NAME = "Demo strong network"
WEAK_NAME = "Demo weak network (biased training)"
CD_SLUG = "demo-class-discrimination"
TRUST_SLUG = "demo-trust"
HIVE_DISTINCTION_SLUG = "demo-hive-distinction"
HIVE_AGREEMENT_SLUG = "demo-hive-agreement"
FORWARD_SIMULATION_SLUG = "demo-forward-simulation"
# Forward simulation's bias scenario needs the cue on scenes without a star too (the demo set draws it
# almost only with stars): a second set, after the first, with the stripes on half of every kind of scene.
FORWARD_IMAGE_SET_NAME = "Demo shapes (stripes on any scene)"
FORWARD_IMAGES = 160
FORWARD_IMAGE_START = 2_000_000
FORWARD_BIAS = {"label": "star", "p_with": 0.5, "p_without": 0.5}
FORWARD_METHODS = ["gradcam", "random"]  # random: maps that show nothing (its utility should be near 0)
OCCLUSION_SLUG = "demo-occlusion-2afc"
HIVE_METHODS = ["gradcam", "guided_gradcam"]
BIAS_SLUG = "demo-bias-detection"
BIAS_METHODS = ["gradcam", "guided_backprop"]
# The candidate cues of the demo scenes: the stripes are marked by cue:stripes boxes (checkable
# against the maps); colour and position have no region, as in most real image sets.
BIAS_CUES = [
    {"name": "stripes", "label": "The diagonal stripes in the background"},
    {"name": "colour", "label": "The object's colour"},
    {"name": "position", "label": "Where the object is in the picture"},
]
BIAS_CLASSES = ("star", "ring", "cross")  # the biased class and two the demo set has enough images of
CD_METHODS = ["guided_backprop", "deconvnet", "guided_gradcam", "deconv_gradcam", "gradcam"]
TRUST_METHODS = ["guided_backprop", "guided_gradcam"]
OCCLUSION_METHODS = ["gradcam", "guided_backprop"]
COMPLETION_CODE = "DEMO2017"


# The settings a printed command needs to reach the same database, broker and files as this process.
COMMAND_ENV = ("DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "DEMO_MODELS_DIR")


def _from_here(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (.venv/bin/python), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def manage_command(arguments: str) -> str:
    """A manage.py command line that runs as printed: this interpreter, this checkout, these settings."""
    env = " ".join(f"{name}={shlex.quote(os.environ[name])}" for name in COMMAND_ENV if os.environ.get(name))
    python = _from_here(Path(sys.executable))
    manage = _from_here(Path(settings.BASE_DIR) / "manage.py")
    return f"{env + ' ' if env else ''}{shlex.quote(python)} {shlex.quote(manage)} {arguments}"


def bots_command(slug: str, n: int = 20) -> str:
    return manage_command(f"simulate_participants {slug} --n {n} --policy oracle")


def do_reset_demo_staff(username: str = DEMO_USERNAME) -> str:
    """Create (or reset) the demo staff account and return its new one-time password."""
    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": ""})
    user.is_staff = True
    user.is_superuser = True
    user.set_password(password)
    user.save()
    return password


def models_dir() -> Path:
    return Path(settings.DEMO_MODELS_DIR)


def demo_image_zip(n: int = DEMO_IMAGES, seed: int = DEMO_SEED, bias="star", start: int = DEMO_IMAGE_START) -> bytes:
    """The demo scenes with their labels.csv, zipped as a researcher would upload them."""
    from explain_engine.synthetic import write_image_folder

    with tempfile.TemporaryDirectory() as tmp:
        # With the background cue the weaker network learned to take for a star: its maps reveal the bias.
        write_image_folder(tmp, n, seed, bias=bias, start=start)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).iterdir()):
                zf.write(path, path.name)
        return buf.getvalue()


def ensure_image_set(
    say, name: str = IMAGE_SET_NAME, n: int = DEMO_IMAGES, bias="star", start: int = DEMO_IMAGE_START
) -> ImageSet:
    existing = ImageSet.objects.filter(name=name).first()
    if existing:
        say(f"Image set: reusing {name!r} ({existing.images.count()} images)")
        return existing
    say(f"Image set: drawing {n} two-object scenes and importing them ...")
    image_set = import_image_set(
        name,
        io.BytesIO(demo_image_zip(n, bias=bias, start=start)),
        description="Synthetic two-object scenes (offline demo)",
    )
    say(f"  imported {image_set.images.count()} images")
    return image_set


def ensure_models(say, retrain: bool = False) -> tuple[ClassifierModel, ClassifierModel, dict]:
    """Register the demo networks: the shipped ones, or (``retrain``) ones trained here from scratch."""
    from explain_engine.demo_train import SEED, load_shipped_demo_models, train_demo_models
    from explain_engine.synthetic import CLASSES

    if retrain:
        manifest = train_demo_models(models_dir(), seed=SEED, progress=say, force=True)
    else:
        manifest = load_shipped_demo_models(progress=say)
    registered = []
    for name, arch, notes in (
        (STRONG_NAME, "shapes_strong", "16-32-64-128 channels, trained on unbiased scenes"),
        (WEAK_NAME, "shapes_weak", "8-16-32-32 channels, trained on scenes where a background cue goes with one class"),
    ):
        model = ClassifierModel.objects.filter(name=name).first()
        if model is None:
            model = register_model(
                name, arch, checkpoint=manifest["paths"][arch], categories=list(CLASSES), notes=notes
            )
            say(f"Model: registered {name!r} (target layer {model.target_layer}, sha256 {model.weights_sha256[:12]})")
        else:
            say(f"Model: reusing {name!r}")
        registered.append(model)
    return registered[0], registered[1], manifest


@dataclass(frozen=True)
class DemoStudies:
    class_discrimination: Study
    trust: Study
    hive_distinction: Study
    hive_agreement: Study
    forward_simulation: Study
    occlusion_2afc: Study
    bias_detection: Study

    def all(self) -> list[Study]:
        return [
            self.class_discrimination,
            self.trust,
            self.hive_distinction,
            self.hive_agreement,
            self.forward_simulation,
            self.occlusion_2afc,
            self.bias_detection,
        ]


def _study_defaults(image_set: ImageSet) -> dict:
    return {
        "image_set": image_set,
        "design": Design.BETWEEN,
        "seed": DEMO_SEED,
        "trials_per_participant": 12,
        "target_participants_per_condition": 10,
        "attention_checks_per_participant": 1,
        "max_failed_attention_checks": 0,
        "min_median_rt_ms": 300,
        "completion_code": COMPLETION_CODE,
        "debrief_text": "Thank you! This demo study compared ways of explaining an image classifier's decisions.",
    }


def ensure_studies(
    image_set: ImageSet, strong: ClassifierModel, weak: ClassifierModel, say, forward_images: ImageSet | None = None
) -> DemoStudies:
    def ensure(slug: str, **fields) -> Study:
        study, created = Study.objects.get_or_create(slug=slug, defaults={**_study_defaults(image_set), **fields})
        say(f"Study: {'created' if created else 'reusing'} {study.slug} ({study.get_status_display().lower()})")
        return study

    cd = ensure(
        CD_SLUG,
        name="Demo: which object does the explanation show?",
        kind="class_discrimination",
        methods=CD_METHODS,
        model=strong,
    )
    trust = ensure(
        TRUST_SLUG,
        name="Demo: which network is more reliable?",
        kind="trust",
        methods=TRUST_METHODS,
        stronger_model=strong,
        weaker_model=weak,
    )
    # HIVE explains the weaker network: its biased training gives it the wrong predictions HIVE mixes in.
    distinction = ensure(
        HIVE_DISTINCTION_SLUG,
        name="Demo (HIVE): which explanation is the network's prediction?",
        kind="hive_distinction",
        methods=HIVE_METHODS,
        model=weak,
        kind_settings={"show_labels": False, "incorrect_share": 0.5, "bonus_per_correct_above_chance": 0.05},
    )
    agreement = ensure(
        HIVE_AGREEMENT_SLUG,
        name="Demo (HIVE): is the network's prediction right?",
        kind="hive_agreement",
        methods=HIVE_METHODS,
        model=weak,
        kind_settings={"bonus_per_correct_above_chance": 0.05},
    )
    # Forward simulation (Colin, Fel et al. 2022), bias scenario: can people learn, with Grad-CAM or
    # without any explanation, that the weaker network takes the stripes for a star?
    forward = ensure(
        FORWARD_SIMULATION_SLUG,
        name="Demo (meta-predictor): predict the network's decisions",
        kind="forward_simulation",
        methods=FORWARD_METHODS,
        control_arm=True,
        model=weak,
        image_set=forward_images or ensure_forward_image_set(say),
        trials_per_participant=48,
        kind_settings={"scenario": "bias", "rounds": 3, "learning_per_round": 8, "test_per_round": 8},
    )
    # Counterfactual simulation explains the stronger network: its confidence is what occlusion moves.
    occlusion = ensure(
        OCCLUSION_SLUG,
        name="Demo (2-AFC): hiding which region lowers the network's confidence more?",
        kind="occlusion_2afc",
        methods=OCCLUSION_METHODS,
        control_arm=True,
        model=strong,
        kind_settings={"patch_size": 0.25, "min_score_difference": 0.1, "occlusion_baseline": "mean"},
    )
    # Both networks in one study: the same classes of the same kind of images, declared "stripes" for
    # the biased network's star and "the object" for the stronger one's, so an answer from a prior
    # ("networks look at the object") cannot be right on both, and the networks are compared within
    # each participant and arm.
    truth = {
        STRONG_NAME: {cls: "object" for cls in BIAS_CLASSES},
        WEAK_NAME: {cls: ("stripes" if cls == "star" else "object") for cls in BIAS_CLASSES},
    }
    bias = ensure(
        BIAS_SLUG,
        name="Demo: what does the network rely on?",
        kind="bias_detection",
        methods=BIAS_METHODS,
        control_arm=True,
        model=strong,
        weaker_model=weak,
        kind_settings={"images_per_set": 6, "sets_per_class": 2, "cues": BIAS_CUES, "ground_truth": truth},
    )
    return DemoStudies(cd, trust, distinction, agreement, forward, occlusion, bias)


def ensure_forward_image_set(say) -> ImageSet:
    return ensure_image_set(say, FORWARD_IMAGE_SET_NAME, FORWARD_IMAGES, FORWARD_BIAS, FORWARD_IMAGE_START)


def ensure_live(study: Study, say) -> Study:
    """Generate (through the Celery task path) and launch, unless already done."""
    study.refresh_from_db()
    if study.status in (StudyStatus.LIVE, StudyStatus.CLOSED):
        return study
    if study.status != StudyStatus.READY or not generation.stimuli_complete(study):
        say(f"Generating the stimuli of {study.slug} ...")
        job = generation.do_start_generation(study, force=True)
        job = _wait(job, say)
        if job.status != JobStatus.DONE:
            reasons = "; ".join(job.failures.values_list("reason", flat=True)[:3])
            raise configuration.StudyError(f"generation of {study.slug} ended {job.status}: {reasons}")
        study.refresh_from_db()
        survived = (
            f", {study.surviving_image_count} of {study.eligible_image_count} images survived"
            if study.surviving_image_count is not None
            else ""
        )
        say(f"  {job.done} stimuli{survived}")
    study = lifecycle.do_launch(study)
    say(f"Launched {study.slug}")
    return study


def _wait(job, say, timeout: float = 1800):
    """In-process (eager) generation is finished on return; with a broker, follow the workers."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while True:
        job.refresh_from_db()
        if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            return job
        if (job.done, job.total) != last:
            say(f"  {job.done}/{job.total} stimuli")
            last = (job.done, job.total)
        if time.monotonic() > deadline:
            raise configuration.StudyError(f"generation still running after {timeout:.0f} s; is a gpu worker up?")
        time.sleep(1)


def do_build_demo(say=print, retrain: bool = False) -> DemoStudies:
    image_set = ensure_image_set(say)
    strong, weak, manifest = ensure_models(say, retrain=retrain)
    studies = ensure_studies(image_set, strong, weak, say)
    return DemoStudies(*(ensure_live(study, say) for study in studies.all()))
