"""A study whose images give participants fewer trials than configured warns at generation and
launches only once the researcher accepts the smaller number."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from studies import lifecycle
from studies.models import GenerationJob, Study
from studies.stimuli import configuration, generation

pytestmark = pytest.mark.django_db


def test_a_trust_study_with_few_survivors_warns_and_launches_only_when_accepted(researcher_world, researcher_client):
    study = researcher_world.trust_study(trials_per_participant=4)
    err = io.StringIO()
    call_command("generate_stimuli", study.slug, "--inline", stdout=io.StringIO(), stderr=err)
    study.refresh_from_db()
    # both networks predict "cat"; the cat is in view on photo_01 and photo_04 only
    assert study.status == "ready" and study.surviving_image_count == 2
    warning = "only 2 images survive the rules, so participants get 2 trials instead of the 4 configured"
    assert warning in GenerationJob.objects.get(study=study).warning
    assert warning in err.getvalue()
    assert warning in generation.generation_progress(study)["job"]["warning"]

    with pytest.raises(configuration.StudyError, match="accept the smaller number"):
        lifecycle.do_launch(study)
    assert Study.objects.get(pk=study.pk).status == "ready"

    page = researcher_client.post(
        reverse("admin:studies_study_changelist"), {"action": "launch_studies", "_selected_action": [study.pk]}
    )
    assert page.status_code == 302
    assert Study.objects.get(pk=study.pk).status == "ready"

    Study.objects.filter(pk=study.pk).update(accept_fewer_trials=True)
    study = lifecycle.do_launch(Study.objects.get(pk=study.pk))
    assert study.status == "live"
    assert study.config_snapshot["trials_available_per_participant"] == 2
    assert study.config_snapshot["accept_fewer_trials"] is True


def test_a_study_with_enough_images_launches_without_accepting_anything(researcher_world):
    study = researcher_world.generate(researcher_world.class_discrimination_study(trials_per_participant=5))
    assert GenerationJob.objects.get(study=study).warning == ""
    assert lifecycle.do_launch(study).status == "live"
