"""Migration 0010 (task kinds) on a database filled by the code before it: every trial keeps its
stimuli as ordered panels, every answer keeps what was given and how it scored, and the exports and
the analysis read the same numbers as before."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("studies", "0009_queue_pinning")]
AFTER = [("studies", "0010_task_kinds")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def fill_with_old_code(apps):
    """A class-discrimination and a trust study with answers, through the models as they were."""
    ImageSet = apps.get_model("studies", "ImageSet")
    ImageItem = apps.get_model("studies", "ImageItem")
    ClassifierModel = apps.get_model("studies", "ClassifierModel")
    Stimulus = apps.get_model("studies", "Stimulus")
    Study = apps.get_model("studies", "Study")
    Trial = apps.get_model("studies", "Trial")
    Participant = apps.get_model("studies", "Participant")
    Assignment = apps.get_model("studies", "Assignment")
    Response = apps.get_model("studies", "Response")

    image_set = ImageSet.objects.create(name="old set")
    image = ImageItem.objects.create(
        image_set=image_set,
        filename="a.png",
        file="images/a.png",
        sha256="0" * 64,
        width=8,
        height=8,
        labels=["cat", "dog"],
    )
    strong = ClassifierModel.objects.create(name="old strong", arch="demo_strong", categories=["cat", "dog"])
    weak = ClassifierModel.objects.create(name="old weak", arch="demo_weak", categories=["cat", "dog"])

    def stimulus(model, key):
        return Stimulus.objects.create(
            content_key=key * 64,
            image=image,
            model=model,
            method="gradcam",
            target_class="cat",
            target_index=0,
            target_layer="features",
            weights_sha256="1" * 64,
            engine_version="e",
            recipe_version="r",
            png=f"stimuli/{key}.png",
        )

    cd = Study.objects.create(name="cd", slug="old-cd", kind="class_discrimination", methods=["gradcam"], model=strong)
    trust = Study.objects.create(
        name="trust", slug="old-trust", kind="trust", methods=["gradcam"], stronger_model=strong, weaker_model=weak
    )
    s_cd, s_strong, s_weak = stimulus(strong, "a"), stimulus(strong, "b"), stimulus(weak, "c")
    cd_trial = Trial.objects.create(
        study=cd, index=0, image=image, method="gradcam", target_class="cat", options=["cat", "dog"], stimulus=s_cd
    )
    trust_trial = Trial.objects.create(
        study=trust,
        index=0,
        image=image,
        method="gradcam",
        target_class="cat",
        stimulus=s_strong,
        stimulus_weaker=s_weak,
    )
    out = {}
    for study, trial in ((cd, cd_trial), (trust, trust_trial)):
        p = Participant.objects.create(study=study, token=uuid.uuid4().hex, condition="gradcam", trial_count=1)
        a = Assignment.objects.create(participant=p, position=0, trial=trial, swapped=True, option_order=["dog", "cat"])
        if study is cd:
            Response.objects.create(assignment=a, idempotency_key=uuid.uuid4(), choice="dog", correct=False, rt_ms=900)
        else:
            Response.objects.create(
                assignment=a, idempotency_key=uuid.uuid4(), rating=-2, rating_toward_stronger=2, rt_ms=1100
            )
        out[study.slug] = a.pk
    return out, (s_cd.pk, s_strong.pk, s_weak.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_old_trials_and_answers_over():
    try:
        old = migrate(BEFORE)
        assignments, (s_cd, s_strong, s_weak) = fill_with_old_code(old)
        new = migrate(AFTER)
        TrialPanel = new.get_model("studies", "TrialPanel")
        Assignment = new.get_model("studies", "Assignment")
        Response = new.get_model("studies", "Response")

        cd_assignment = Assignment.objects.get(pk=assignments["old-cd"])
        trust_assignment = Assignment.objects.get(pk=assignments["old-trust"])
        panels = lambda a: list(  # noqa: E731
            TrialPanel.objects.filter(trial_id=a.trial_id).order_by("slot").values_list("slot", "stimulus_id")
        )
        assert panels(cd_assignment) == [(0, s_cd)]
        assert panels(trust_assignment) == [(0, s_strong), (1, s_weak)]
        assert cd_assignment.presentation == {} and trust_assignment.presentation == {"swapped": True}

        cd_answer = Response.objects.get(assignment_id=cd_assignment.pk)
        trust_answer = Response.objects.get(assignment_id=trust_assignment.pk)
        assert (cd_answer.answer, cd_answer.correct, cd_answer.score) == ({"choice": "dog"}, False, None)
        assert (trust_answer.answer, trust_answer.correct, trust_answer.score) == ({"rating": -2}, None, 2.0)
    finally:
        migrate(migrate_leaf())


def migrate_leaf():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_the_old_exports_columns_read_the_same_after_the_migration():
    """The export written by the new code from migrated rows has the old code's cells."""
    from studies.models import Study
    from studies.results import export

    try:
        old = migrate(BEFORE)
        fill_with_old_code(old)
        migrate(AFTER)
        migrate(migrate_leaf())
        rows = {r["study"]: r for s in Study.objects.all() for r in export.response_rows(s)}
        cd, trust = rows["old-cd"], rows["old-trust"]
        assert (cd["model"], cd["options"], cd["choice"], cd["correct"]) == ("old strong", "dog|cat", "dog", False)
        assert cd["stimulus"] and "|" not in cd["stimulus"]
        assert (trust["stronger_model"], trust["weaker_model"]) == ("old strong", "old weak")
        assert (trust["rating"], trust["rating_toward_stronger"], trust["swapped"]) == (-2, 2, True)
        assert trust["stimulus"].count("|") == 1 and trust.get("choice") is None and trust.get("options") is None
    finally:
        migrate(migrate_leaf())
