"""Launch is refused until the stimuli are complete, freezes the configuration, and a live study cannot be edited."""

import pytest

from studies import lifecycle
from studies.models import Study
from studies.stimuli import configuration, generation

from .test_admin_access import generate_inline


@pytest.mark.django_db(transaction=True)
def test_launch_is_refused_until_every_trial_has_its_stimuli(researcher_client, cd_study):
    with pytest.raises(configuration.StudyError, match="generate the stimuli first"):
        lifecycle.do_launch(cd_study)
    job = generation.do_start_generation(cd_study, enqueue=lambda job_id: None)
    chunks = generation.do_plan(job.pk, generation_bundle())
    with pytest.raises(configuration.StudyError, match="still being generated"):
        lifecycle.do_launch(cd_study)
    # The admin button says so too, and changes nothing.
    response = researcher_client.post(f"/admin/studies/study/{cd_study.pk}/launch/", follow=True)
    assert "still being generated" in response.content.decode()
    for chunk in chunks:
        generation.do_process_chunk(chunk, generation_bundle())
    cd_study.refresh_from_db()
    assert cd_study.status == "ready"
    response = researcher_client.post(f"/admin/studies/study/{cd_study.pk}/launch/", follow=True)
    assert "launched" in response.content.decode()
    assert Study.objects.get(pk=cd_study.pk).status == "live"


def generation_bundle():
    from studies.tasks import cached_bundle

    return cached_bundle


@pytest.mark.django_db(transaction=True)
def test_launch_freezes_the_configuration_and_a_live_study_cannot_be_edited(researcher_client, cd_study):
    generate_inline(cd_study)
    lifecycle.do_launch(cd_study)
    study = Study.objects.get(pk=cd_study.pk)
    snap = study.config_snapshot
    assert snap["methods"] == ["gradcam", "guided_backprop"] and snap["seed"] == 11
    assert snap["models"]["model"]["weights_sha256"] == cd_study.model.weights_sha256
    assert snap["trials"]["total"] == study.trials.count() == 20
    assert snap["stimuli"]["count"] == 20 and snap["launched_at"]
    assert snap == {**lifecycle.study_config_dict(study), "launched_at": snap["launched_at"]}

    response = researcher_client.post(f"/admin/studies/study/{study.pk}/change/", {"name": "Renamed", "seed": 99})
    assert response.status_code in (200, 302)
    after = Study.objects.get(pk=study.pk)
    assert (after.name, after.seed, after.config_snapshot) == (study.name, 11, snap)
    with pytest.raises(configuration.StudyError):
        generation.do_start_generation(after)

    lifecycle.do_close(after)
    closed = Study.objects.get(pk=study.pk)
    assert closed.status == "closed" and closed.closed_at and closed.trials.count() == 20
