"""The CSV exports: columns against the codebook, values, formula injection, personal data, streaming."""

import csv
import io
import re
import tracemalloc

import pytest

from studies.results import export
from tests.results import factories as F


def codebook_columns(section: str) -> list[str]:
    """Column names of the table under '## <section>' in docs/codebook.md."""
    return [v.name for v in export.codebook_variables(section)]


def read(chunks) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def header(chunks) -> list[str]:
    return next(csv.reader(io.StringIO("".join(chunks))))


def test_the_responses_columns_are_exactly_the_issues_and_the_codebooks():
    issue = (
        "study, participant, condition, is_pilot, excluded, exclusion_reason, position, trial_kind, image, "
        "image_sha256, model, stronger_model, weaker_model, method, target_class, options, choice, correct, "
        "rating, rating_toward_stronger, swapped, rt_ms, shown_at, answered_at, stimulus, engine_version, "
        "recipe_version"
    ).split(", ")
    # The task kinds' generic columns come after, so the documented order never changes.
    kinds = ["answer", "score", "confidence", "prediction_correct", "block", "round", "stratum"]
    kinds += ["correct_region", "region_a", "region_b", "score_difference", "map_agrees"]  # occlusion 2-AFC
    kinds += ["declared_reliance", "declaration_check"]
    assert export.RESPONSE_COLUMNS == issue + kinds
    assert codebook_columns("Responses export") == issue + kinds


@pytest.mark.django_db
def test_every_exported_header_is_described_in_the_codebook():
    built = F.class_discrimination_between()
    study = built.study
    assert header(export.export_responses(study)) == codebook_columns("Responses export")
    assert header(export.export_stimuli(study)) == codebook_columns("Stimuli export")
    documented = codebook_columns("Participants export")
    got = header(export.export_participants(study))
    assert documented[-1] == "q_*"
    assert got[: len(documented) - 1] == documented[:-1]
    assert got[len(documented) - 1 :] == ["q_age_band", "q_strategy"]


@pytest.mark.django_db
def test_class_discrimination_rows_carry_the_answers():
    built = F.class_discrimination_between()
    rows = read(export.export_responses(built.study))
    assert len(rows) == built.expected["responses"]
    gb1 = str(built.participants["gb1"].public_id)
    mine = [r for r in rows if r["participant"] == gb1]
    assert [int(r["position"]) for r in mine] == list(range(11))
    main = [r for r in mine if r["trial_kind"] == "main"]
    assert sum(r["correct"] == "true" for r in main) == 5
    first = mine[0]
    assert first["study"] == "cd-between" and first["condition"] == "guided_backprop"
    assert first["is_pilot"] == "false" and first["excluded"] == "false" and first["exclusion_reason"] == ""
    assert first["options"] in ("cat|dog", "dog|cat") and first["choice"] in ("cat", "dog")
    assert (first["choice"] == first["target_class"]) == (first["correct"] == "true")
    assert first["rating"] == first["rating_toward_stronger"] == first["swapped"] == ""
    assert first["stronger_model"] == first["weaker_model"] == ""
    assert first["model"].startswith("net-") and first["rt_ms"] == "1200"
    assert first["engine_version"] == "engine-1.0" and first["recipe_version"] == "recipe-2"
    assert first["shown_at"].endswith("Z") and first["answered_at"].endswith("Z")
    assert mine[5]["trial_kind"] == "attention"
    by_person = {r["participant"]: r for r in rows}
    assert by_person[str(built.participants["inattentive"].public_id)]["exclusion_reason"] == "failed_attention_checks"
    assert by_person[str(built.participants["fast"].public_id)]["exclusion_reason"] == "median_rt_below_minimum"
    assert by_person[str(built.participants["pilot"].public_id)]["is_pilot"] == "true"
    # no personal data: the external id never appears in the responses export
    assert "PID-SECRET-1" not in "".join(export.export_responses(built.study))


@pytest.mark.django_db
def test_trust_rows_score_the_rating_toward_the_stronger_network():
    built = F.trust_within()
    rows = [r for r in read(export.export_responses(built.study)) if r["trial_kind"] == "main"]
    assert rows
    for r in rows:
        rating, toward = int(r["rating"]), int(r["rating_toward_stronger"])
        assert toward == (-rating if r["swapped"] == "true" else rating)
        assert r["options"] == r["choice"] == r["model"] == "" and r["correct"] == ""
        assert r["stronger_model"].startswith("strong-") and r["weaker_model"].startswith("weak-")
        assert re.fullmatch(r"\d+\|\d+", r["stimulus"])
    assert {r["swapped"] for r in rows} == {"true", "false"}
    assert any(int(r["rating"]) < 0 for r in rows)  # negative numbers are not "neutralized"


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_triggers_are_neutralized(text):
    assert export.neutralize(text) == "'" + text
    assert export.neutralize(-2) == -2
    assert export.neutralize("cat") == "cat"


@pytest.mark.django_db
def test_free_text_that_a_spreadsheet_would_execute_is_neutralized_in_the_files():
    built = F.class_discrimination_between()
    people = read(export.export_participants(built.study))
    gb1 = next(p for p in people if p["participant"] == str(built.participants["gb1"].public_id))
    gb2 = next(p for p in people if p["participant"] == str(built.participants["gb2"].public_id))
    assert gb1["q_strategy"] == '\'=HYPERLINK("http://x")'
    assert gb2["comment"] == "'@SUM(A1:A2) nice study"
    # a class name and a choice that look like formulas
    from studies.models import Response

    response = Response.objects.filter(assignment__participant=built.participants["gb2"]).first()
    trial = response.assignment.trial
    trial.target_class = "=cmd|' /C calc'!A0"
    trial.save()
    response.answer = {"choice": "+evil"}
    response.save()
    rows = read(export.export_responses(built.study))
    hit = next(r for r in rows if r["participant"] == str(built.participants["gb2"].public_id) and r["position"] == "0")
    assert hit["target_class"].startswith("'=") and hit["choice"] == "'+evil"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
            assert not value.startswith("-") or re.fullmatch(r"-\d+", value), value


@pytest.mark.django_db
def test_participants_export_shows_external_id_presence_only_unless_asked():
    built = F.class_discrimination_between()
    people = read(export.export_participants(built.study))
    assert len(people) == 10
    gb1 = next(p for p in people if p["participant"] == str(built.participants["gb1"].public_id))
    assert gb1["has_external_id"] == "true" and gb1["external_id"] == "" and gb1["external_source"] == "prolific"
    assert "PID-SECRET-1" not in "".join(export.export_participants(built.study))
    clear = read(export.export_participants(built.study, include_external_ids=True))
    assert next(p for p in clear if p["participant"] == gb1["participant"])["external_id"] == "PID-SECRET-1"
    assert gb1["status"] == "completed" and gb1["duration_s"] == "600.0" and gb1["responses"] == "11"
    assert gb1["attention_checks_answered"] == "1" and gb1["attention_checks_failed"] == "0"
    assert gb1["median_rt_ms_main"] == "1200.0" and gb1["q_age_band"] == "25-34"
    sim = next(p for p in people if p["participant"] == str(built.participants["ggc3"].public_id))
    assert sim["is_simulated"] == "true"
    abandoned = next(p for p in people if p["participant"] == str(built.participants["abandoned"].public_id))
    assert (
        abandoned["status"] == "abandoned" and abandoned["completed_at"] == "" and abandoned["assigned_trials"] == "4"
    )


@pytest.mark.django_db
def test_stimuli_export_carries_provenance():
    import json

    built = F.trust_within()
    rows = read(export.export_stimuli(built.study))
    assert len(rows) == 12 * 2 * 2  # images x methods x (stronger, weaker)
    row = rows[0]
    assert row["engine_version"] == "engine-1.0" and row["recipe_version"] == "recipe-2"
    assert len(row["weights_sha256"]) == 64 and row["png"].startswith("stimuli/")
    assert json.loads(row["provenance"]) == {"method": row["method"], "seed": 7, "torch": "2.14.1"}
    assert row["trials"] == "1"


def _peak(study) -> tuple[int, int]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    lines = sum(chunk.count("\n") for chunk in export.export_responses(study, chunk_size=250))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, lines - 1


@pytest.mark.django_db
def test_the_export_streams_in_bounded_memory():
    small = F.large_study(25, 40)  # 1,000 responses
    big = F.large_study(125, 40)  # 5,000 responses, made with bulk_create
    peak_small, rows_small = _peak(small)
    peak_big, rows_big = _peak(big)
    assert (rows_small, rows_big) == (1000, 5000)
    # five times the rows, about the same memory: the rows are never all held at once
    assert peak_big < 1.3 * peak_small, (peak_small, peak_big)


@pytest.mark.django_db
def test_the_export_streams_in_bounded_memory_without_server_side_cursors():
    """Behind PgBouncer in transaction mode (DISABLE_SERVER_SIDE_CURSORS) no cursor outlives its
    query, so reading with `.iterator()` would fetch the whole export at once."""
    from django.db import connection

    small = F.large_study(25, 40)
    big = F.large_study(125, 40)
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        peak_small, rows_small = _peak(small)
        peak_big, rows_big = _peak(big)
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = False
    assert (rows_small, rows_big) == (1000, 5000)
    assert peak_big < 1.3 * peak_small, (peak_small, peak_big)
