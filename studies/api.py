"""The read-only JSON API for analysis notebooks: studies, their results, analysis and monitor.

Thin views over studies.results.export, studies.results.reports/analysis and studies.results.monitor: the rows are the CSV
exports' rows, column for column (described in docs/codebook.md, and in the OpenAPI schema from
it), the analysis is the results page's report and the monitor its live figures. Authentication is
a researcher's token (`Authorization: Bearer <token>`, issued in the admin); sessions and cookies
are not accepted, so the API needs no CSRF exemption and a participant's cookie opens nothing.
OpenAPI schema: /api/openapi.json; browsable documentation: /api/docs (both for staff signed in).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from ninja import Field, NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer
from pydantic import BaseModel, ConfigDict, create_model

from . import api_tokens, audit
from .models import Study
from .results import export

JSON_TYPES = {
    "text": str,
    "integer": int,
    "number": int | float,
    "boolean": bool,
    "timestamp": str,
    "list": str,
    "json": str,
}


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        found = api_tokens.token_for_key(token)
        if found is None:
            return None  # 401: unknown, malformed or revoked
        if not api_tokens.owner_may_use(found):
            raise HttpError(403, "the token's owner is no longer an active staff account")
        return found


api = NinjaAPI(
    title="Visual explanation studies: results API",
    version="1",
    description=(
        "Read-only access to studies, their answers, analysis and live monitor, for analysis notebooks. "
        "Send a researcher's token (issued by staff in the admin, under API tokens) as "
        "`Authorization: Bearer <token>`. Row endpoints return the CSV exports' rows as JSON objects; "
        "every column is described in the codebook (docs/codebook.md)."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    # The schema and its documentation page are for staff signed in to the admin, like every staff page.
    docs_decorator=staff_member_required,
)


class OpenRow(BaseModel):
    """A row with a family of columns besides the documented ones (q_*). Ninja's Schema would drop them."""

    model_config = ConfigDict(extra="allow")


def row_schema(name: str, section: str, *, extra: bool = False) -> type[BaseModel]:
    """A response schema whose fields are the codebook's columns, with their types and descriptions."""
    fields: dict[str, Any] = {}
    for v in export.codebook_variables(section):
        if "*" in v.name:
            continue  # a family of columns (q_*): extra fields, allowed by OpenRow
        fields[v.name] = (JSON_TYPES.get(v.type, str) | None, Field(None, description=v.description))
    return create_model(name, __base__=OpenRow if extra else Schema, **fields)


ResponseRow = row_schema("ResponseRow", export.RESPONSES_SECTION)
ParticipantRow = row_schema("ParticipantRow", export.PARTICIPANTS_SECTION, extra=True)
StimulusRow = row_schema("StimulusRow", export.STIMULI_SECTION)


class StudyOut(Schema):
    slug: str
    name: str
    kind: str
    status: str
    design: str
    methods: list[str]
    colormap: str
    launched_at: str | None = None
    closed_at: str | None = None

    @staticmethod
    def resolve_launched_at(obj):
        return obj.launched_at.isoformat() if obj.launched_at else None

    @staticmethod
    def resolve_closed_at(obj):
        return obj.closed_at.isoformat() if obj.closed_at else None


def readable_study(request, slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise HttpError(404, f"no study with slug {slug!r}")
    if not api_tokens.may_read(request.auth, study):
        raise HttpError(403, "this token may not read this study")
    return study


def exported(request, study: Study, what: str, rows) -> list[dict]:
    audit.do_record_export(request.auth.user, study, what, via=audit.VIA_API)
    return list(rows)


@api.get("/studies", response=list[StudyOut], summary="The studies this token may read")
def list_studies(request):
    return api_tokens.readable_studies(request.auth).order_by("slug")


@api.get("/studies/{slug}", response=StudyOut, summary="One study")
def get_study(request, slug: str):
    return readable_study(request, slug)


@api.get("/studies/{slug}/responses", response=list[ResponseRow], summary="Answers, one per row (the CSV export)")
def study_responses(request, slug: str):
    study = readable_study(request, slug)
    return exported(request, study, "responses", export.response_rows(study))


@api.get(
    "/studies/{slug}/participants",
    response=list[ParticipantRow],
    summary="Participants, one per row (the CSV export, never with external ids; q_* questionnaire columns)",
)
def study_participants(request, slug: str):
    study = readable_study(request, slug)
    return exported(request, study, "participants", export.participant_rows(study, include_external_ids=False))


@api.get("/studies/{slug}/stimuli", response=list[StimulusRow], summary="Stimuli and their provenance (CSV export)")
def study_stimuli(request, slug: str):
    study = readable_study(request, slug)
    return exported(request, study, "stimuli", export.stimulus_rows(study))


@api.get("/studies/{slug}/analysis", response=dict[str, Any], summary="The analysis report (as analyze_study --json)")
def study_analysis(request, slug: str):
    from .results.reports import study_analysis as analyse

    result, _ = analyse(readable_study(request, slug))
    return result


@api.get("/studies/{slug}/monitor", response=dict[str, Any], summary="The live monitor's figures")
def study_monitor(request, slug: str):
    from .results.monitor import monitor_data

    return monitor_data(readable_study(request, slug))
