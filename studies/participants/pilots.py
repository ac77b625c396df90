"""Pilot data: what a researcher discards after piloting a study, before changing and regenerating it.

Pilot participants (staff previews, `?pilot=1`) are flagged `is_pilot`; their assignments and
answers hang off them, so deleting the participants deletes exactly their data and nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.template.defaultfilters import pluralize

from ..models import Participant, Response, Study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PilotCounts:
    participants: int
    answers: int

    def __str__(self) -> str:
        return (
            f"{self.participants} pilot participant{pluralize(self.participants)} "
            f"and {self.answers} answer{pluralize(self.answers)}"
        )


def pilot_counts(study: Study) -> PilotCounts:
    pilots = Participant.objects.filter(study=study, is_pilot=True)
    answers = Response.objects.filter(assignment__participant__in=pilots)
    return PilotCounts(pilots.count(), answers.count())


def do_discard_pilot_data(study: Study, by: str = "") -> PilotCounts:
    """Delete the study's pilot participants with their assignments and answers; nothing else changes."""
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)
        counts = pilot_counts(study)
        Participant.objects.filter(study=study, is_pilot=True).delete()
    log.info("discarded the pilot data of study %s (%s)%s", study.slug, counts, f" by {by}" if by else "")
    return counts
