"""`export_results SLUG --psych-ds DIR` writes a dataset that passes the Psych-DS schema's rules."""

import csv
import json
import re
from pathlib import Path

import jsonschema
import pytest
from django.core.management import CommandError, call_command

from studies.models import AuditEntry
from studies.results import export
from tests.results import factories as F

SCHEMA = json.loads((Path(__file__).parent / "psychds-schema-1.5.0.json").read_text())
JSON_TYPES = {"string": "string", "array": "array"}


def description_json_schema(psychds: dict) -> dict:
    """A JSON Schema for dataset_description.json built from the Psych-DS schema model's own rules."""
    compiled = psychds["rules"]["compiled_metadata"]["CompiledMetadata"]
    fields = psychds["objects"]["metadata"]
    properties = {name: {"type": JSON_TYPES[fields[name]["type"]]} for name in compiled["fields"] if name in fields}
    # variableMeasured: column names, or schema.org PropertyValue objects that name one
    properties["variableMeasured"] = {
        "type": "array",
        "minItems": 1,
        "items": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "required": ["@type", "name"],
                    "properties": {"@type": {"const": "PropertyValue"}, "name": {"type": "string", "minLength": 1}},
                },
            ]
        },
    }
    required = [name for name, level in compiled["fields"].items() if level == "required"]
    if compiled.get("jsonld"):  # a JSON-LD schema.org Dataset
        properties["@context"] = {"type": "string", "pattern": "^https?://schema.org/?$"}
        properties["@type"] = {"const": "Dataset"}
        required += ["@context", "@type"]
    return {"type": "object", "required": required, "properties": properties}


def datafile_rule(psychds: dict) -> dict:
    return psychds["rules"]["files"]["tabular_data"]["data"]["Datafile"]


def keyword_vocabulary(psychds: dict) -> set[str]:
    text = psychds["objects"]["common_principles"]["keywords"]["description"]
    return set(re.findall(r"^\s+- (\w+)$", text, re.M))


def written_dataset(tmp_path, study) -> Path:
    root = tmp_path / "dataset"
    call_command("export_results", study.slug, "--psych-ds", str(root))
    return root


@pytest.fixture
def study(db):
    return F.class_discrimination_between().study


@pytest.mark.django_db
def test_the_dataset_description_passes_the_psych_ds_schema(tmp_path, study):
    root = written_dataset(tmp_path, study)
    description = json.loads((root / "dataset_description.json").read_text())
    jsonschema.validate(description, description_json_schema(SCHEMA))
    assert description["schemaVersion"] == "Psych-DS 1.5.0"


def test_the_schema_check_refuses_a_description_without_its_variables():
    with pytest.raises(jsonschema.ValidationError, match="variableMeasured"):
        jsonschema.validate(
            {"@context": "https://schema.org/", "@type": "Dataset", "name": "x", "description": "y"},
            description_json_schema(SCHEMA),
        )


@pytest.mark.django_db
def test_the_data_files_follow_the_psych_ds_naming_rules_and_every_column_is_described(tmp_path, study):
    root = written_dataset(tmp_path, study)
    rule = datafile_rule(SCHEMA)
    assert (root / "dataset_description.json").is_file() and (root / rule["baseDir"]).is_dir()
    files = sorted((root / rule["baseDir"]).glob("*.csv"))
    assert [f.name for f in files] == [  # the slug cd-between, as a keyword value
        "study-cdBetween_description-participants_data.csv",
        "study-cdBetween_description-responses_data.csv",
        "study-cdBetween_description-stimuli_data.csv",
    ]
    vocabulary = keyword_vocabulary(SCHEMA)
    described = {v["name"] for v in json.loads((root / "dataset_description.json").read_text())["variableMeasured"]}
    for f in files:
        assert re.fullmatch(rule["fileRegex"], f.name), f.name
        assert {pair.split("-")[0] for pair in f.name.split("_")[:-1]} <= vocabulary
        header = next(csv.reader(f.open()))
        assert len(header) == len(set(header))  # no repeated column
        assert set(header) <= described, set(header) - described  # containsAllColumns


@pytest.mark.django_db
def test_the_variables_come_from_the_codebook_and_the_files_are_the_exports(tmp_path, study):
    root = written_dataset(tmp_path, study)
    variables = {v["name"]: v for v in json.loads((root / "dataset_description.json").read_text())["variableMeasured"]}
    for documented in export.codebook_variables(export.RESPONSES_SECTION):
        assert documented.description in variables[documented.name]["description"]
    assert variables["rt_ms"]["unitText"] == "milliseconds"
    assert "q_age_band" in variables and "Questionnaire answer 'age_band'" in variables["q_age_band"]["description"]
    data = root / "data"
    responses = data / "study-cdBetween_description-responses_data.csv"
    assert responses.read_text() == "".join(export.export_responses(study))
    participants = data / "study-cdBetween_description-participants_data.csv"
    assert participants.read_text() == "".join(export.export_participants(study, include_external_ids=False))


@pytest.mark.django_db
def test_it_refuses_a_folder_that_is_not_empty_and_writes_nothing(tmp_path, study):
    root = tmp_path / "taken"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not an empty folder"):
        call_command("export_results", study.slug, "--psych-ds", str(root))
    assert [p.name for p in root.iterdir()] == ["notes.txt"]


@pytest.mark.django_db
def test_the_export_is_in_the_audit_log(tmp_path, study):
    written_dataset(tmp_path, study)
    entry = AuditEntry.objects.get(action="export")
    assert entry.study == study and entry.via == "command" and "Psych-DS dataset" in entry.summary
    assert entry.actor_name.startswith("manage.py export_results (system user ")
