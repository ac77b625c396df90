"""The metric-vs-human table: each automatic metric's rank correlation across methods with the
study's human outcome, with a bootstrap interval over images, on the results page and in the
analysis JSON."""

import pytest
from django.urls import reverse

from studies.models import FaithfulnessReport
from studies.results.faithfulness import METRICS, metric_vs_human
from studies.results.reports import study_analysis
from tests.results.factories import StudyBuilder, _cd

METHODS = ["gradcam", "guided_backprop", "guided_gradcam"]
HUMAN = {"gradcam": 0.3, "guided_backprop": 0.6, "guided_gradcam": 0.9}


def rows_where(metric_of, images=4):
    """Rows whose metrics are metric_of(method, image) for every metric."""
    return [
        {
            "model_role": "model",
            "image": f"im{i}.png",
            "target_class": "cat",
            "method": m,
            **{k: metric_of(k, m, i) for k in METRICS},
        }
        for i in range(images)
        for m in METHODS
    ]


def value(metric, method, image):
    if metric == "gini":
        return None  # a metric with no value at all gives no correlation
    rank = METHODS.index(method)
    if metric == "deletion_auc":
        return -rank + 0.01 * image  # the reverse order of the human outcome
    return rank + 0.01 * image


def test_a_metric_that_orders_methods_as_people_do_correlates_one_with_a_tight_interval():
    table = metric_vs_human(rows_where(value), HUMAN, n_boot=200, seed=1)
    assert table["pointing_game"]["rho"] == pytest.approx(1.0)
    assert table["pointing_game"]["ci_low"] == pytest.approx(1.0) and table["pointing_game"]["ci_high"] == 1.0
    assert table["deletion_auc"]["rho"] == pytest.approx(-1.0)
    assert table["gini"]["rho"] is None and table["gini"]["ci_low"] is None
    assert table["insertion_auc"]["methods"] == 3 and table["insertion_auc"]["images"] == 4


def test_the_interval_resamples_images_and_widens_when_they_disagree():
    def noisy(metric, method, image):
        rank = METHODS.index(method)
        return rank if image % 2 else 2 - rank  # half the images say the opposite

    table = metric_vs_human(rows_where(noisy, images=6), HUMAN, n_boot=300, seed=2)
    low, high = table["occlusion_rho"]["ci_low"], table["occlusion_rho"]["ci_high"]
    assert low < 0 < high
    assert metric_vs_human(rows_where(noisy, images=6), HUMAN, n_boot=300, seed=2) == table  # seeded


def test_fewer_than_three_methods_with_a_human_outcome_give_no_table():
    assert metric_vs_human(rows_where(value), {"gradcam": 0.3, "guided_backprop": 0.5}) == {}


@pytest.mark.django_db
def test_the_results_page_and_the_analysis_json_show_the_table(researcher_client):
    b = StudyBuilder("class_discrimination", "between", METHODS, slug="mvh")
    ok = {"attention": True, "passed": True}
    for n, method in enumerate(METHODS):
        correct = round(HUMAN[method] * 10)
        b.participant(f"p{n}", method, [ok] + _cd(method, [1] * correct + [0] * (10 - correct)))
    study = b.built.study
    FaithfulnessReport.objects.create(
        study=study,
        status="done",
        parameters={"max_images": 4},
        results={"parameters": {"metrics": {"version": 2}}, "summary": {}, "rows": rows_where(value)},
    )
    result, _ = study_analysis(study)
    assert result["metric_vs_human"]["pointing_game"]["rho"] == pytest.approx(1.0)
    assert result["metric_vs_human"]["deletion_auc"]["rho"] == pytest.approx(-1.0)
    page = researcher_client.get(reverse("studies:study-results", kwargs={"study_id": study.pk}))
    assert page.status_code == 200
    assert b'data-testid="metric-vs-human"' in page.content
    assert b"Energy-based pointing game" in page.content
