"""Studies with known answers, built straight through the ORM (no admin, no participant pages).

Every scenario returns the study and the numbers a correct analysis must find, computed by hand
from the answers written here.
"""

from __future__ import annotations

import io
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from studies.kinds.trust import rating_toward_stronger
from studies.models import (
    Assignment,
    ClassifierModel,
    ImageItem,
    ImageSet,
    Participant,
    ParticipantStatus,
    Response,
    Stimulus,
    Study,
    StudyStatus,
    Trial,
    TrialKind,
    TrialPanel,
)

_counter = itertools.count(1)
T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def tiny_png(color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(prefix: str) -> str:
    return default_storage.save(f"{prefix}/f{next(_counter)}.png", ContentFile(tiny_png()))


def make_model(name: str, arch: str = "demo_strong") -> ClassifierModel:
    return ClassifierModel.objects.create(
        name=name,
        arch=arch,
        categories=["cat", "dog", "bird"],
        target_layer="features.9",
        weights_sha256=f"{next(_counter):064x}",
    )


def make_images(count: int, labels=("cat", "dog")) -> list[ImageItem]:
    image_set = ImageSet.objects.create(name=f"set-{next(_counter)}")
    items = []
    for i in range(count):
        name = save_png("images")
        items.append(
            ImageItem.objects.create(
                image_set=image_set,
                filename=f"img{i:03d}.png",
                file=name,
                sha256=f"{next(_counter):064x}",
                width=4,
                height=4,
                labels=list(labels),
            )
        )
    return items


def make_stimulus(image: ImageItem, model: ClassifierModel, method: str, target: str) -> Stimulus:
    return Stimulus.objects.create(
        content_key=uuid.uuid4().hex,
        image=image,
        model=model,
        method=method,
        target_class=target,
        target_index=model.categories.index(target) if target in model.categories else 0,
        target_layer=model.target_layer,
        weights_sha256=model.weights_sha256,
        engine_version="engine-1.0",
        recipe_version="recipe-2",
        png=save_png("stimuli"),
        score=1.5,
        provenance={"method": method, "seed": 7, "torch": "2.14.1"},
    )


@dataclass
class Built:
    study: Study
    participants: dict = field(default_factory=dict)  # label -> Participant
    expected: dict = field(default_factory=dict)


class StudyBuilder:
    """Creates a study with a bank of trials, then participants whose answers are given explicitly."""

    def __init__(
        self,
        kind: str,
        design: str,
        methods: list[str],
        *,
        images: int = 12,
        max_failed: int = 0,
        min_rt: int = 300,
        slug: str | None = None,
    ):
        self.kind = kind
        self.methods = methods
        n = next(_counter)
        if kind == "trust":
            self.strong, self.weak = make_model(f"strong-{n}"), make_model(f"weak-{n}", arch="demo_weak")
            model_kw = {"stronger_model": self.strong, "weaker_model": self.weak}
        else:
            self.strong = self.weak = None
            self.model = make_model(f"net-{n}")
            model_kw = {"model": self.model}
        self.images = make_images(images)
        self.study = Study.objects.create(
            name=f"Study {n}",
            slug=slug or f"study-{n}",
            kind=kind,
            design=design,
            methods=methods,
            status=StudyStatus.LIVE,
            max_failed_attention_checks=max_failed,
            min_median_rt_ms=min_rt,
            trials_per_participant=10,
            image_set=self.images[0].image_set,
            **model_kw,
        )
        self.trials: dict = {}
        index = itertools.count()
        for i, image in enumerate(self.images):
            target = image.labels[i % 2] if kind != "trust" else image.labels[0]
            for method in methods:
                if kind == "trust":
                    s, w = (
                        make_stimulus(image, self.strong, method, target),
                        make_stimulus(image, self.weak, method, target),
                    )
                    opts = []
                else:
                    s, w = make_stimulus(image, self.model, method, target), None
                    opts = list(image.labels)
                trial = self.trials[("main", method, i)] = Trial.objects.create(
                    study=self.study,
                    index=next(index),
                    kind=TrialKind.MAIN,
                    image=image,
                    method=method,
                    target_class=target,
                    options=opts,
                )
                TrialPanel.objects.bulk_create(
                    [TrialPanel(trial=trial, slot=k, stimulus=x) for k, x in enumerate((s, w)) if x is not None]
                )
        for i, image in enumerate(self.images[:3]):
            payload = {"expected_rating": [2, -2, 0][i], "instruction": "answer as told"} if kind == "trust" else {}
            self.trials[("attention", i)] = Trial.objects.create(
                study=self.study,
                index=next(index),
                kind=TrialKind.ATTENTION,
                image=image,
                method=methods[0] if kind == "trust" else "photo_crop",
                target_class=image.labels[0],
                options=[] if kind == "trust" else list(image.labels),
                payload=payload,
            )
        self.built = Built(self.study)
        self._people = itertools.count()

    def participant(
        self,
        label: str,
        condition: str,
        answers: list[dict],
        *,
        pilot=False,
        simulated=False,
        status=ParticipantStatus.COMPLETED,
        external_id="",
        questionnaire=None,
        comment="",
        minutes=10,
        start_offset_min=None,
    ) -> Participant:
        """answers: dicts with `method` and (class discrimination) `correct` or (trust) `score` and
        `swapped`; or `attention` True with `passed`. Optional `rt` (ms, default 1200)."""
        k = next(self._people)
        start = T0 + timedelta(minutes=start_offset_min if start_offset_min is not None else k * 15)
        p = Participant.objects.create(
            study=self.study,
            condition=condition,
            is_pilot=pilot,
            is_simulated=simulated,
            status=status,
            external_source="prolific" if external_id else "",
            external_id=external_id,
            seed=k,
            questionnaire=questionnaire or {},
            comment=comment,
        )
        completed = start + timedelta(minutes=minutes) if status == ParticipantStatus.COMPLETED else None
        Participant.objects.filter(pk=p.pk).update(
            consented_at=start, last_seen_at=start + timedelta(minutes=minutes), completed_at=completed
        )
        main_seen = {}
        for position, answer in enumerate(answers):
            shown = start + timedelta(seconds=10 * position)
            if answer.get("attention"):
                trial = self.trials[("attention", answer.get("which", 0))]
                a = Assignment.objects.create(
                    participant=p,
                    position=position,
                    trial=trial,
                    is_attention_check=True,
                    option_order=list(trial.options),
                    shown_at=shown,
                    presentation={"swapped": answer.get("swapped", False)} if self.kind == "trust" else {},
                )
                if self.kind == "trust":
                    expected = trial.payload["expected_rating"]
                    rating = expected if answer["passed"] else (expected + 1 if expected < 2 else 0)
                    self._respond(
                        a,
                        rating=rating,
                        correct=rating == expected,
                        swapped=answer.get("swapped", False),
                        rt=answer.get("rt", 1500),
                    )
                else:
                    choice = (
                        trial.target_class
                        if answer["passed"]
                        else [o for o in trial.options if o != trial.target_class][0]
                    )
                    self._respond(a, choice=choice, correct=answer["passed"], rt=answer.get("rt", 1500))
                continue
            method = answer["method"]
            i = main_seen.get(method, 0) + (0 if self.study.design == "between" else self.methods.index(method) * 4)
            main_seen[method] = main_seen.get(method, 0) + 1
            trial = self.trials[("main", method, i % len(self.images))]
            swapped = bool(answer.get("swapped", False))
            a = Assignment.objects.create(
                participant=p,
                position=position,
                trial=trial,
                presentation={"swapped": swapped} if self.kind == "trust" else {},
                option_order=list(reversed(trial.options)) if position % 2 else list(trial.options),
                shown_at=shown,
            )
            if answer.get("unanswered"):
                continue
            if self.kind == "trust":
                score = answer["score"]
                rating = -score if swapped else score
                assert rating_toward_stronger(rating, swapped) == score
                self._respond(a, rating=rating, correct=None, swapped=swapped, rt=answer.get("rt", 1200))
            else:
                other = [o for o in trial.options if o != trial.target_class][0]
                choice = answer.get("choice") or (trial.target_class if answer["correct"] else other)
                self._respond(a, choice=choice, correct=answer["correct"], rt=answer.get("rt", 1200))
        self.built.participants[label] = p
        return p

    def _respond(self, assignment, *, choice="", rating=None, correct=None, swapped=False, rt=1200):
        Response.objects.create(
            assignment=assignment,
            idempotency_key=uuid.uuid4(),
            answer={"rating": rating} if rating is not None else {"choice": choice},
            correct=correct,
            score=rating_toward_stronger(rating, swapped) if rating is not None else None,
            rt_ms=rt,
        )


def _cd(method, outcomes, rt=1200):
    return [{"method": method, "correct": bool(c), "rt": rt} for c in outcomes]


def class_discrimination_between() -> Built:
    """Two methods between subjects; accuracies 15/30 and 26/33 among included participants.

    Rules: no failed attention check allowed, median RT at least 300 ms.
    """
    gb, ggc = "guided_backprop", "guided_gradcam"
    b = StudyBuilder("class_discrimination", "between", [gb, ggc], slug="cd-between")
    ok = {"attention": True, "passed": True}
    b.participant(
        "gb1",
        gb,
        _cd(gb, [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])[:5] + [ok] + _cd(gb, [0] * 5),
        questionnaire={"age_band": "25-34", "strategy": '=HYPERLINK("http://x")'},
        external_id="PID-SECRET-1",
    )
    b.participant("gb2", gb, [ok] + _cd(gb, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]), comment="@SUM(A1:A2) nice study")
    b.participant("gb3", gb, _cd(gb, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]) + [ok])
    b.participant("ggc1", ggc, [ok] + _cd(ggc, [1] * 8 + [0] * 2))
    b.participant("ggc2", ggc, [ok] + _cd(ggc, [1] * 7 + [0] * 3))
    b.participant("ggc3", ggc, [ok] + _cd(ggc, [1] * 9 + [0] * 1), simulated=True)
    b.participant("inattentive", gb, [{"attention": True, "passed": False}] + _cd(gb, [1] * 10))
    b.participant("fast", ggc, [ok] + _cd(ggc, [1] * 10, rt=150))
    b.participant("pilot", gb, [ok] + _cd(gb, [1] * 9 + [0]), pilot=True)
    b.participant(
        "abandoned",
        ggc,
        _cd(ggc, [1, 1, 0]) + [{"method": ggc, "unanswered": True}],
        status=ParticipantStatus.ABANDONED,
        minutes=2,
    )
    b.built.expected = {
        "accuracy": {gb: (15, 30), ggc: (26, 33)},
        "excluded": {"inattentive": "failed_attention_checks", "fast": "median_rt_below_minimum"},
        "responses": 9 * 11 + 3,
        "pilot": {gb: (9, 10)},
    }
    return b.built


def class_discrimination_within(seed: int = 3, people: int = 12) -> Built:
    """Three methods within subjects, answers drawn with known per-method probabilities."""
    import random

    methods = ["deconvnet", "guided_backprop", "guided_gradcam"]
    prob = {"deconvnet": 0.55, "guided_backprop": 0.45, "guided_gradcam": 0.8}
    rng = random.Random(seed)
    b = StudyBuilder("class_discrimination", "within", methods, slug="cd-within", images=12, min_rt=0)
    for k in range(people):
        answers = []
        for m in methods:
            answers += [{"method": m, "correct": rng.random() < prob[m], "rt": 800 + 37 * k} for _ in range(4)]
        rng.shuffle(answers)
        answers.insert(2, {"attention": True, "passed": True})
        b.participant(f"p{k}", f"latin-{k % 3}", answers)
    return b.built


def trust_within() -> Built:
    """Two methods within subjects, scores toward the stronger network chosen by hand.

    Four trials per method per participant, half of them with the stronger network shown as Model 2.
    """
    gb, ggc = "guided_backprop", "guided_gradcam"
    b = StudyBuilder("trust", "within", [gb, ggc], slug="trust-within", min_rt=300)
    scores = {
        "t1": ([1, 0, 1, 2], [2, 2, 1, 1]),
        "t2": ([0, 1, -1, 1], [1, 2, 2, 2]),
        "t3": ([2, 1, 1, 0], [2, 1, 2, 1]),
        "t4": ([-1, 0, 1, 0], [1, 1, 0, 2]),
        "t5": ([1, 1, 2, 1], [2, 2, 2, 1]),
    }
    for label, (s_gb, s_ggc) in scores.items():
        answers = [{"method": gb, "score": s, "swapped": i % 2 == 1} for i, s in enumerate(s_gb)]
        answers += [{"method": ggc, "score": s, "swapped": i % 2 == 0} for i, s in enumerate(s_ggc)]
        answers.insert(3, {"attention": True, "passed": True, "which": 0})
        b.participant(label, "latin-0" if label in ("t1", "t3", "t5") else "latin-1", answers)
    b.participant(
        "inattentive",
        "latin-1",
        [{"method": gb, "score": 2}] * 4
        + [{"method": ggc, "score": -2}] * 4
        + [{"attention": True, "passed": False, "which": 1}],
    )
    b.built.expected = {
        "scores": {gb: [s for v in scores.values() for s in v[0]], ggc: [s for v in scores.values() for s in v[1]]},
        "person_means": {
            gb: [sum(v[0]) / 4 for v in scores.values()],
            ggc: [sum(v[1]) / 4 for v in scores.values()],
        },
    }
    return b.built


def large_study(n_participants: int, trials_each: int) -> Study:
    """A class discrimination study with n_participants x trials_each responses, made with bulk_create."""
    methods = ["gradcam", "guided_backprop"]
    b = StudyBuilder("class_discrimination", "between", methods, images=trials_each, slug=f"large-{next(_counter)}")
    now = timezone.now()
    people = Participant.objects.bulk_create(
        [
            Participant(
                study=b.study,
                condition=methods[k % 2],
                status=ParticipantStatus.COMPLETED,
                seed=k,
                comment="-looks fine " * 3,
                questionnaire={"q": "x" * 50},
            )
            for k in range(n_participants)
        ]
    )
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                participant=p,
                position=i,
                trial=b.trials[("main", p.condition, i)],
                option_order=["cat", "dog"],
                shown_at=now,
            )
            for p in people
            for i in range(trials_each)
        ],
        batch_size=2000,
    )
    Response.objects.bulk_create(
        [
            Response(
                assignment=a,
                idempotency_key=uuid.uuid4(),
                answer={"choice": "cat"},
                correct=(a.position % 3 != 0),
                rt_ms=900 + a.position,
            )
            for a in assignments
        ],
        batch_size=2000,
    )
    return b.study
