"""Staff-only results pages, plots, monitor and downloads."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from studies.models import Participant
from studies.results import monitor, plots
from tests.results import factories as F

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def urls_for(study_id):
    plain = [
        "study-monitor",
        "study-monitor-data",
        "study-results",
        "export-responses",
        "export-participants",
        "export-stimuli",
        "export-prolific-bonuses",
        "prolific-submissions",
        "study-faithfulness-run",
    ]
    out = [reverse(f"studies:{n}", kwargs={"study_id": study_id}) for n in plain]
    out += [
        reverse("studies:study-plot", kwargs={"study_id": study_id, "name": "accuracy", "fmt": f})
        for f in ("png", "svg")
    ]
    out.append(reverse("studies:export-participants", kwargs={"study_id": study_id}) + "?external_ids=1")
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["anonymous", "outsider"])
def test_every_results_url_refuses_non_staff(persona, client, django_user_model):
    built = F.class_discrimination_between()
    if persona == "outsider":
        client.force_login(django_user_model.objects.create_user("otto", password="otto-password-123"))
    for url in urls_for(built.study.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"], url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"PID-SECRET" not in body and b"guided" not in body


def test_the_list_above_walks_every_results_url_pattern():
    from studies.results import urls as results_urls

    assert {p.name for p in results_urls.urlpatterns} == {
        "study-monitor",
        "study-monitor-data",
        "study-results",
        "study-plot",
        "export-responses",
        "export-participants",
        "export-stimuli",
        "export-prolific-bonuses",
        "prolific-submissions",
        "study-faithfulness-run",
    }
    assert all(p.callback.__name__ for p in results_urls.urlpatterns)


@pytest.mark.django_db
def test_the_outsider_persona_is_refused(outsider_client):
    built = F.class_discrimination_between()
    for url in urls_for(built.study.pk):
        assert outsider_client.get(url).status_code == 302


@pytest.mark.django_db
def test_staff_downloads_stream_csv(researcher_client):
    built = F.class_discrimination_between()
    sid = built.study.pk
    response = researcher_client.get(reverse("studies:export-responses", kwargs={"study_id": sid}))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="cd-between-responses.csv"' == response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == built.expected["responses"]
    people = researcher_client.get(reverse("studies:export-participants", kwargs={"study_id": sid}))
    text = b"".join(people.streaming_content).decode()
    assert "PID-SECRET-1" not in text
    clear = researcher_client.get(reverse("studies:export-participants", kwargs={"study_id": sid}) + "?external_ids=1")
    assert "PID-SECRET-1" in b"".join(clear.streaming_content).decode()
    stimuli = researcher_client.get(reverse("studies:export-stimuli", kwargs={"study_id": sid}))
    assert stimuli.status_code == 200 and b"engine-1.0" in b"".join(stimuli.streaming_content)


@pytest.mark.django_db
def test_results_page_shows_report_and_plots(researcher_client):
    built = F.class_discrimination_between()
    response = researcher_client.get(reverse("studies:study-results", kwargs={"study_id": built.study.pk}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "guided_backprop" in html and "0.500" in html and "two_proportion_z" in html
    assert reverse("studies:study-plot", kwargs={"study_id": built.study.pk, "name": "accuracy", "fmt": "svg"}) in html
    assert 'data-testid="exclusions"' in html
    assert researcher_client.get(reverse("studies:study-results", kwargs={"study_id": 999999})).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", ["class_discrimination_between", "trust_within"])
def test_plots_are_valid_png_and_svg(researcher_client, scenario):
    built = getattr(F, scenario)()
    kind = built.study.kind
    for name in plots.plot_names(kind):
        png = researcher_client.get(
            reverse("studies:study-plot", kwargs={"study_id": built.study.pk, "name": name, "fmt": "png"})
        )
        assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content.startswith(PNG_MAGIC)
        from PIL import Image

        assert Image.open(io.BytesIO(png.content)).size[0] > 100
        svg = researcher_client.get(
            reverse("studies:study-plot", kwargs={"study_id": built.study.pk, "name": name, "fmt": "svg"})
            + "?download=1"
        )
        assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
        assert svg["Content-Disposition"].startswith("attachment")
        import xml.etree.ElementTree as ET

        ET.fromstring(svg.content)
    bad = reverse("studies:study-plot", kwargs={"study_id": built.study.pk, "name": "nope", "fmt": "png"})
    assert researcher_client.get(bad).status_code == 404
    bad = reverse(
        "studies:study-plot", kwargs={"study_id": built.study.pk, "name": plots.plot_names(kind)[0], "fmt": "gif"}
    )
    assert researcher_client.get(bad).status_code == 404


@pytest.mark.django_db
def test_monitor_numbers(researcher_client):
    built = F.class_discrimination_between()
    study = built.study
    # one more participant who is still answering, seen a minute ago
    p = Participant.objects.create(study=study, condition="guided_gradcam")
    now = timezone.now()
    Participant.objects.filter(pk=p.pk).update(last_seen_at=now - timedelta(minutes=1))
    data = monitor.monitor_data(study, now=now)
    by = {c["condition"]: c for c in data["conditions"]}
    gb, ggc = by["guided_backprop"], by["guided_gradcam"]
    # gb: gb1-3 and inattentive (pilot apart); ggc: ggc1-3, fast, abandoned, the new one
    assert (gb["started"], gb["completed"], gb["abandoned"], gb["active"], gb["excluded"]) == (4, 4, 0, 0, 1)
    assert (ggc["started"], ggc["completed"], ggc["abandoned"], ggc["active"], ggc["excluded"]) == (6, 4, 1, 1, 1)
    assert gb["included_completed"] == 3 and ggc["included_completed"] == 3
    assert gb["completion_rate"] == pytest.approx(1.0) and ggc["completion_rate"] == pytest.approx(4 / 6)
    assert gb["median_duration_s"] == pytest.approx(600.0)
    assert data["pilot"] == {"started": 1, "completed": 1}
    assert data["simulated"] == 1
    assert data["totals"]["started"] == 10
    assert data["responses"] == built.expected["responses"] - 11  # pilot answers not counted
    assert data["last_activity"] is not None and data["last_activity_seconds_ago"] >= 0
    cells = {(c["method"], c["image"]): c["responses"] for c in data["cells"]}
    assert len(cells) == 12 * 2
    # each gb participant (4 non-pilot) answered images 0..9 once with gb
    assert cells[("guided_backprop", "img000.png")] == 4 and cells[("guided_backprop", "img011.png")] == 0
    assert data["cell_summary"]["guided_backprop"]["without_responses"] == 2
    # an inactive participant past the timeout counts as abandoned
    Participant.objects.filter(pk=p.pk).update(
        last_seen_at=now - timedelta(minutes=study.inactivity_timeout_minutes + 1)
    )
    ggc = {c["condition"]: c for c in monitor.monitor_data(study, now=now)["conditions"]}["guided_gradcam"]
    assert (ggc["abandoned"], ggc["active"]) == (2, 0)
    # the JSON endpoint and the self-refreshing page
    response = researcher_client.get(reverse("studies:study-monitor-data", kwargs={"study_id": study.pk}))
    assert response.status_code == 200 and response.json()["totals"]["started"] == 10
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    page = researcher_client.get(reverse("studies:study-monitor", kwargs={"study_id": study.pk}))
    html = page.content.decode()
    assert page.status_code == 200 and "js/monitor.js" in html
    assert f'data-url="{reverse("studies:study-monitor-data", kwargs={"study_id": study.pk})}"' in html


@pytest.mark.django_db
def test_the_results_table_shows_the_mixed_model_beside_wilson(researcher_client):
    from studies.results.reports import study_analysis

    built = F.class_discrimination_between()
    result, _ = study_analysis(built.study)
    html = researcher_client.get(reverse("studies:study-results", kwargs={"study_id": built.study.pk})).content.decode()
    cells = re.findall(r'data-testid="mixed-model">([^<]*)</td>', html)
    assert len(cells) == len(result["methods"])
    for cell, values in zip(cells, result["methods"].values(), strict=True):
        me = values["mixed_effects"]
        assert cell == f"{me['accuracy']:.3f} [{me['ci_low']:.3f}, {me['ci_high']:.3f}]"
