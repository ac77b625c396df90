"""Staff pages for generation: the progress JSON behind the admin's progress bar, stimulus provenance,
and the private media files (photographs and raw maps).

Thin views; staff only (`staff_member_required` sends anyone else to the admin login). Stimulus
images are linked by `stimulus.png.url`: they are the only public media, served by whitenoise or the
web server with long-lived cache headers (their names are content keys, so a file never changes under
its URL), never through Django. Photographs and raw maps are not public in any mode (a
class-discrimination participant must never see the unmasked photograph), so staff get them here,
through the default storage, whatever it is: streamed from the local disk, or redirected to a
short-lived presigned URL of the object store (MEDIA_STORAGE=s3).
"""

import json
import mimetypes

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .models import ImageItem, Stimulus, Study, Trial
from .stimuli import generation, progress, stalled


@staff_member_required
@require_GET
@never_cache
def generation_progress(request, study_id: int):
    study = get_object_or_404(Study, pk=study_id)
    stalled.replan_if_stalled(generation.latest_job(study))
    return JsonResponse(progress.study_progress(study))


@staff_member_required
@require_GET
def stimulus_detail(request, pk: int):
    stimulus = get_object_or_404(Stimulus.objects.select_related("image", "image__image_set", "model"), pk=pk)
    trials = (
        Trial.objects.filter(panels__stimulus=stimulus)
        .distinct()
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


def _private_file(field_file, filename: str):
    if not field_file:
        raise Http404("no file")
    if settings.MEDIA_STORAGE == "s3":
        # The store serves it: a presigned URL that expires in minutes, so the web node never relays bytes.
        if not field_file.storage.exists(field_file.name):
            raise Http404("the file is missing from the storage")
        url = field_file.storage.url(
            field_file.name, parameters={"ResponseContentDisposition": f'attachment; filename="{filename}"'}
        )
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "private, no-store"
        return response
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("the file is missing from the storage") from None
    content_type = mimetypes.guess_type(field_file.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type, filename=filename)
    # Content-addressed, so it never changes; but it is private: no shared cache may keep it.
    response["Cache-Control"] = "private, max-age=86400"
    return response


@staff_member_required
@require_GET
def image_file(request, pk: int):
    image = get_object_or_404(ImageItem, pk=pk)
    return _private_file(image.file, image.filename.rsplit("/", 1)[-1])


@staff_member_required
@require_GET
def raw_map_file(request, pk: int):
    stimulus = get_object_or_404(Stimulus, pk=pk)
    return _private_file(stimulus.raw_map, f"stimulus-{stimulus.pk}-raw-map.npy")
