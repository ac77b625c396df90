"""The failure-modes page: every wrong top-1 with the maps for the prediction and the truth, filters,
a confusion matrix and a CSV; computed once on the gpu queue and then served from its cached row."""

import csv
import io

from studies.models import ModelAnalysis


def test_every_wrong_image_is_listed_with_both_maps_and_the_confusion_matrix(researcher_client, strong_model, scenes):
    # The seeded net favours "circle": every image without a circle is a failure.
    response = researcher_client.get(f"/staff/models/{strong_model.pk}/failures/?image_set={scenes.pk}")
    assert response.status_code == 200
    analysis = response.context["analysis"]
    assert analysis.status == "done" and analysis.provenance["model"]["weights_sha256"] == strong_model.weights_sha256
    wrong_images = {im.filename for im in scenes.images.all() if "circle" not in im.labels}
    assert {w["image"] for w in analysis.results["wrong"]} == wrong_images
    for w in analysis.results["wrong"]:
        assert w["predicted"] == "circle" and w["true"] in w["labels"]
        for key in (w["predicted_tile"], w["true_tile"]):
            assert researcher_client.get(f"/staff/explorer/files/{key}/overlay.png").status_code == 200
    matrix = analysis.results["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == scenes.images.count()
    assert sum(row[0] for row in matrix) == scenes.images.count()  # all predicted circle
    assert response.content.decode().count('data-testid="failure"') == len(wrong_images)


def test_filters_by_true_and_predicted_class(researcher_client, strong_model, scenes):
    url = f"/staff/models/{strong_model.pk}/failures/?image_set={scenes.pk}"
    everything = researcher_client.get(url).context["wrong"]
    true_class = everything[0]["true"]
    filtered = researcher_client.get(f"{url}&true={true_class}&predicted=circle").context["wrong"]
    assert filtered == [w for w in everything if w["true"] == true_class]
    assert researcher_client.get(f"{url}&predicted=star").context["wrong"] == []


def test_a_second_visit_is_served_from_the_cached_analysis(researcher_client, strong_model, scenes):
    url = f"/staff/models/{strong_model.pk}/failures/?image_set={scenes.pk}"
    first = researcher_client.get(url).context["analysis"]
    again = researcher_client.get(url).context["analysis"]
    assert again.pk == first.pk and again.finished_at == first.finished_at
    assert ModelAnalysis.objects.filter(kind="failures").count() == 1


def test_the_failures_export_as_csv(researcher_client, strong_model, scenes):
    response = researcher_client.get(f"/staff/models/{strong_model.pk}/failures/?image_set={scenes.pk}&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["image"] for r in rows} == {im.filename for im in scenes.images.all() if "circle" not in im.labels}
    assert all(r["predicted"] == "circle" and r["true_map"].endswith("map.npy") for r in rows)


def test_a_bad_image_set_is_refused_and_an_unknown_model_is_not_found(researcher_client, strong_model):
    response = researcher_client.get(f"/staff/models/{strong_model.pk}/failures/?image_set=nope")
    assert response.status_code == 400 and response.context["error"] == "no such image set"
    assert researcher_client.get("/staff/models/999999/failures/").status_code == 404
    assert ModelAnalysis.objects.count() == 0


def test_the_model_pages_are_for_staff_only(outsider_client, strong_model, scenes):
    for page in ("failures", "bias"):
        response = outsider_client.get(f"/staff/models/{strong_model.pk}/{page}/?image_set={scenes.pk}")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert ModelAnalysis.objects.count() == 0


def test_on_the_demo_the_weaker_network_fails_more_often_than_the_stronger(
    researcher_client, demo_networks, demo_scenes
):
    accuracy = {}
    for model in demo_networks:
        response = researcher_client.get(f"/staff/models/{model.pk}/failures/?image_set={demo_scenes.pk}")
        accuracy[model.arch] = response.context["analysis"].results["accuracy"]
    print(f"top-1 accuracy on the demo scenes: {accuracy}")
    assert accuracy["shapes_weak"] < accuracy["shapes_strong"]
