"""Test data built directly through the ORM: image sets, classifiers, stimuli, trial banks, live studies.

No generation pipeline and no network are involved: stimuli are tiny PNGs drawn with Pillow and saved
through default_storage (MEDIA_ROOT), trial banks come from studies.design exactly as the real
pipeline builds them. Reusable by participant, results/export and bot tests:

    study = make_class_discrimination_study()               # live, between subjects, 3 methods
    study = make_trust_study(design="within")                # live, stronger/weaker models
    participant = make_participant(study)                    # consented through studies.participants.flow
    answer_all(participant)                                  # every trial answered (correct answers)
"""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageDraw

from studies import design
from studies.kinds import KindContext, class_discrimination, kind_of, trust
from studies.models import (
    Assignment,
    ClassifierModel,
    ImageItem,
    ImageSet,
    Participant,
    ParticipantStatus,
    Prediction,
    Response,
    Stimulus,
    Study,
    StudyStatus,
    Trial,
    TrialPanel,
)

CATEGORIES = ("cat", "dog", "car", "bird", "boat", "chair")
CD_METHODS = ("gradcam", "guided_backprop", "guided_gradcam")
TRUST_METHODS = ("guided_backprop", "guided_gradcam")
PALETTE = {
    "cat": (230, 120, 40),
    "dog": (60, 140, 220),
    "car": (200, 40, 60),
    "bird": (240, 200, 40),
    "boat": (40, 170, 120),
    "chair": (150, 90, 200),
}
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


# --- pictures ----------------------------------------------------------------------------------
def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def scene_png(labels, boxes, size: int = 128, seed: int = 0) -> bytes:
    """A textured background with one coloured shape per box (a stand-in for a photograph)."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), (rng.randint(90, 140), rng.randint(110, 150), rng.randint(80, 120)))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(size), rng.randrange(size)
        draw.point((x, y), fill=(rng.randint(60, 180),) * 3)
    for label, box in zip(labels, boxes, strict=True):
        draw.ellipse(box, fill=PALETTE.get(label, (200, 200, 200)), outline=(0, 0, 0))
    return png_bytes(img)


def heatmap_png(box, size: int = 128, seed: int = 0, spread: float = 1.0) -> bytes:
    """A CAM-like picture: dark background with a warm blob centred on `box`."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), (8, 10, 40))
    draw = ImageDraw.Draw(img)
    cx, cy = (box[0] + box[2]) / 2 + rng.uniform(-4, 4), (box[1] + box[3]) / 2 + rng.uniform(-4, 4)
    radius = max(box[2] - box[0], box[3] - box[1]) * 0.7 * spread
    ramp = [(20, 40, 160), (30, 120, 220), (60, 200, 200), (160, 230, 90), (250, 210, 40), (240, 90, 30), (200, 20, 20)]
    for step, colour in enumerate(ramp):
        r = radius * (1 - step / len(ramp))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return png_bytes(img)


def crop_png(scene: bytes, box, size: int = 128) -> bytes:
    """Attention-check stimulus: the photograph greyed out except the target's box."""
    photo = Image.open(io.BytesIO(scene)).convert("RGB")
    grey = Image.new("RGB", photo.size, (128, 128, 128))
    region = tuple(int(v) for v in box)
    grey.paste(photo.crop(region), region[:2])
    return png_bytes(grey)


# --- rows --------------------------------------------------------------------------------------
def make_classifier(name: str | None = None, categories=CATEGORIES, arch: str = "demo_cnn") -> ClassifierModel:
    return ClassifierModel.objects.create(
        name=name or unique("model"),
        arch=arch,
        categories=list(categories),
        target_layer="features.9",
        weights_sha256=hashlib.sha256((name or "w").encode()).hexdigest(),
        input_size=128,
    )


def make_image_set(
    n_images: int = 6, categories=CATEGORIES, name: str | None = None, seed: int = 0, cues: bool = False
) -> ImageSet:
    """Images with exactly two categories each (boxes on the left and right half), cycling pairs;
    with `cues`, odd images also carry a background cue's box (`stripes`, as labels.csv's `cue:`)."""
    image_set = ImageSet.objects.create(name=name or unique("images"), annotation_format="labels.csv")
    pairs = list(itertools.combinations(categories, 2))
    for i in range(n_images):
        labels = list(pairs[i % len(pairs)])
        boxes = [[10, 30, 58, 90], [70, 36, 118, 96]]
        data = scene_png(labels, boxes, seed=seed * 1000 + i)
        item = ImageItem(
            image_set=image_set,
            filename=f"img_{i:03d}.png",
            sha256=hashlib.sha256(data).hexdigest(),
            labels=labels,
            boxes=[{"label": lab, "box": box} for lab, box in zip(labels, boxes, strict=True)]
            + ([{"label": "stripes", "box": [0, 100, 128, 128], "cue": True}] if cues and i % 2 else []),
        )
        item.file.save(f"{image_set.name}_{i:03d}.png", ContentFile(data), save=False)
        item.width, item.height = Image.open(io.BytesIO(data)).size
        item.save()
    return image_set


def make_stimulus(image: ImageItem, model: ClassifierModel, method: str, target_class: str, *, spread: float = 1.0):
    """One stored stimulus (PNG through default_storage); photo_crop gives an attention-check crop."""
    key = hashlib.sha256(f"{image.pk}:{model.pk}:{method}:{target_class}:{spread}".encode()).hexdigest()
    existing = Stimulus.objects.filter(content_key=key).first()
    if existing:
        return existing
    boxes = image.boxes_for(target_class) or [[32, 32, 96, 96]]
    if method == design.ATTENTION_CROP:
        with image.file.open("rb") as fh:
            data = crop_png(fh.read(), boxes[0])
    else:
        data = heatmap_png(boxes[0], seed=int(key[:8], 16), spread=spread)
    stim = Stimulus(
        content_key=key,
        image=image,
        model=model,
        method=method,
        target_class=target_class,
        target_index=list(model.categories).index(target_class) if target_class in model.categories else 0,
        target_layer=model.target_layer or "auto",
        weights_sha256=model.weights_sha256,
        engine_version="test",
        recipe_version="test",
        provenance={"factory": True},
    )
    stim.png.save(f"{key[:16]}.png", ContentFile(data), save=False)
    stim.save()
    return stim


def with_raw_map(stimulus: Stimulus, raw=None) -> Stimulus:
    """Give a stimulus a stored raw map (.npy through default_storage); a 4x4 of ones by default."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ones((4, 4), dtype=np.float32) if raw is None else raw, allow_pickle=False)
    stimulus.raw_map.save(f"{stimulus.content_key}.npy", ContentFile(buf.getvalue()))
    return stimulus


# One code per recruitment outcome (studies/participants/recruitment.py), for the recruitment tests.
RECRUITMENT_CODES = {
    "completion_code": "C0MPL3TE",
    "screened_out_code": "SCREENED1",
    "failed_checks_code": "FAILED22",
    "no_consent_code": "NOCONSENT",
    "timed_out_code": "TIMEOUT9",
}


def _study(
    kind, *, slug, methods, status, design_name, trials_per_participant, attention_checks, seed, image_set, **fields
):
    return Study.objects.create(
        name=fields.pop("name", f"Test study {slug}"),
        slug=slug,
        kind=kind,
        status=status,
        methods=list(methods),
        design=design_name,
        image_set=image_set,
        trials_per_participant=trials_per_participant,
        seed=seed,
        attention_checks_per_participant=attention_checks,
        consent_text=fields.pop("consent_text", "This is a test study. Your answers are recorded anonymously."),
        instructions_text=fields.pop("instructions_text", ""),
        debrief_text=fields.pop("debrief_text", "Thank you for taking part."),
        completion_code=fields.pop("completion_code", "C0MPL3TE"),
        launched_at=timezone.now() if status == StudyStatus.LIVE else None,
        **fields,
    )


def make_class_discrimination_study(
    *,
    slug: str | None = None,
    methods=CD_METHODS,
    design_name: str = "between",
    n_images: int = 6,
    trials_per_participant: int = 4,
    attention_checks: int = 1,
    status: str = StudyStatus.LIVE,
    seed: int = 7,
    categories=CATEGORIES,
    **fields,
) -> Study:
    """A class-discrimination study with its trial bank and stimuli (one per bank entry)."""
    model = make_classifier(categories=categories)
    image_set = make_image_set(n_images, categories, seed=seed)
    study = _study(
        "class_discrimination",
        slug=slug or unique("cd"),
        methods=methods,
        status=status,
        design_name=design_name,
        trials_per_participant=trials_per_participant,
        attention_checks=attention_checks,
        seed=seed,
        image_set=image_set,
        model=model,
        **fields,
    )
    items = {im.pk: im for im in image_set.images.all()}
    infos = [design.ImageInfo(im.pk, tuple(im.labels)) for im in items.values()]
    bank = class_discrimination.build_bank(
        infos, list(categories), list(methods), seed, attention_checks=attention_checks
    )
    for entry in bank:
        image = items[entry.image_id]
        trial = Trial.objects.create(
            study=study,
            index=entry.index,
            kind=entry.kind,
            image=image,
            method=entry.method,
            target_class=entry.target_class,
            options=list(entry.options),
            payload=dict(entry.payload),
        )
        add_panels(trial, make_stimulus(image, model, entry.method, entry.target_class))
    study.eligible_image_count = len(items)
    study.save(update_fields=["eligible_image_count"])
    return study


def first_stimulus(study: Study) -> Stimulus:
    """The stimulus of the study's first panel."""
    return Stimulus.objects.filter(panels__trial__study=study).order_by("panels__trial__index", "panels__slot").first()


def add_panels(trial, *stimuli):
    """The trial's panels, in the kind's order."""
    TrialPanel.objects.bulk_create([TrialPanel(trial=trial, slot=i, stimulus=s) for i, s in enumerate(stimuli)])


def make_hive_study(
    kind: str,
    *,
    slug: str | None = None,
    methods=("gradcam", "guided_gradcam"),
    n_images: int = 8,
    trials_per_participant: int = 4,
    attention_checks: int = 1,
    status: str = StudyStatus.LIVE,
    seed: int = 5,
    settings=None,
    cues: bool = False,
    measure=None,
    **fields,
) -> Study:
    """A study of a kind that explains one network from its stored predictions (the HIVE kinds,
    forward simulation, occlusion 2-AFC): the network is right on even images (top-1 is the first
    label) and wrong on odd ones (top-1 another class, the first label second), so the bank can mix
    both; with `cues`, the odd images carry a background cue; trials and panels are made as
    generation makes them. `measure(study, context)` stands in for the kind's measurement on the
    worker, if it has one."""
    model = make_classifier(categories=CATEGORIES)
    image_set = make_image_set(n_images, CATEGORIES, seed=seed, cues=cues)
    study = _study(
        kind,
        slug=slug or unique(kind.replace("_", "-")),
        methods=methods,
        status=status,
        design_name="between",
        trials_per_participant=trials_per_participant,
        attention_checks=attention_checks,
        seed=seed,
        image_set=image_set,
        model=model,
        kind_settings=dict(settings or {}),
        **fields,
    )
    task = kind_of(study)
    found = task.eligibility(study)
    context = KindContext(found.images, found.visible)
    for i, image in enumerate(found.images):
        truth = image.labels[0]
        others = [c for c in CATEGORIES if c not in image.labels]
        top = [truth, *others[:4]] if i % 2 == 0 else [others[0], truth, *others[1:4]]
        Prediction.objects.create(
            model=model, image=image, weights_sha256=model.weights_sha256, top_labels=top, top_scores=[5, 4, 3, 2, 1]
        )
        context.predictions[(model.id, image.id)] = top
    if measure is not None:
        measure(study, context)
    return _with_bank(study, task, found, context)


def _with_bank(study, task, found, context):
    """The study's trials and panels from its kind's bank, as generation makes them (a stored
    stimulus per panel), and the image counts generation records."""
    bank = task.build_bank(study, context)
    images = {im.pk: im for im in found.images}
    for entry in bank:
        trial = Trial.objects.create(
            study=study,
            index=entry.index,
            kind=entry.kind,
            image=images[entry.image_id],
            method=entry.method,
            target_class=entry.target_class,
            options=list(entry.options),
            payload=dict(entry.payload),
        )
        panels = task.panels(study, trial)
        add_panels(trial, *(make_stimulus(p.image or trial.image, p.model, p.method, p.target_class) for p in panels))
    study.eligible_image_count = len(found.images)
    study.surviving_image_count = task.surviving_count(study, context, bank)
    study.save(update_fields=["eligible_image_count", "surviving_image_count"])
    return study


BIAS_CUES = [
    {"name": "stripes", "label": "The stripes in the background"},
    {"name": "colour", "label": "The object's colour"},
]


def make_bias_study(
    *,
    slug: str | None = None,
    methods=("gradcam", "guided_gradcam"),
    n_images: int = 30,
    trials_per_participant: int = 4,
    attention_checks: int = 1,
    status: str = StudyStatus.LIVE,
    seed: int = 13,
    settings=None,
    **fields,
) -> Study:
    """A bias-detection study of two networks: images of cat (every one with a `cue:stripes` box at
    the top left), the first network declared to rely on the stripes for cat, the second on the object.
    Predictions are stored (the first label first); trials and panels are made as generation makes them."""
    first, second = make_classifier(categories=CATEGORIES), make_classifier(categories=CATEGORIES)
    image_set = make_image_set(n_images, CATEGORIES, seed=seed)
    for image in image_set.images.all():
        image.boxes = [*image.boxes, {"label": "stripes", "box": [0, 0, 24, 24], "cue": True}]
        image.save(update_fields=["boxes"])
    kind_settings = {
        "images_per_set": 2,
        "sets_per_class": 2,
        "cues": BIAS_CUES,
        "ground_truth": {first.name: {"cat": "stripes"}, second.name: {"cat": "object"}},
        **(settings or {}),
    }
    study = _study(
        "bias_detection",
        slug=slug or unique("bias"),
        methods=methods,
        status=status,
        design_name="between",
        trials_per_participant=trials_per_participant,
        attention_checks=attention_checks,
        seed=seed,
        image_set=image_set,
        model=first,
        weaker_model=second,
        kind_settings=kind_settings,
        **fields,
    )
    task = kind_of(study)
    found = task.eligibility(study)
    context = KindContext(found.images, found.visible)
    for model in (first, second):
        for image in found.images:
            top = [*image.labels, *(c for c in CATEGORIES if c not in image.labels)][:5]
            Prediction.objects.create(
                model=model,
                image=image,
                weights_sha256=model.weights_sha256,
                top_labels=top,
                top_scores=[5, 4, 3, 2, 1],
            )
            context.predictions[(model.id, image.id)] = top
    return _with_bank(study, task, found, context)


def make_forward_simulation_study(
    *,
    scenario: str = "bias",
    methods=("gradcam",),
    control_arm: bool = True,
    n_images: int = 16,
    attention_checks: int = 1,
    **settings,
) -> Study:
    """A forward-simulation study: 2 rounds of 2 learning + 2 test trials, images with and without a
    cue (the network is wrong on the cue ones), the control arm on."""
    settings = {"rounds": 2, "learning_per_round": 2, "test_per_round": 2, "scenario": scenario, **settings}
    per_participant = settings["rounds"] * (settings["learning_per_round"] + settings["test_per_round"])
    return make_hive_study(
        "forward_simulation",
        methods=methods,
        n_images=n_images,
        trials_per_participant=per_participant,
        settings=settings,
        cues=True,
        control_arm=control_arm,
        attention_checks=attention_checks,
    )


def occlusion_facts(study, context, patches_per_side: int = 4) -> None:
    """Stand-in ground truth for occlusion 2-AFC studies (the real one runs the network: see
    tests/kinds/test_occlusion_ground_truth_is_measured_on_the_worker.py): the network's confidence
    falls with each patch's index, and each method's map puts mass on even patches more than on odd
    ones, so some pairs agree with the truth and some do not."""
    side = 1 / patches_per_side
    patches = [
        [round(c * side, 4), round(r * side, 4), round((c + 1) * side, 4), round((r + 1) * side, 4)]
        for r in range(patches_per_side)
        for c in range(patches_per_side)
    ]
    from studies.kinds.occlusion_2afc import Occlusion2AFC
    from studies.stimuli.geometry import model_geometry

    n = len(patches)
    for image in context.eligible:
        top = context.predictions[(study.model.id, image.id)]
        catch = Occlusion2AFC._catch_regions(image, top[0], model_geometry(study.model), 1000, 1000, patches)
        context.measured[image.id] = {
            "class": top[0],
            "score": 0.9,
            "patches": patches,
            "occluded": [round(0.9 - 0.05 * k, 6) for k in range(n)],
            "mass": {m: [round((2.0 if k % 2 == 0 else 1.0) / (1.5 * n), 6) for k in range(n)] for m in study.methods},
            "catch": catch and {"object": catch[0], "corner": catch[1], "object_score": 0.1, "corner_score": 0.88},
            "provenance": {"model": study.model.name, "score": "softmax", "baseline": "mean", "patch_size": side},
        }


def make_occlusion_study(**kwargs) -> Study:
    """An occlusion 2-AFC study on stored predictions and the stand-in ground truth above."""
    return make_hive_study("occlusion_2afc", measure=occlusion_facts, **kwargs)


def make_trust_study(
    *,
    slug: str | None = None,
    methods=TRUST_METHODS,
    design_name: str = "between",
    n_images: int = 6,
    trials_per_participant: int = 4,
    attention_checks: int = 1,
    status: str = StudyStatus.LIVE,
    seed: int = 11,
    categories=CATEGORIES,
    **fields,
) -> Study:
    """A trust study: stronger and weaker models, each trial pairs their maps for the image's first class."""
    stronger = make_classifier(name=unique("strong"), categories=categories)
    weaker = make_classifier(name=unique("weak"), categories=categories)
    image_set = make_image_set(n_images, categories, seed=seed)
    study = _study(
        "trust",
        slug=slug or unique("trust"),
        methods=methods,
        status=status,
        design_name=design_name,
        trials_per_participant=trials_per_participant,
        attention_checks=attention_checks,
        seed=seed,
        image_set=image_set,
        stronger_model=stronger,
        weaker_model=weaker,
        **fields,
    )
    items = {im.pk: im for im in image_set.images.all()}
    pairs = [(pk, im.labels[0]) for pk, im in items.items()]
    bank = trust.build_bank(pairs, list(methods), seed, attention_checks=attention_checks)
    for entry in bank:
        image = items[entry.image_id]
        trial = Trial.objects.create(
            study=study,
            index=entry.index,
            kind=entry.kind,
            image=image,
            method=entry.method,
            target_class=entry.target_class,
            options=[],
            payload=dict(entry.payload),
        )
        add_panels(
            trial,
            make_stimulus(image, stronger, entry.method, entry.target_class),
            make_stimulus(image, weaker, entry.method, entry.target_class, spread=2.2),
        )
    study.eligible_image_count = study.surviving_image_count = len(items)
    study.save(update_fields=["eligible_image_count", "surviving_image_count"])
    return study


# --- participants ------------------------------------------------------------------------------
def make_participant(
    study: Study,
    *,
    external_id: str = "",
    source: str = "prolific",
    pilot: bool = False,
    simulated: bool = False,
    now=None,
) -> Participant:
    """A consented participant with a condition and assignments, through the real consent logic."""
    from studies.participants import flow as participation

    # The recruitment link's per-submission parameter comes along, as the platforms send it.
    meta = {participation.PROOF_PARAMS[source]: f"submission-of-{external_id}"}
    identity = participation.ExternalIdentity(source, external_id, meta) if external_id else None
    return participation.do_consent(study, identity=identity, pilot=pilot, simulated=simulated, now=now)


def good_answer(assignment: Assignment) -> dict:
    """The form fields of a correct answer ('stronger model' for trust), for any kind."""
    trial = assignment.trial
    data = {
        "assignment": assignment.pk,
        "position": assignment.position,
        "idempotency_key": str(uuid.uuid4()),
        "rt_ms": 850,
    }
    kind = assignment.participant.study.kind
    if kind == "trust":
        if trial.kind == "attention":
            data["rating"] = trial.payload["expected_rating"]
        else:
            data["rating"] = -2 if assignment.presentation.get("swapped") else 2
    elif kind == "hive_distinction":
        order = list(assignment.option_order)
        expected = trial.payload.get("expected_panel")
        predicted = expected or order.index(trial.target_class) + 1
        correct = expected or order.index(trial.payload["true_class"]) + 1
        data.update(predicted=predicted, confidence=4, correct_class=correct, correct_confidence=3)
    elif kind == "occlusion_2afc":
        data["choice"] = f"{trial.payload['answer']}3"
    elif kind == "forward_simulation":
        if trial.payload.get("block") == "learning":
            data["seen"] = "ok"
        else:
            data["predicted"] = trial.payload.get("expected_class") or trial.target_class
    elif kind == "hive_agreement":
        right = trial.payload.get("prediction_correct")
        data["agreement"] = trial.payload.get("expected_agreement") or (1 if right else 4)
    elif kind == "bias_detection":
        data.update(reliance=trial.payload.get("expected_choice") or trial.payload["declared"], confidence=4)
    else:
        data["choice"] = trial.target_class
    return data


def answer_all(participant: Participant, *, complete: bool = True, comment: str = "") -> Participant:
    """Answer every remaining trial correctly (through do_answer) and optionally finish the questionnaire."""
    from studies.participants import flow as participation

    for assignment in participant.assignments.select_related("trial", "participant__study").filter(
        response__isnull=True
    ):
        participation.do_answer(participant, good_answer(assignment))
    if complete:
        participation.do_questionnaire(participant, comment)
    participant.refresh_from_db()
    return participant


def response_count(study: Study) -> int:
    return Response.objects.filter(assignment__participant__study=study).count()


def make_inactive(participant: Participant, minutes: int | None = None) -> None:
    """Pretend the participant has not been seen for longer than the study's inactivity timeout."""
    minutes = minutes if minutes is not None else participant.study.inactivity_timeout_minutes + 5
    Participant.objects.filter(pk=participant.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=minutes), status=ParticipantStatus.ACTIVE
    )
