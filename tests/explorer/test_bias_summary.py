"""The bias summary: per class, Grad-CAM mass outside the object's box and on each cue region, with
bootstrap intervals, the most cue-driven classes first; exportable as CSV."""

import csv
import io


def test_each_class_has_its_outside_and_cue_shares_with_intervals_sorted_by_cue(
    researcher_client, strong_model, cue_scenes
):
    response = researcher_client.get(f"/staff/models/{strong_model.pk}/bias/?image_set={cue_scenes.pk}")
    assert response.status_code == 200
    results = response.context["analysis"].results
    assert results["cues"] == ["stripes"]
    labelled = {label for im in cue_scenes.images.all() for label in im.labels}
    assert {row["class"] for row in results["classes"]} == labelled
    cue_means = []
    for row in results["classes"]:
        for stat in [row["outside_box"], row["on_cue"]["stripes"]]:
            if stat["n"]:  # a class none of whose images shows the cue has no share on it
                assert 0.0 <= stat["low"] <= stat["mean"] <= stat["high"] <= 1.0
        cue_means.append(row["on_cue"]["stripes"]["mean"] or 0.0)
    assert cue_means == sorted(cue_means, reverse=True)
    assert response.content.decode().count('data-testid="bias-row"') == len(labelled)


def test_the_bias_summary_exports_as_csv(researcher_client, strong_model, cue_scenes):
    response = researcher_client.get(f"/staff/models/{strong_model.pk}/bias/?image_set={cue_scenes.pk}&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows and set(rows[0]) >= {"class", "outside_box_mean", "on_stripes_mean", "on_stripes_low"}


def test_on_the_demo_the_weaker_networks_star_tops_the_list_and_the_stronger_ones_does_not(
    researcher_client, demo_networks, demo_scenes
):
    strong, weak = demo_networks
    shares = {}
    for model in (weak, strong):
        results = (
            researcher_client.get(f"/staff/models/{model.pk}/bias/?image_set={demo_scenes.pk}")
            .context["analysis"]
            .results
        )
        shares[model.arch] = {row["class"]: row["on_cue"]["stripes"]["mean"] for row in results["classes"]}
        if model is weak:
            assert results["classes"][0]["class"] == "star"
    print(
        f"Grad-CAM mass on the stripes for star: weak {shares['shapes_weak']['star']:.3f}, "
        f"strong {shares['shapes_strong']['star']:.3f}"
    )
    assert shares["shapes_weak"]["star"] > 3 * shares["shapes_strong"]["star"]
