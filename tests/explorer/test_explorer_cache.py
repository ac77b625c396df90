"""A repeated explorer request is served from the content-keyed cache: no network runs, no file changes."""

from pathlib import Path

from django.conf import settings

from tests.explorer.conftest import explorer_url


def cached_files() -> dict[Path, float]:
    root = Path(settings.MEDIA_ROOT) / "explorer" / "tiles"
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_repeated_request_runs_no_network_and_rewrites_nothing(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    url = explorer_url(strong_model, f"item:{image.pk}", ("gradcam", "guided_gradcam"), classes="star,circle,ring")
    first = researcher_client.get(url).context["result"]
    assert first["computed"] == ["gradcam", "guided_gradcam"]
    files = cached_files()
    keys = {t["key"] for row in first["rows"] for t in row["maps"]}
    assert len(keys) == 6 and all(any(k in str(p) for p in files) for k in keys)

    again = researcher_client.get(url).context["result"]
    assert again["computed"] == []
    assert again["rows"] == first["rows"]
    assert cached_files() == files


def test_a_new_method_for_the_same_image_computes_only_that_method(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", ("gradcam",), classes="star"))
    more = researcher_client.get(
        explorer_url(strong_model, f"item:{image.pk}", ("gradcam", "counterfactual_gradcam"), classes="star")
    ).context["result"]
    assert more["computed"] == ["counterfactual_gradcam"]
