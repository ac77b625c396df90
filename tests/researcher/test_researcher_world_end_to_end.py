"""A researcher's own photographs and networks, end to end: generation, a within-subjects pilot,
regeneration, launch, simulated participants, export, analysis and the faithfulness report."""

import csv
import io
from collections import Counter

import pytest
from django.core.management import call_command

from studies import lifecycle
from studies.models import Participant
from studies.results import export, faithfulness
from studies.tasks import cached_bundle
from tests.support import factories
from tests.support.researcher_world import IN_VIEW

pytestmark = pytest.mark.django_db(transaction=True)


def main_rows(csv_text, participant=None):
    rows = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["trial_kind"] == "main"]
    return [r for r in rows if participant is None or r["participant"] == participant]


def test_a_within_subjects_study_on_a_researchers_photographs(researcher_world):
    world = researcher_world
    study = world.generate(
        world.class_discrimination_study(methods=["gradcam", "guided_backprop"], trials_per_participant=4)
    )
    assert study.status == "ready" and study.eligible_image_count == len(IN_VIEW)

    # a pilot: balanced methods, each photo once, answers recorded
    pilot = factories.answer_all(factories.make_participant(study, pilot=True))
    piloted = main_rows("".join(export.export_responses(study)))
    assert Counter(r["method"] for r in piloted) == {"gradcam": 2, "guided_backprop": 2}
    assert len({r["image"] for r in piloted}) == 4 and {r["image"] for r in piloted} <= set(IN_VIEW)

    # the pilot leads to a new configuration; its answers stay exactly as they were
    before = "".join(export.export_responses(study))
    study.seed, study.max_images = 42, 4
    study.save()
    study = world.generate(study)
    assert "".join(export.export_responses(study)) == before
    study = lifecycle.do_launch(study)

    # simulated participants play it through the pages
    out = io.StringIO()
    call_command(
        "simulate_participants", study.slug, "--n", "4", "--policy", "oracle", "--concurrency", "2", stdout=out
    )
    assert "Completed: 4/4" in out.getvalue()
    csv_text = "".join(export.export_responses(study))
    for bot in Participant.objects.filter(study=study, is_simulated=True):
        mine = main_rows(csv_text, str(bot.public_id))
        assert Counter(r["method"] for r in mine) == {"gradcam": 2, "guided_backprop": 2}
        assert len({r["image"] for r in mine}) == 4
        assert mine[0]["condition"].startswith(f"row {bot.latin_square_row}: ")
    assert main_rows(csv_text, str(pilot.public_id)) == main_rows(before, str(pilot.public_id))

    # the analysis keeps the pilot apart
    report = io.StringIO()
    call_command("analyze_study", study.slug, stdout=report, stderr=io.StringIO())
    text = report.getvalue()
    assert "gradcam" in text and "guided_backprop" in text and "Pilot (1 participants" in text

    # the paper's automatic evaluations, on the stimuli's own maps and boxes placed through the crop
    # The sanity checks explain again per randomization step: tested on the demo network elsewhere.
    results = faithfulness.do_faithfulness(study, cached_bundle, max_images=1, sanity_images=0, patch=56, stride=56)
    assert results["models"] == {"model": "resnet18"}
    assert set(results["summary"]["model"]) == {"gradcam", "guided_backprop"}
    assert {row["image"] for row in results["rows"]} <= set(IN_VIEW)
    assert faithfulness.format_report(results).splitlines()[1].startswith("resnet18 ")
