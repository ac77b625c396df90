"""The API is documented with OpenAPI: the schema is served, and its row fields are the codebook's columns."""

import pytest

from studies.results import export

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_is_served_to_staff_and_describes_every_column(researcher_client):
    response = researcher_client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/studies/{slug}/responses" in schema["paths"] and "/api/studies/{slug}/monitor" in schema["paths"]
    rows = schema["components"]["schemas"]["ResponseRow"]["properties"]
    assert list(rows) == export.RESPONSE_COLUMNS
    assert rows["rt_ms"]["description"].startswith("Response time in milliseconds")
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert researcher_client.get("/api/docs").status_code == 200


def test_the_schema_is_not_public(client):
    assert client.get("/api/openapi.json").status_code == 302
