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
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import i18n
from ..kinds import kind_of
from ..models import Outcome, ParticipantStatus, Study
from ..prepared_queries import PreparedQuery
from . import flow as p
from . import recruitment, withdrawal
from .bots import is_valid_simulation_token

COOKIE_SALT = "studies.participant"
COOKIE_MAX_AGE = 90 * 24 * 3600  # a return days later resumes


def cookie_name(study: Study) -> str:
    return f"visexp_p{study.pk}"


# The MTurk sites that show an external question in a frame.
MTURK_FRAME_ANCESTORS = ("https://worker.mturk.com", "https://workersandbox.mturk.com", "https://www.mturk.com")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(study: Study | None = None, form_targets=()) -> str:
    """The pages' policy; an MTurk study may be framed by MTurk, and its last page posts to MTurk."""
    img = ["'self'", "data:", "blob:"]
    media = _origin(settings.MEDIA_URL)
    if media:
        img.append(media)
    frames = " ".join(MTURK_FRAME_ANCESTORS) if study is not None and study.mturk_environment else "'none'"
    forms = " ".join(["'self'", *filter(None, map(_origin, form_targets))])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src {' '.join(img)}; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors {frames}; form-action {forms}"
    )


class ParticipationEnded(p.ParticipationError):
    """The participation ended (it ran past the time limit): every page goes to its ending."""

    status = 409


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
            response = message_page(request, _("Study not found"), _("There is no study at this address."), 404)
        else:
            token = request.get_signed_cookie(cookie_name(study), default=None, salt=COOKIE_SALT)
            request.participant_token = token
            request.participant_study = study
            language, picked = i18n.chosen_language(request, study)
            with i18n.speaking(study, language):
                response = _page(view, request, study, *args, **kwargs)
            if picked:
                i18n.keep_language(response, study, language)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(study)
        if study is not None and study.mturk_environment:
            response.xframe_options_exempt = True  # MTurk shows the study in a frame (the policy says by whom)
        return response

    return wrapper


def _page(view, request, study, *args, **kwargs):
    try:
        check_no_nul_in_request(request)
        return view(request, study, *args, **kwargs)
    except ParticipationEnded as err:
        if wants_json(request):
            return JsonResponse({"ok": False, "error": err.message, "next": step_url(study, "done")}, status=err.status)
        return _see_other(step_url(study, "done"))
    except p.ParticipationError as err:
        if wants_json(request):
            return JsonResponse({"ok": False, "error": err.message}, status=err.status)
        return message_page(request, _("Sorry"), err.message, err.status, study)


def check_no_nul_in_request(request) -> None:
    """Every field a participant sends may end in the database: one NUL anywhere refuses the request."""
    for params in (request.GET, request.POST):
        for name, values in params.lists():
            p.check_no_nul(name, *values)


def _cookie_samesite(study: Study) -> str:
    # Inside MTurk's frame the cookie is a third party's: it is sent only with SameSite=None (and Secure).
    return "None" if study.mturk_environment and settings.SESSION_COOKIE_SECURE else "Lax"


def set_participant_cookie(response, study: Study, participant) -> None:
    response.set_signed_cookie(
        cookie_name(study),
        participant.token,
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite=_cookie_samesite(study),
        secure=settings.SESSION_COOKIE_SECURE,
        path=f"/s/{study.slug}/",
    )


def clear_participant_cookie(response, study: Study) -> None:
    """Make the browser forget its participation (set with the same attributes, or a framed page keeps it)."""
    response.delete_cookie(cookie_name(study), path=f"/s/{study.slug}/", samesite=_cookie_samesite(study))


def cookie_participant(request, study: Study):
    """The cookie's participant, whatever its state, or ParticipationError (403) when there is none."""
    participant = p.find_by_token(study, request.participant_token)
    if participant is None:
        raise p.ParticipationError(
            _("We could not find your session. Please open the study link you were given again."), status=403
        )
    return participant


def current_participant(request, study: Study, *, ended_ok: bool = False):
    """The cookie's participant, or ParticipationError (403) when there is none; ParticipationEnded
    (to the ending) once screened out or timed out, unless `ended_ok` (the ending's own page)."""
    participant = cookie_participant(request, study)
    if participant.status == ParticipantStatus.WITHDRAWN:
        raise p.ParticipationError(p.WITHDRAWN, status=410)
    p.check_open_for(participant)
    if recruitment.is_timed_out(participant):
        recruitment.do_time_out(participant)
    if participant.outcome and participant.status != ParticipantStatus.COMPLETED and not ended_ok:
        raise ParticipationEnded(_("This participation has ended; nothing more can be recorded."))
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
    """Entry page: resume; or the eligibility questions (if any), then consent (accept / decline)."""
    params = request.POST if request.method == "POST" else request.GET
    decision = p.do_start(study, params=params, token=request.participant_token, user=request.user)
    if decision.action == "resume":
        return redirect_to_step(study, decision.participant, set_cookie=True)
    identity = decision.identity
    if identity.is_mturk_preview:
        return _mturk_preview(request, study)
    screened = params.get("screened", "")
    passed = not study.screeners or recruitment.has_passed_screening(study, identity.external_id, screened)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "decline":
            return _decline(request, study, decision, params)
        if action == "screen" and study.screeners:
            return _screen(request, study, decision, params)
        if action != "accept":
            raise p.ParticipationError(_("Please choose whether you agree to take part."))
        if not passed:
            raise p.ParticipationError(_("Please answer the eligibility questions first: open the study link again."))
        if not shown_current_consent(request, study):
            # The text changed after this page was shown: consent is to the text read, so show the new one.
            return _consent_page(request, study, decision, params, screened if study.screeners else "", changed=True)
        participant = p.do_consent(
            study,
            identity=identity,
            pilot=decision.pilot,
            simulated=is_simulated(params, study),
            token=request.participant_token,
            started=decision,
            language=translation.get_language(),
        )
        return redirect_to_step(study, participant, set_cookie=True)
    if not passed:
        return _screener_page(request, study, decision, params)
    return _consent_page(request, study, decision, params, screened if study.screeners else "")


def _hidden(decision, params, study) -> dict:
    """The recruitment parameters (and a bot's signed token) that the entry page's forms carry."""
    return {
        **p.external_query(decision.identity),
        **({"SIMULATED": params["SIMULATED"]} if is_simulated(params, study) else {}),
    }


def _consent_page(request, study, decision, params, screened: str = "", changed: bool = False):
    hidden = _hidden(decision, params, study)
    if screened:
        hidden["screened"] = screened
    hidden["consent_version"] = study.consent_version
    context = {"study": study, "hidden": hidden, "pilot": decision.pilot, "consent_changed": changed}
    return render(request, "participant/consent.html", context, status=409 if changed else 200)


def shown_current_consent(request, study) -> bool:
    """Whether the consent form posted shows the study's current consent version. A post without the
    field (a script, not the page's form) accepts the current version."""
    shown = request.POST.get("consent_version")
    return shown is None or shown.strip() == str(study.consent_version)


def _decline(request, study, decision, params):
    """No consent: a person with a platform id is recorded with the no-consent outcome (once: a
    repeat, or a racing request, finds the record and shows its ending); without an id, nothing."""
    identity = decision.identity
    participant, created = recruitment.do_decline(
        study, identity, pilot=decision.pilot, simulated=is_simulated(params, study)
    )
    if participant is None:
        end = recruitment.ending(study, Outcome.NO_CONSENT, identity.source, identity.meta)
        context = {"study": study, "identity": identity, "ending": end, "recorded": False}
        return render(request, "participant/declined.html", context)
    if not created:
        p.check_holder(participant, identity, request.participant_token)
    response = _see_other(step_url(study, "done"))
    set_participant_cookie(response, study, participant)
    return response


def _screener_page(request, study, decision, params, error: str = "", status: int = 200):
    context = {
        "study": study,
        "hidden": _hidden(decision, params, study),
        "pilot": decision.pilot,
        "screeners": i18n.shown_screeners(study.screeners),
        "answers": {k: v for k, v in params.items() if k.startswith("screener_")},
        "error": error,
    }
    return render(request, "participant/screeners.html", context, status=status)


def _screen(request, study, decision, params):
    """The eligibility answers: consent next, or the screened-out ending (the answers are not stored)."""
    try:
        eligible = recruitment.is_eligible(study, request.POST)
    except recruitment.ScreeningError as err:
        return _screener_page(request, study, decision, params, str(err), status=400)
    if eligible:
        note = recruitment.screening_pass(study, decision.identity.external_id)
        return _consent_page(request, study, decision, params, note)
    participant, created = recruitment.do_screen_out(
        study, decision.identity, pilot=decision.pilot, simulated=is_simulated(params, study)
    )
    if not created:  # recorded by a racing request: handed over only to its holder
        p.check_holder(participant, decision.identity, request.participant_token)
    response = _see_other(step_url(study, "done"))
    set_participant_cookie(response, study, participant)
    return response


def _mturk_preview(request, study):
    """An MTurk HIT previewed before it is accepted: what the study asks, and no trial."""
    kind = kind_of(study)
    context = {
        **kind.instructions_context(study),
        "study": study,
        "kind": kind,
        "kind_template": kind.template_name(),
        "window": _window(study),
    }
    return render(request, "participant/mturk_preview.html", context)


@participant_page
@require_http_methods(["GET"])
def instructions(request, study):
    participant = current_participant(request, study)
    if p.next_step(participant) == "done":
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
        link = {"url": step_url(study, "trial"), "text": _("Continue the study")}
        return message_page(request, _("This answer was not recorded"), err.message, err.status, study, link)
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
    """The ending: the outcome's code, and Prolific's completion URL or MTurk's externalSubmit form."""
    participant = current_participant(request, study, ended_ok=True)
    if p.next_step(participant) != "done":
        return redirect_to_step(study, participant)
    end = recruitment.participant_ending(participant)
    context = {"study": study, "participant": participant, "ending": end}
    if participant.status == ParticipantStatus.DECLINED:
        return render(request, "participant/declined.html", {**context, "recorded": True})
    response = render(request, "participant/done.html", context)
    response["Content-Security-Policy"] = content_security_policy(study, [end.mturk_action])
    return response


@participant_page
@require_http_methods(["GET"])
def leave(request, study):
    """How to stop early: return the study on the platform the participant came from."""
    participant = p.find_by_token(study, request.participant_token)
    source = participant.external_source if participant is not None else ""
    context = {
        "study": study,
        "instructions": recruitment.return_instructions(source),
        "resume_url": reverse("studies:participant-start", args=[study.slug]),
    }
    return render(request, "participant/leave.html", context)


@participant_page
@require_http_methods(["GET", "POST"])
def withdraw(request, study):
    """Withdraw from the study: a confirmation page, then (POST) the study's withdrawal policy applied
    (studies/participants/withdrawal.py) and the cookie cleared. Open whatever the study's status: the
    right to withdraw outlasts the study's recruitment."""
    participant = cookie_participant(request, study)
    if participant.status == ParticipantStatus.DECLINED:
        raise p.ParticipationError(_("You did not take part in this study: there is nothing to withdraw."), 409)
    context = {"study": study, "policy": study.withdrawal_policy}
    if request.method == "GET" and participant.status != ParticipantStatus.WITHDRAWN:
        context["back_url"] = step_url(study, p.next_step(participant))
        return render(request, "participant/withdraw.html", context)
    withdrawal.do_withdraw(participant, actor=withdrawal.PARTICIPANT_ACTOR, via=withdrawal.VIA_PARTICIPANT)
    context["instructions"] = recruitment.return_instructions(participant.external_source)
    response = render(request, "participant/withdrawn.html", context)
    clear_participant_cookie(response, study)
    return response
