"""The admin and the staff pages: the researcher configures studies; a non-staff user is refused everywhere."""

import pytest
from django.urls import reverse

from studies.models import Study
from studies.stimuli import generation
from studies.tasks import cached_bundle

ADMIN_PAGES = [
    "/admin/studies/study/",
    "/admin/studies/study/add/",
    "/admin/studies/imageset/",
    "/admin/studies/imageset/add/",
    "/admin/studies/classifiermodel/",
    "/admin/studies/classifiermodel/add/",
    "/admin/studies/stimulus/",
    "/admin/studies/generationjob/",
    "/admin/studies/imageitem/",
    "/admin/studies/participant/",
]


def generate_inline(study):
    job = generation.do_start_generation(study, enqueue=lambda job_id: None)
    for chunk in generation.do_plan(job.pk, cached_bundle):
        generation.do_process_chunk(chunk, cached_bundle)
    study.refresh_from_db()
    return job


@pytest.mark.django_db(transaction=True)
def test_the_researcher_sees_every_admin_page_and_the_study_page_links_its_tools(researcher_client, cd_study):
    for url in ADMIN_PAGES:
        assert researcher_client.get(url).status_code == 200, url
    generate_inline(cd_study)
    page = researcher_client.get(f"/admin/studies/study/{cd_study.pk}/change/").content.decode()
    preview = f"/admin/studies/study/{cd_study.pk}/preview/"
    assert preview in page and "Preview as pilot participant" in page
    assert researcher_client.get(preview)["Location"] == "/s/cd/?pilot=1"
    assert reverse("studies:generation-progress", kwargs={"study_id": cd_study.pk}) in page
    assert "4 images have exactly two labels" in page
    stimulus = cd_study.trials.first().panels.get().stimulus
    assert stimulus.png.url in page
    for name in (
        "studies:study-monitor",
        "studies:study-results",
        "studies:export-responses",
        "studies:export-participants",
        "studies:export-stimuli",
    ):
        try:
            url = reverse(name, kwargs={"study_id": cd_study.pk})
        except Exception:  # NoReverseMatch: that helper's URL is not there yet
            continue
        assert url in page, name
    provenance = researcher_client.get(reverse("studies:stimulus-detail", args=[stimulus.pk])).content.decode()
    assert (
        stimulus.content_key in provenance and stimulus.png.url in provenance and stimulus.weights_sha256 in provenance
    )
    data = researcher_client.get(reverse("studies:generation-progress", kwargs={"study_id": cd_study.pk})).json()
    assert data["job"]["status"] == "done" and data["job"]["done"] == data["job"]["total"] == 20
    assert data["stimuli_complete"] is True


@pytest.mark.django_db
def test_a_non_staff_user_is_refused_every_admin_and_staff_page(outsider_client, cd_study):
    urls = [
        *ADMIN_PAGES,
        f"/admin/studies/study/{cd_study.pk}/change/",
        reverse("studies:generation-progress", kwargs={"study_id": cd_study.pk}),
        reverse("studies:stimulus-detail", args=[1]),
    ]
    for url in urls:
        response = outsider_client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    response = outsider_client.post(f"/admin/studies/study/{cd_study.pk}/generate/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert cd_study.generation_jobs.count() == 0


@pytest.mark.django_db
def test_anonymous_visitors_are_refused_the_progress_endpoint(client, cd_study):
    response = client.get(reverse("studies:generation-progress", kwargs={"study_id": cd_study.pk}))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_the_study_form_validates_and_says_how_many_images_qualify(researcher_client, scenes, strong_model):
    base = {
        "name": "CD",
        "slug": "cd-form",
        "kind": "class_discrimination",
        "methods": ["gradcam", "deconvnet"],
        "design": "within",
        "model": strong_model.pk,
        "image_set": scenes.pk,
        "render_style": "overlay",
        "trials_per_participant": 4,
        "target_participants_per_condition": 5,
        "seed": 1,
        "attention_checks_per_participant": 1,
        "max_failed_attention_checks": 0,
        "min_median_rt_ms": 0,
        "inactivity_timeout_minutes": 30,
        "min_window_width": 0,
        "min_window_height": 0,
    }
    response = researcher_client.post("/admin/studies/study/add/", base)
    assert response.status_code == 200
    assert "must not show the unmasked photograph" in response.content.decode()
    assert not Study.objects.exists()

    response = researcher_client.post("/admin/studies/study/add/", {**base, "render_style": "auto"}, follow=True)
    assert "4 images qualify for class discrimination" in response.content.decode()
    study = Study.objects.get(slug="cd-form")
    assert study.methods == ["gradcam", "deconvnet"] and study.status == "draft"
