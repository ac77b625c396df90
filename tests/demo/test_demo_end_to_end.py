"""The offline demo end to end: build through the real code paths (on a real worker), play its seven
studies (one per task kind) with oracle bots, export, analyse, and compute the faithfulness report
for every method."""

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from studies import demo
from studies.design import NO_EXPLANATION
from studies.models import ClassifierModel, ImageSet, Participant, Stimulus, Study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.timeout(1200)]


@pytest.fixture
def demo_settings(settings, tmp_path):
    # Nothing may train: a retrain would write here.
    settings.DEMO_MODELS_DIR = str(tmp_path / "no-training")
    return settings


def build(capsys) -> str:
    call_command("demo", "--no-serve")
    return capsys.readouterr().out


def test_the_demo_builds_plays_exports_and_reports_every_method(demo_settings, celery_worker, capsys, tmp_path):
    out = build(capsys)
    cd, trust = Study.objects.get(slug=demo.CD_SLUG), Study.objects.get(slug=demo.TRUST_SLUG)
    assert cd.status == trust.status == "live"
    assert cd.config_snapshot and trust.config_snapshot
    slugs = (
        demo.CD_SLUG,
        demo.TRUST_SLUG,
        demo.HIVE_DISTINCTION_SLUG,
        demo.HIVE_AGREEMENT_SLUG,
        demo.FORWARD_SIMULATION_SLUG,
        demo.OCCLUSION_SLUG,
        demo.BIAS_SLUG,
    )
    assert all(f"/s/{slug}/" in out for slug in slugs) and "researcher /" in out
    assert out.count("participant link:") == len(slugs)
    assert {s.kind for s in Study.objects.all()} == {
        "class_discrimination",
        "trust",
        "hive_distinction",
        "hive_agreement",
        "forward_simulation",
        "occlusion_2afc",
        "bias_detection",
    }
    assert all(s.status == "live" for s in Study.objects.all())
    assert ImageSet.objects.get(name=demo.IMAGE_SET_NAME).images.count() == demo.DEMO_IMAGES
    assert trust.surviving_image_count and trust.surviving_image_count >= 20
    # the shipped networks, verified, and no training
    assert "the shipped networks" in out and "Training" not in out
    assert not Path(demo_settings.DEMO_MODELS_DIR).exists()
    stimuli = Stimulus.objects.count()

    # a second run reuses everything
    again = build(capsys)
    assert "reusing" in again
    assert (
        Stimulus.objects.count() == stimuli
        and ClassifierModel.objects.count() == 2
        and Study.objects.count() == len(slugs)
    )

    hive = [Study.objects.get(slug=slug) for slug in (demo.HIVE_DISTINCTION_SLUG, demo.HIVE_AGREEMENT_SLUG)]
    forward = Study.objects.get(slug=demo.FORWARD_SIMULATION_SLUG)
    assert forward.arms == [*demo.FORWARD_METHODS, "none"]
    occlusion = Study.objects.get(slug=demo.OCCLUSION_SLUG)
    bias = Study.objects.get(slug=demo.BIAS_SLUG)
    for study, methods in (
        (cd, demo.CD_METHODS),
        (trust, demo.TRUST_METHODS),
        *((h, demo.HIVE_METHODS) for h in hive),
        (forward, forward.arms),
        (occlusion, occlusion.arms),
        (bias, bias.arms),
    ):
        call_command(
            "simulate_participants",
            study.slug,
            "--n",
            str(2 * len(methods)),
            "--policy",
            "oracle",
            "--concurrency",
            "4",
        )
        assert Participant.objects.filter(study=study, is_simulated=True, status="completed").count() == 2 * len(
            methods
        )

        export = tmp_path / f"{study.slug}.csv"
        call_command("export_results", study.slug, "--out", str(export))
        with export.open() as fh:
            rows = list(csv.DictReader(fh))
        assert {r["method"] for r in rows if r["trial_kind"] == "main"} == set(methods)

        report_path = tmp_path / f"{study.slug}.json"
        call_command("analyze_study", study.slug, "--from-csv", str(export), "--json", str(report_path))
        report = json.loads(report_path.read_text())
        assert set(report["methods"]) == set(methods)

        call_command("faithfulness", study.slug, "--max-images", "2")
        faithfulness = study.faithfulness_reports.get().results["summary"]
        for role in faithfulness:
            assert set(faithfulness[role]) == set(study.methods)  # the control arm has no map
    capsys.readouterr()

    # the oracle reproduces the paper's ordering: Grad-CAM versions beat the raw gradients
    report = json.loads((tmp_path / f"{demo.CD_SLUG}.json").read_text())["methods"]
    assert report["guided_gradcam"]["accuracy"] >= report["guided_backprop"]["accuracy"]
    assert report["deconv_gradcam"]["accuracy"] >= report["deconvnet"]["accuracy"]
    trust_report = json.loads((tmp_path / f"{demo.TRUST_SLUG}.json").read_text())["methods"]
    assert all(values["mean_rating"] > 0 for values in trust_report.values())  # the stronger network is trusted
    # the HIVE oracle reads the stored predictions and the labels: the ceiling, every answer right
    distinction = json.loads((tmp_path / f"{demo.HIVE_DISTINCTION_SLUG}.json").read_text())["methods"]
    assert all(v["accuracy"] == 1.0 and v["correct_class"]["accuracy"] == 1.0 for v in distinction.values())
    # forward simulation, bias scenario: Grad-CAM shows the oracle that the stripes make a star
    utility = json.loads((tmp_path / f"{demo.FORWARD_SIMULATION_SLUG}.json").read_text())["methods"]["gradcam"]
    assert utility["utility"]["difference"] > 0
    agreement = json.loads((tmp_path / f"{demo.HIVE_AGREEMENT_SLUG}.json").read_text())["methods"]
    for values in agreement.values():
        assert values["accuracy"] == 1.0
        assert values["agreement_on_correct"]["mean"] < values["agreement_on_incorrect"]["mean"]
    # the occlusion oracle follows the map: right where it agrees with the network's truth, wrong where
    # not (the bank balances both), and guesses without one; utility is measured over that guess.
    # Where one region plainly holds the object and the other nothing, the oracle sees it whatever the
    # map says, so a few disagreeing pairs are answered right (2 of 13 in one run: which pairs a
    # method's participants meet depends on the order four concurrent bots arrive in).
    occlusion_report = json.loads((tmp_path / f"{demo.OCCLUSION_SLUG}.json").read_text())["methods"]
    for method in demo.OCCLUSION_METHODS:
        values = occlusion_report[method]
        assert values["accuracy_map_agrees"]["accuracy"] == 1.0
        assert values["accuracy_map_disagrees"]["accuracy"] < 0.5
        assert "utility" in values
    # bias detection: the platform's check confirms every declaration (the biased network's stripes
    # for star among them), and the oracle that reads the maps finds the stripes
    checks = {(t.payload["network"], t.target_class): t.payload["check"] for t in bias.trials.filter(kind="main")}
    assert {c["status"] for c in checks.values()} == {"confirmed"}
    weak = ClassifierModel.objects.get(name=demo.WEAK_NAME)
    assert checks[(weak.id, "star")]["shares"]["stripes"] > checks[(weak.id, "star")]["shares"]["object"]
    detection = json.loads((tmp_path / f"{demo.BIAS_SLUG}.json").read_text())["methods"]
    assert detection["gradcam"]["by_declared_reliance"]["stripes"]["correct"] >= 1
    assert detection["gradcam"]["accuracy"] >= 0.9
    # the control arm sees the predictions only: it cannot find the stripes, so Grad-CAM's utility is positive
    assert detection[NO_EXPLANATION]["by_declared_reliance"]["stripes"]["correct"] == 0
    assert detection["gradcam"]["utility"]["difference"] > 0


def test_the_demo_image_set_is_a_valid_upload():
    data = demo.demo_image_zip(n=4)
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "labels.csv" in names and sum(n.endswith(".png") for n in names) == 4
