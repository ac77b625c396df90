"""Staff pages for generation: the progress JSON behind the admin's progress bar, and stimulus provenance.

Thin views over studies/generation.py; staff only (`staff_member_required` sends anyone else to the
admin login). Stimulus images are linked by `stimulus.png.url`: in production the media files are
served by whitenoise or the web server with long-lived cache headers (their names are content keys,
so a file never changes under its URL), never through Django.
"""

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import progress
from .models import Stimulus, Study, Trial


@staff_member_required
@require_GET
@never_cache
def generation_progress(request, study_id: int):
    study = get_object_or_404(Study, pk=study_id)
    return JsonResponse(progress.study_progress(study))


@staff_member_required
@require_GET
def stimulus_detail(request, pk: int):
    stimulus = get_object_or_404(Stimulus.objects.select_related("image", "image__image_set", "model"), pk=pk)
    trials = (
        (Trial.objects.filter(stimulus=stimulus) | Trial.objects.filter(stimulus_weaker=stimulus))
        .select_related("study")
        .order_by("study_id", "index")[:100]
    )
    return render(
        request,
        "admin/studies/stimulus_detail.html",
        {
            "stimulus": stimulus,
            "trials": trials,
            "provenance_json": json.dumps(stimulus.provenance, indent=2, sort_keys=True),
            "title": f"Stimulus {stimulus.pk}",
        },
    )
