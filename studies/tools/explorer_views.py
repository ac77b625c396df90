"""Staff pages of the researcher's tools: the explorer, and its cached files (thin views over explorer.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from ..models import ClassifierModel, ImageItem
from . import explorer

EXPLORE_TIMEOUT_S = getattr(settings, "EXPLORER_TIMEOUT_S", 120)
DEFAULT_METHODS = ("gradcam", "guided_backprop", "guided_gradcam", "counterfactual_gradcam")
MAX_LISTED_IMAGES = 500


class ExploreForm(forms.Form):
    model = forms.ModelChoiceField(queryset=ClassifierModel.objects.order_by("name"), empty_label=None)
    image = forms.CharField(required=False, help_text="item:<id> or upload:<sha256>")
    upload = forms.FileField(required=False)
    classes = forms.CharField(required=False, max_length=2000, help_text="comma-separated; empty for the top 5")
    methods = forms.MultipleChoiceField(choices=(), required=False)
    layer = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["methods"].choices = [(m, m) for m in explorer.known_methods()]

    def clean_classes(self) -> list[str]:
        return [c.strip() for c in self.cleaned_data["classes"].split(",") if c.strip()]

    def clean_methods(self) -> list[str]:
        return self.cleaned_data["methods"] or [m for m in DEFAULT_METHODS if m in explorer.known_methods()]

    def image_spec(self) -> dict | None:
        source, _, value = (self.cleaned_data.get("image") or "").partition(":")
        if source == "item" and value.isdigit():
            return {"item": int(value)}
        if source == "upload" and value:
            return {"upload": value}
        return None


def _page(request, form, result=None, error="", status=200):
    images = list(
        ImageItem.objects.select_related("image_set").order_by("image_set__name", "filename")[:MAX_LISTED_IMAGES]
    )
    for im in images:
        im.explorer_value = f"item:{im.pk}"
    models = list(ClassifierModel.objects.order_by("name"))
    selected = str(form.data.get("model") or form.initial.get("model") or "")
    model = next((m for m in models if str(m.pk) == selected), models[0] if models else None)
    return render(
        request,
        "admin/studies/explorer.html",
        {
            "title": "Explorer",
            "form": form,
            "models": models,
            "selected_model": str(model.pk) if model else "",
            "images": images,
            "methods": explorer.known_methods(),
            "default_methods": DEFAULT_METHODS,
            "categories": model.categories if model else [],
            "model_categories": {str(m.pk): m.categories for m in models},
            "result": result,
            "error": error,
            "query": request.GET.urlencode(),
        },
        status=status,
    )


@staff_member_required
@require_http_methods(["GET", "POST"])
def explorer_page(request):
    if request.method == "POST":
        form = ExploreForm(request.POST, request.FILES)
        if not form.is_valid():
            return _page(request, form, error="; ".join(e for errs in form.errors.values() for e in errs), status=400)
        upload = form.cleaned_data.get("upload")
        spec = form.image_spec()
        if upload is not None:
            try:
                sha = explorer.do_store_upload(upload.name, upload.read(explorer.MAX_UPLOAD_BYTES + 1))
            except explorer.ExplorerError as exc:
                return _page(request, form, error=str(exc), status=400)
            spec = {"upload": sha}
        if spec is None:
            return _page(request, form, error="upload an image or pick one from an image set", status=400)
        image = f"upload:{spec['upload']}" if "upload" in spec else f"item:{spec['item']}"
        query = [("model", form.cleaned_data["model"].pk), ("image", image)]
        query += [("classes", ",".join(form.cleaned_data["classes"]))] if form.cleaned_data["classes"] else []
        query += [("methods", m) for m in form.cleaned_data["methods"]]
        query += [("layer", form.cleaned_data["layer"])] if form.cleaned_data["layer"] else []
        return HttpResponseRedirect(f"{reverse('studies:explorer')}?{urlencode(query)}")

    if "image" not in request.GET:  # the empty form, maybe with a model chosen (the admin links here)
        return _page(request, ExploreForm(initial={"model": request.GET.get("model", "")}))
    form = ExploreForm(request.GET)
    if not form.is_valid():
        return _page(request, form, error="; ".join(e for errs in form.errors.values() for e in errs), status=400)
    spec = form.image_spec()
    if spec is None:
        return _page(request, form, error="upload an image or pick one from an image set", status=400)
    payload = {
        "model": form.cleaned_data["model"].pk,
        "image": spec,
        "classes": form.cleaned_data["classes"],
        "methods": form.cleaned_data["methods"],
        "layer": form.cleaned_data["layer"],
    }
    try:  # refuse what is wrong before the queue sees it
        explorer.check_request(form.cleaned_data["model"], payload["classes"], payload["methods"])
    except explorer.ExplorerError as exc:
        return _page(request, form, error=str(exc), status=400)
    from ..tasks import gpu_explore

    try:
        result = gpu_explore.delay(payload).get(timeout=EXPLORE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a timeout or a lost worker: say so, store nothing
        return _page(request, form, error=f"the computation did not finish: {type(exc).__name__}", status=503)
    if result.get("error"):
        return _page(request, form, error=result["error"], status=400)
    return _page(request, form, result=result)


@staff_member_required
@require_GET
def explorer_file(request, key: str, filename: str):
    try:
        name = explorer.tile_path(key, filename)
    except explorer.ExplorerError:
        raise Http404("no such explorer file") from None
    if not default_storage.exists(name):
        raise Http404("no such explorer file")
    download = request.GET.get("download") == "1"
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=explorer.TILE_FILES[filename],
        as_attachment=download,
        filename=f"{key[:12]}-{filename}",
    )
    response["Cache-Control"] = "private, max-age=31536000, immutable"  # the name is a content key
    return response
