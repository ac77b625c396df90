"""Participant pages: thin views over studies/participants/flow.py.

A participant is identified by a signed cookie per study that carries their unguessable token
(never the token in a URL, never an IP address). Pages need only Postgres: no cache, no sessions,
no Redis. Every page sends a Content-Security-Policy and `Cache-Control: no-store`.
"""

from __future__ import annotations

import functools
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from ..kinds import kind_of
from ..models import ParticipantStatus, Study
from ..prepared_queries import PreparedQuery
from . import flow as p
from .bots import is_valid_simulation_token

COOKIE_SALT = "studies.participant"
COOKIE_MAX_AGE = 90 * 24 * 3600  # a return days later resumes


def cookie_name(study: Study) -> str:
    return f"visexp_p{study.pk}"


def content_security_policy() -> str:
    img = ["'self'", "data:", "blob:"]
    media = urlsplit(settings.MEDIA_URL)
    if media.scheme and media.netloc:
        img.append(f"{media.scheme}://{media.netloc}")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src {' '.join(img)}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def message_page(request, title: str, message: str, status: int = 200, study=None, link=None):
    context = {"title": title, "message": message, "study": study, "link": link}
    return render(request, "participant/message.html", context, status=status)


def step_url(study: Study, step: str) -> str:
    names = {
        "instructions": "studies:participant-instructions",
        "trial": "studies:participant-trial",
        "questionnaire": "studies:participant-questionnaire",
        "done": "studies:participant-done",
    }
    return reverse(names[step], args=[study.slug])


_STUDY_BY_SLUG = PreparedQuery(lambda slug: Study.objects.filter(slug=slug).order_by()[:1])


def participant_page(view):
    """Look up the study, attach the participant from the cookie, turn ParticipationError into a page."""

    @functools.wraps(view)
    @never_cache
    def wrapper(request, slug, *args, **kwargs):
        study = _STUDY_BY_SLUG.first(slug)
        if study is None:
            response = message_page(request, "Study not found", "There is no study at this address.", 404)
        else:
            token = request.get_signed_cookie(cookie_name(study), default=None, salt=COOKIE_SALT)
            request.participant_token = token
            try:
                check_no_nul_in_request(request)
                response = view(request, study, *args, **kwargs)
            except p.ParticipationError as err:
                if wants_json(request):
                    response = JsonResponse({"ok": False, "error": err.message}, status=err.status)
                else:
                    response = message_page(request, "Sorry", err.message, err.status, study)
        response["Content-Security-Policy"] = content_security_policy()
        return response

    return wrapper


def check_no_nul_in_request(request) -> None:
    """Every field a participant sends may end in the database: one NUL anywhere refuses the request."""
    for params in (request.GET, request.POST):
        for name, values in params.lists():
            p.check_no_nul(name, *values)


def set_participant_cookie(response, study: Study, participant) -> None:
    response.set_signed_cookie(
        cookie_name(study),
        participant.token,
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
        path=f"/s/{study.slug}/",
    )


def current_participant(request, study: Study):
    """The cookie's participant, or ParticipationError (403) when there is none."""
    participant = p.find_by_token(study, request.participant_token)
    if participant is None:
        raise p.ParticipationError(
            "We could not find your session. Please open the study link you were given again.", status=403
        )
    p.check_open_for(participant)
    return participant


def is_simulated(params, study) -> bool:
    """Bots (studies/participants/bots.py) carry a signed token, so their participants are flagged in the data."""
    return is_valid_simulation_token(params.get("SIMULATED", ""), study.slug)


def redirect_to_step(study, participant, *, set_cookie=False):
    response = HttpResponseRedirect(step_url(study, p.next_step(participant)))
    if set_cookie:
        set_participant_cookie(response, study, participant)
    return response


# --- pages ---------------------------------------------------------------------------------------
@participant_page
@require_http_methods(["GET", "POST"])
def start(request, study):
    """Entry page: resume, or consent (accept / decline)."""
    params = request.POST if request.method == "POST" else request.GET
    decision = p.do_start(study, params=params, token=request.participant_token, user=request.user)
    if decision.action == "resume":
        return redirect_to_step(study, decision.participant, set_cookie=True)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "decline":
            # Nothing is recorded: no participant row, no cookie.
            return render(request, "participant/declined.html", {"study": study, "identity": decision.identity})
        if action != "accept":
            raise p.ParticipationError("Please choose whether you agree to take part.")
        participant = p.do_consent(
            study,
            identity=decision.identity,
            pilot=decision.pilot,
            simulated=is_simulated(params, study),
            token=request.participant_token,
            started=decision,
        )
        return redirect_to_step(study, participant, set_cookie=True)
    context = {
        "study": study,
        "hidden": {
            **p.external_query(decision.identity),
            **({"SIMULATED": params["SIMULATED"]} if is_simulated(params, study) else {}),
        },
        "pilot": decision.pilot,
        "mturk_preview": decision.identity.is_mturk_preview,
    }
    return render(request, "participant/consent.html", context)


@participant_page
@require_http_methods(["GET"])
def instructions(request, study):
    participant = current_participant(request, study)
    if participant.status == ParticipantStatus.COMPLETED:
        return redirect_to_step(study, participant)
    kind = kind_of(study)
    context = {
        **kind.instructions_context(study),
        "study": study,
        "participant": participant,
        "total": participant.trial_count,
        "kind": kind,
        "kind_template": kind.template_name(),
        "window": _window(study),
    }
    return render(request, "participant/instructions.html", context)


def _window(study):
    return {"width": study.min_window_width, "height": study.min_window_height}


def _stimulus_urls(assignment) -> list[str]:
    if assignment is None:
        return []
    return [panel.stimulus.png.url for panel in assignment.trial.panels.all() if panel.stimulus and panel.stimulus.png]


@participant_page
@require_http_methods(["GET"])
def trial(request, study):
    participant = current_participant(request, study)
    upcoming = p.upcoming_assignments(participant, 2)
    if not upcoming:
        return redirect_to_step(study, participant)
    assignment = upcoming[0]
    p.mark_shown(assignment)
    p.touch_if_stale(participant)
    kind = kind_of(study)
    panels = kind.displayed_panels(assignment, assignment.trial.panels.all())
    context = {
        **kind.trial_context(study, assignment, panels),
        "study": study,
        "assignment": assignment,
        "trial": assignment.trial,
        "kind": kind,
        "kind_template": kind.template_name(),
        "panels": panels,
        "questions": kind.questions(assignment, panels),
        "number": assignment.position + 1,
        "total": participant.trial_count,
        "idempotency_key": uuid.uuid4(),
        "preload": _stimulus_urls(upcoming[1] if len(upcoming) > 1 else None),
        "window": _window(study),
        "answer_url": reverse("studies:participant-answer", args=[study.slug]),
    }
    return render(request, "participant/trial.html", context)


@participant_page
@require_http_methods(["POST"])
def answer(request, study):
    participant = current_participant(request, study)
    try:
        result = p.do_answer(participant, request.POST)
    except p.ParticipationError as err:
        if wants_json(request):
            return JsonResponse(
                {"ok": False, "error": err.message, "next": step_url(study, "trial")}, status=err.status
            )
        link = {"url": step_url(study, "trial"), "text": "Continue the study"}
        return message_page(request, "This answer was not recorded", err.message, err.status, study, link)
    if result.replay:
        step = p.next_step(participant)
    else:
        step = "questionnaire" if result.finished else "trial"
    next_url = step_url(study, step)
    if wants_json(request):
        return JsonResponse({"ok": True, "replay": result.replay, "next": next_url})
    return _see_other(next_url)


def _see_other(url):
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


@participant_page
@require_http_methods(["GET", "POST"])
def questionnaire(request, study):
    participant = current_participant(request, study)
    step = p.next_step(participant)
    if step != "questionnaire":
        return redirect_to_step(study, participant)
    if request.method == "POST":
        p.do_questionnaire(participant, request.POST.get("comment", ""))
        return _see_other(step_url(study, "done"))
    return render(request, "participant/questionnaire.html", {"study": study, "max_length": p.MAX_COMMENT_LENGTH})


@participant_page
@require_http_methods(["GET"])
def done(request, study):
    participant = current_participant(request, study)
    if participant.status != ParticipantStatus.COMPLETED:
        return redirect_to_step(study, participant)
    return render(request, "participant/done.html", {"study": study, "participant": participant})
