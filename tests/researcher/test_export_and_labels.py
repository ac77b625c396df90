"""Exports and labels on a researcher's within-subjects study: the condition is the Latin-square row,
attention-check crops have an empty engine version, the monitor names the condition, the power line
uses the configured trials and fits its box, jobs and faithfulness rows are named."""

import csv
import io

import pytest
from django.urls import reverse

from studies import design
from studies.models import GenerationJob
from studies.participants import flow as participation
from studies.results import analysis, export, faithfulness, monitor
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def piloted(researcher_world):
    study = researcher_world.generate(
        researcher_world.class_discrimination_study(methods=["gradcam", "guided_backprop", "guided_gradcam"])
    )
    study.status = "live"
    study.save()
    people = [factories.answer_all(factories.make_participant(study)) for _ in range(2)]
    return study, people


def rows(chunks):
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def test_within_subjects_condition_is_the_latin_square_row(piloted):
    study, people = piloted
    labels = {str(p.public_id): design.latin_condition(study.methods, p.latin_square_row) for p in people}
    assert labels[str(people[0].public_id)] == "row 0: gradcam > guided_backprop > guided_gradcam"
    for row in rows(export.export_responses(study)) + rows(export.export_participants(study)):
        assert row["condition"] == labels[row["participant"]]
    conditions = [c["condition"] for c in monitor.monitor_data(study)["conditions"]]
    assert sorted(conditions) == sorted(labels.values()) and "(none)" not in conditions


def test_attention_check_crops_export_an_empty_engine_version(piloted):
    study, _ = piloted
    answers = rows(export.export_responses(study))
    checks = [r for r in answers if r["trial_kind"] == "attention"]
    assert checks and all(r["engine_version"] == "" for r in checks)
    assert all(r["engine_version"] == "1.0.0" for r in answers if r["trial_kind"] == "main")
    crops = [r for r in rows(export.export_stimuli(study)) if r["method"] == design.ATTENTION_CROP]
    assert crops and all(r["engine_version"] == "" for r in crops)


def test_the_power_line_uses_the_configured_trials_and_wraps(piloted, researcher_client):
    study, _ = piloted
    for _ in range(2):  # two who stopped after one trial: the median observed is now 2, not 3
        late = factories.make_participant(study)
        participation.do_answer(late, factories.good_answer(late.assignments.get(position=0)))
    result = analysis.report(
        export.responses_frame(study),
        kind=study.kind,
        design=study.design,
        methods=study.methods,
        plan=(0.6123, 0.4444),
        trials_per_participant=study.trials_per_participant,
    )
    assert result["power"]["trials_per_participant"] == 3
    text = analysis.text_report(result, study.name)
    power = text[text.index("Power:") :]
    assert "at 3 trials each" in power
    assert max(len(line) for line in power.splitlines()) <= 100
    page = researcher_client.get(reverse("studies:study-results", kwargs={"study_id": study.pk})).content.decode()
    assert "white-space: pre-wrap" in page and "at 3 trials each" in page


def test_generation_jobs_have_a_readable_name(piloted):
    study, _ = piloted
    job = GenerationJob.objects.get(study=study)
    assert str(job).startswith(f"generation #{job.pk} of {study.name} (done, ")


def test_the_faithfulness_table_names_the_model(researcher_world):
    results = {
        "summary": {"stronger": {"gradcam": {"n": 1, **dict.fromkeys(faithfulness.METRICS, 0.5)}}},
        "models": {"stronger": "resnet18"},
    }
    assert faithfulness.format_report(results).splitlines()[1].startswith("resnet18 (stronger)")
    assert faithfulness.model_label({"models": {"model": "resnet18"}}, "model") == "resnet18"
