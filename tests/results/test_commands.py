"""export_results and analyze_study from the command line."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from studies.results import export
from tests.results import factories as F


@pytest.mark.django_db
def test_export_results_writes_the_three_exports(tmp_path):
    built = F.class_discrimination_between()
    out, people, stimuli = tmp_path / "r.csv", tmp_path / "p.csv", tmp_path / "s.csv"
    err = io.StringIO()
    call_command(
        "export_results",
        "cd-between",
        "--out",
        str(out),
        "--participants",
        str(people),
        "--stimuli",
        str(stimuli),
        stderr=err,
    )
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == built.expected["responses"] and list(rows[0]) == export.RESPONSE_COLUMNS
    assert "responses: 102 rows" in err.getvalue() and f"written to {out}" in err.getvalue()
    text = people.read_text()
    assert "PID-SECRET-1" not in text and len(list(csv.DictReader(io.StringIO(text)))) == 10
    assert len(list(csv.DictReader(stimuli.open()))) == 24
    call_command(
        "export_results",
        "cd-between",
        "--out",
        str(out),
        "--participants",
        str(people),
        "--include-external-ids",
        stderr=io.StringIO(),
    )
    assert "PID-SECRET-1" in people.read_text()


@pytest.mark.django_db
def test_export_results_to_stdout_and_errors(tmp_path):
    F.class_discrimination_between()
    stdout = io.StringIO()
    call_command("export_results", "cd-between", stdout=stdout, stderr=io.StringIO())
    assert stdout.getvalue().startswith(",".join(export.RESPONSE_COLUMNS) + "\n")
    assert stdout.getvalue().count("\n") == 103
    with pytest.raises(CommandError, match="no study"):
        call_command("export_results", "nope", "--out", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="cannot write"):
        call_command("export_results", "cd-between", "--out", str(tmp_path / "missing" / "x.csv"), stderr=io.StringIO())


@pytest.mark.django_db
def test_analyze_study_prints_the_report_and_writes_json(tmp_path):
    F.class_discrimination_between()
    stdout = io.StringIO()
    path = tmp_path / "out.json"
    call_command(
        "analyze_study",
        "cd-between",
        "--json",
        str(path),
        "--plan",
        "0.6123",
        "0.4444",
        stdout=stdout,
        stderr=io.StringIO(),
    )
    text = stdout.getvalue()
    assert "Exclusions" in text and "guided_backprop" in text and "Wilson" in text and "Holm" in text
    assert "Power: 0.6123 vs 0.4444" in text and "138 responses per condition" in text
    result = json.loads(path.read_text())
    assert result["study"] == "cd-between"
    assert result["methods"]["guided_backprop"]["accuracy"] == 0.5
    assert result["power"]["observations_per_condition"] == 138
    assert result["simulated"] == {"participants": 1, "included": 1}


@pytest.mark.django_db
def test_analyze_study_refuses_bad_input(tmp_path):
    with pytest.raises(CommandError, match="no study"):
        call_command("analyze_study", "nope")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="not a responses export"):
        call_command("analyze_study", "nope", "--from-csv", str(bad), stderr=io.StringIO())
    with pytest.raises(CommandError, match="cannot read"):
        call_command("analyze_study", "nope", "--from-csv", str(tmp_path / "missing.csv"), stderr=io.StringIO())


@pytest.mark.django_db
def test_analyze_a_csv_without_the_study_in_the_database(tmp_path):
    built = F.trust_within()
    out = tmp_path / "r.csv"
    call_command("export_results", built.study.slug, "--out", str(out), stderr=io.StringIO())
    built.study.slug = "renamed"
    built.study.save()
    stdout = io.StringIO()
    call_command(
        "analyze_study", "trust-within", "--from-csv", str(out), "--json", "-", stdout=stdout, stderr=io.StringIO()
    )
    text = stdout.getvalue()
    assert "Trust: score toward the stronger network" in text
    result = json.loads(text[text.index("{") :])
    assert result["exclusions"]["rules"] is None and result["exclusions"]["excluded"] == 1
    assert result["methods"]["guided_gradcam"]["mean_rating"] == pytest.approx(1.5)
