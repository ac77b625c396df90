"""The researcher's admin: image sets (zip upload), models (registration), studies (configure, generate,
launch, close), stimuli with provenance, generation jobs with their failures.

Business logic lives in stimuli/imports.py, stimuli/registry.py and stimuli/generation.py; the admin only calls it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from . import admin_audit, admin_tokens, audit, i18n, lifecycle  # noqa: F401 (registers the log, tokens)
from .kinds import KINDS, kind_of
from .kinds.presets import UnknownPreset, preset_named, presets_in_order
from .models import (
    AuditAction,
    ClassifierModel,
    GenerationFailure,
    GenerationJob,
    ImageItem,
    ImageSet,
    Participant,
    Prediction,
    Stimulus,
    Study,
    StudyStatus,
)
from .participants import pilots, withdrawal
from .participants.flow import EXTERNAL_PARAMS
from .participants.privacy import external_id_for_storage
from .stimuli import configuration, generation, progress
from .stimuli.imports import ImportRefused, inspect_archive, write_plan
from .stimuli.registry import RegistrationRefused, parse_categories, register_model


def _reverse_or_none(name: str, **kwargs) -> str | None:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def listing(names: list[str], shown: int = 50) -> str:
    """Names separated by commas, the first `shown` of them, then how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


# --- image sets -------------------------------------------------------------------------------
class ImageSetImportForm(forms.ModelForm):
    archive = forms.FileField(
        help_text="A zip of images (JPEG, PNG, WebP, BMP) with a labels.csv (filename,labels,boxes; labels "
        "separated by ';', boxes as label:x0,y0,x1,y1;...) or PASCAL VOC XML annotations.",
    )

    unannotated = forms.ChoiceField(
        label="Images without annotations",
        choices=[
            ("warn", "Import the annotated images and list the skipped ones"),
            ("refuse", "Refuse the archive"),
        ],
        initial="warn",
        required=False,  # empty: warn
        widget=forms.RadioSelect,
        help_text="An image that labels.csv or the VOC XML does not mention has no labels, so it cannot be used.",
    )

    class Meta:
        model = ImageSet
        fields = ["name", "description"]

    def clean(self):
        cleaned = super().clean()
        archive = cleaned.get("archive")
        if archive is not None:
            try:
                self.plan = inspect_archive(archive)
            except ImportRefused as exc:
                raise ValidationError([ValidationError(e) for e in exc.errors[:50]]) from None
            if self.plan.ignored and cleaned.get("unannotated") == "refuse":
                raise ValidationError(
                    f"{len(self.plan.ignored)} image{pluralize(len(self.plan.ignored))} without an annotation: {listing(self.plan.ignored)}. "
                    "Add them to the annotations, remove them from the archive, or choose to import the others."
                )
        return cleaned

    def save(self, commit=True):
        try:
            image_set = write_plan(self.plan, self.cleaned_data["name"], self.cleaned_data.get("description", ""))
        except ImportRefused as exc:
            raise ValidationError(str(exc)) from None
        self.instance = image_set
        self.save_m2m = lambda: None
        return image_set


class CreateThroughFormAdmin(admin.ModelAdmin):
    """Objects created by a business-logic form (import, registration), read-only once they exist.

    Subclasses set `add_form`, `add_fields`, `change_fields` and `change_readonly`; the form's save()
    has already written the object, so save_model only reports it (or saves an edit).
    """

    add_form = None
    add_fields: list[str] = []
    change_fields: list[str] = []
    change_readonly: list[str] = []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.change_readonly

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
        else:
            messages.success(request, self.created_message(obj))

    def created_message(self, obj) -> str:
        return f"Created {obj}."


@admin.register(ImageSet)
class ImageSetAdmin(CreateThroughFormAdmin):
    list_display = ["name", "annotation_format", "image_count", "created_at"]
    search_fields = ["name"]
    add_form = ImageSetImportForm
    add_fields = ["name", "description", "archive", "unannotated"]
    change_readonly = ["annotation_format", "image_count", "label_summary", "created_at"]
    change_fields = ["name", "description", *change_readonly]

    def created_message(self, obj) -> str:
        return f"Imported {obj.images.count()} images into {obj.name}."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        skipped = [] if change else form.plan.ignored
        if skipped:
            messages.warning(
                request,
                f"Skipped {len(skipped)} image{pluralize(len(skipped))} without an annotation: {listing(skipped)}",
            )

    @admin.display(description="images")
    def image_count(self, obj):
        return obj.images.count()

    @admin.display(description="labels")
    def label_summary(self, obj):
        counts: dict[str, int] = {}
        for labels in obj.images.values_list("labels", flat=True):
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{k} ({v})" for k, v in sorted(counts.items())) or "-"


@admin.register(ImageItem)
class ImageItemAdmin(admin.ModelAdmin):
    list_display = ["filename", "image_set", "labels", "width", "height", "thumbnail"]
    list_filter = ["image_set"]
    search_fields = ["filename", "sha256"]
    fields = readonly_fields = [
        "image_set",
        "filename",
        "file_link",
        "sha256",
        "width",
        "height",
        "labels",
        "boxes",
        "thumbnail",
    ]

    def has_add_permission(self, request):
        return False

    # Photographs are private media: staff see them through the staff-only view, in every mode.
    @admin.display(description="image")
    def thumbnail(self, obj):
        if not obj.file:
            return "-"
        return format_html(
            '<img src="{}" alt="" style="max-height:64px">', reverse("studies:image-file", args=[obj.pk])
        )

    @admin.display(description="file")
    def file_link(self, obj):
        if not obj.file:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("studies:image-file", args=[obj.pk]), obj.file.name)


# --- models -----------------------------------------------------------------------------------
class RegisterModelForm(forms.ModelForm):
    checkpoint_file = forms.FileField(
        required=False,
        label="Checkpoint",
        help_text="A state dict (torch.save(model.state_dict())). Read with weights_only=True: pickled code is refused.",
    )
    categories_file = forms.FileField(
        required=False,
        help_text="Class names in the order of the outputs: one per line, or a JSON list.",
    )
    categories_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Categories",
        help_text="Or type them here, one per line. Empty for torchvision weights: their categories are used.",
    )
    display = ClassifierModel._meta.get_field("display").formfield(required=False)

    class Meta:
        model = ClassifierModel
        fields = ["name", "arch", "weights_name", "target_layer", "display", "notes"]

    def _post_clean(self):
        # Model validation (unique name) first; then load and register, which writes the row.
        super()._post_clean()
        if self.errors:
            return
        cleaned = self.cleaned_data
        try:
            cats = []
            if cleaned.get("categories_file"):
                raw = cleaned["categories_file"].read(5 * 1024 * 1024)
                try:
                    cats = parse_categories(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise RegistrationRefused("the categories file is not UTF-8 text") from None
            elif cleaned.get("categories_text"):
                cats = parse_categories(cleaned["categories_text"])
            self.registered = register_model(
                cleaned["name"],
                cleaned["arch"],
                weights_name=cleaned.get("weights_name", ""),
                checkpoint=cleaned.get("checkpoint_file"),
                categories=cats or None,
                target_layer=cleaned.get("target_layer", ""),
                notes=cleaned.get("notes", ""),
                display=cleaned.get("display") or "standard",
            )
        except RegistrationRefused as exc:
            self.add_error(None, str(exc))

    def save(self, commit=True):
        self.instance = self.registered
        self.save_m2m = lambda: None
        return self.registered


@admin.register(ClassifierModel)
class ClassifierModelAdmin(CreateThroughFormAdmin):
    list_display = ["name", "arch", "weights_name", "num_classes", "target_layer", "short_sha"]
    search_fields = ["name", "arch"]
    add_form = RegisterModelForm
    add_fields = [
        "name",
        "arch",
        "weights_name",
        "checkpoint_file",
        "categories_file",
        "categories_text",
        "target_layer",
        "display",
        "notes",
    ]
    change_readonly = [
        "arch",
        "weights_name",
        "checkpoint",
        "target_layer",
        "weights_sha256",
        "input_size",
        "display",
        "category_list",
        "created_at",
    ]
    change_fields = ["name", "notes", "gpu_queue", *change_readonly]

    def created_message(self, obj) -> str:
        return (
            f"Registered {obj.name}: target layer {obj.target_layer}, "
            f"{len(obj.categories)} categories, sha256 {obj.weights_sha256[:12]}."
        )

    @admin.display(description="sha256")
    def short_sha(self, obj):
        return obj.weights_sha256[:12]

    @admin.display(description="categories")
    def category_list(self, obj):
        return format_html_join(", ", "{}", ((c,) for c in obj.categories)) or "-"


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "model", "top_labels", "created_at"]
    list_filter = ["model"]
    readonly_fields = ["model", "image", "weights_sha256", "top_labels", "top_scores", "created_at"]

    def has_add_permission(self, request):
        return False


# --- studies ----------------------------------------------------------------------------------
def _method_choices():
    try:
        return [(name, name) for name in configuration.known_methods()]
    except ImportError:  # the engine is not installed in this process
        return []


# A study's recruitment settings (studies/participants/recruitment.py), checked with its configuration.
RECRUITMENT_FIELDS = [
    "screened_out_code",
    "failed_checks_code",
    "no_consent_code",
    "timed_out_code",
    "failed_checks_for_code",
    "time_limit_minutes",
    "screeners",
    "external_id_protection",
    "mturk_environment",
]


def _language_choices():
    return list(i18n.language_names().items())


class StudyForm(forms.ModelForm):
    methods = forms.MultipleChoiceField(
        choices=_method_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The explanation methods compared (between subjects: one per participant; within: all, "
        "rotated by a Latin square).",
    )
    render_style = forms.ChoiceField(
        choices=[(s, s) for s in configuration.RENDER_STYLES],
        initial="auto",
        help_text="auto: masked photo for class discrimination (never the unmasked photograph), overlay for trust.",
    )
    min_visible_box_fraction = Study._meta.get_field("min_visible_box_fraction").formfield(required=False)
    colormap = Study._meta.get_field("colormap").formfield(required=False)
    # The recruitment settings may be left out of a post (they came later): left out, they keep the default.
    failed_checks_for_code = Study._meta.get_field("failed_checks_for_code").formfield(required=False)
    time_limit_minutes = Study._meta.get_field("time_limit_minutes").formfield(required=False)
    external_id_protection = Study._meta.get_field("external_id_protection").formfield(required=False)
    withdrawal_policy = Study._meta.get_field("withdrawal_policy").formfield(required=False)
    # Languages (studies/i18n.py); left out of a post, a study keeps English only.
    languages = forms.MultipleChoiceField(
        choices=_language_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The languages participants may choose among (none ticked: English).",
    )
    default_language = forms.ChoiceField(
        choices=_language_choices, required=False, help_text="The language of the texts above."
    )
    translations = Study._meta.get_field("translations").formfield(required=False)

    class Meta:
        model = Study
        fields = [
            "name",
            "slug",
            "kind",
            "methods",
            "control_arm",
            "design",
            "model",
            "stronger_model",
            "weaker_model",
            "image_set",
            "max_images",
            "render_style",
            "colormap",
            "min_visible_box_fraction",
            "trials_per_participant",
            "accept_fewer_trials",
            "target_participants_per_condition",
            "seed",
            "min_window_width",
            "min_window_height",
            "inactivity_timeout_minutes",
            "withdrawal_policy",
            "consent_text",
            "instructions_text",
            "debrief_text",
            "languages",
            "default_language",
            "translations",
            "completion_code",
            "completion_url",
            "attention_checks_per_participant",
            "max_failed_attention_checks",
            "min_median_rt_ms",
            *RECRUITMENT_FIELDS,
        ]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not Study.objects.get(pk=self.instance.pk).is_editable:
            raise ValidationError("A live or closed study cannot be edited: its configuration is frozen.")
        if self.errors:
            return cleaned
        if cleaned.get("min_visible_box_fraction") is None:  # left empty: keep the default (or current) rule
            cleaned["min_visible_box_fraction"] = self.instance.min_visible_box_fraction
        if not cleaned.get("colormap"):  # not posted: keep the default (or current) colormap
            cleaned["colormap"] = self.instance.colormap
        for name in ("failed_checks_for_code", "time_limit_minutes", "external_id_protection", "withdrawal_policy"):
            if cleaned.get(name) in (None, ""):
                cleaned[name] = getattr(self.instance, name)
        self._clean_languages(cleaned)
        if self.errors:
            return cleaned
        probe = Study(**{k: v for k, v in cleaned.items() if k in {f.name for f in Study._meta.fields}})
        probe.methods = list(cleaned.get("methods") or [])
        for model_field in ("model", "stronger_model", "weaker_model", "image_set"):
            setattr(probe, model_field, cleaned.get(model_field))
        kind = kind_of(probe.kind)
        settings = {}
        for key, (owner, setting) in KIND_SETTING_FIELDS.items():
            if owner is kind and cleaned.get(key) is not None:
                settings[setting.name] = cleaned[key]
        probe.kind_settings = self.instance.kind_settings = settings
        errors = configuration.study_config_errors(probe)
        if errors:
            raise ValidationError([ValidationError(e) for e in errors])
        self.eligible = configuration.eligible_image_count(probe)
        if self.eligible == 0:
            raise ValidationError(kind.no_image_error())
        return cleaned

    def _clean_languages(self, cleaned):
        languages = list(cleaned.get("languages") or ["en"])
        default = cleaned.get("default_language") or languages[0]
        translations = cleaned.get("translations") or {}
        screeners = cleaned.get("screeners") or []
        for field, problems in i18n.translation_errors(languages, default, translations, screeners).items():
            for problem in problems:
                self.add_error(field, problem)
        if isinstance(translations, dict) and not self.errors:
            translations = i18n.with_consent_fingerprints(translations, cleaned.get("consent_text") or "")
        cleaned.update(languages=languages, default_language=default, translations=translations)


class LiveStudyForm(forms.ModelForm):
    """A live study's form: its configuration is frozen, but a new consent text may be given (it
    becomes a new consent version; the old ones stay readable in the study's consent versions)."""

    class Meta:
        model = Study
        fields = ["consent_text"]

    def clean(self):
        cleaned = super().clean()
        if "consent_text" not in self.data:  # a post that leaves it out changes nothing
            cleaned["consent_text"] = self.instance.consent_text
        if Study.objects.filter(pk=self.instance.pk, status=StudyStatus.LIVE).count() != 1:
            raise ValidationError("Only a live study's consent text can be changed; this study is no longer live.")
        return cleaned


# A live study's fields that stay editable: a new text is a new version (Study.save).
LIVE_EDITABLE_FIELDS = ["consent_text"]


def _setting_field(kind, setting):
    label = f"{kind.label}: {setting.label}"
    if setting.type is bool:
        return forms.BooleanField(required=False, label=label, help_text=setting.help_text, initial=setting.default)
    if setting.choices:
        return forms.ChoiceField(
            required=False,
            label=label,
            help_text=setting.help_text,
            initial=setting.default,
            choices=[("", "---------"), *setting.choices],
        )
    if setting.type is str:
        return forms.CharField(required=False, label=label, help_text=setting.help_text, initial=setting.default)
    if setting.type in (list, dict):  # a declaration in JSON, checked by the kind's configuration errors
        return forms.JSONField(required=False, label=label, help_text=setting.help_text, initial=setting.default)
    field = forms.FloatField if setting.type is float else forms.IntegerField
    return field(
        required=False,
        label=label,
        help_text=setting.help_text,
        initial=setting.default,
        min_value=setting.minimum,
        max_value=setting.maximum,
    )


SETTINGS_FIELDSET = "Task settings (the chosen kind's only)"
# Every kind's own settings as form fields "<kind>__<setting>"; the chosen kind's are stored in
# Study.kind_settings.
KIND_SETTING_FIELDS = {f"{k.name}__{s.name}": (k, s) for k in KINDS.values() for s in k.settings}
for _key, (_kind, _setting) in KIND_SETTING_FIELDS.items():
    StudyForm.base_fields[_key] = StudyForm.declared_fields[_key] = _setting_field(_kind, _setting)


def _initial_settings(form):
    if form.instance.pk:
        stored = form.instance.kind_settings or {}
        for key, (kind, setting) in KIND_SETTING_FIELDS.items():
            if kind is KINDS.get(form.instance.kind) and setting.name in stored:
                form.initial.setdefault(key, stored[setting.name])


_study_form_init = StudyForm.__init__


def _init_with_settings(self, *args, **kwargs):
    _study_form_init(self, *args, **kwargs)
    self.stored_kind = (self.instance.kind, dict(self.instance.kind_settings or {}))
    _initial_settings(self)


def _changed_data(self):
    """The form's changed fields, with the kind's settings reported as the one field they are stored in."""
    names = [n for n in forms.ModelForm.changed_data.func(self) if n not in KIND_SETTING_FIELDS]
    cleaned = getattr(self, "cleaned_data", {})
    if (cleaned.get("kind"), self.instance.kind_settings or {}) != self.stored_kind and "kind" not in names:
        names.append("kind_settings")
    return names


StudyForm.__init__ = _init_with_settings
StudyForm.changed_data = property(_changed_data)


# Shown once a study exists, never editable: the lifecycle, not the configuration.
STUDY_STATE_FIELDS = [
    "status",
    "eligibility",
    "eligible_image_count",
    "surviving_image_count",
    "launched_at",
    "closed_at",
    "snapshot",
    "consent_versions",
]


# The audit action of each lifecycle button and admin action, by the message it ends with.
LIFECYCLE_ACTIONS = {
    "stimulus generation started": AuditAction.GENERATE,
    "launched": AuditAction.LAUNCH,
    "closed": AuditAction.CLOSE,
}


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyForm
    list_display = [
        "name",
        "slug",
        "kind",
        "status",
        "design",
        "method_list",
        "eligible_image_count",
        "surviving_image_count",
        "launched_at",
    ]
    list_filter = ["kind", "status", "design"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["generate_stimuli", "launch_studies", "close_studies", "discard_pilot_data"]
    change_form_template = "admin/studies/study/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "methods", "control_arm", "design"]}),
        (SETTINGS_FIELDSET, {"fields": list(KIND_SETTING_FIELDS)}),
        (
            "Models and images",
            {
                "fields": [
                    "model",
                    "stronger_model",
                    "weaker_model",
                    "image_set",
                    "max_images",
                    "render_style",
                    "colormap",
                    "min_visible_box_fraction",
                    "gpu_queue",
                ]
            },
        ),
        (
            "Participants",
            {
                "fields": [
                    "trials_per_participant",
                    "accept_fewer_trials",
                    "target_participants_per_condition",
                    "seed",
                    "min_window_width",
                    "min_window_height",
                    "inactivity_timeout_minutes",
                    "withdrawal_policy",
                ]
            },
        ),
        (
            "Texts",
            {
                "fields": [
                    "consent_text",
                    "instructions_text",
                    "debrief_text",
                    "languages",
                    "default_language",
                    "translations",
                    "completion_code",
                    "completion_url",
                ]
            },
        ),
        (
            "Attention checks and exclusions",
            {"fields": ["attention_checks_per_participant", "max_failed_attention_checks", "min_median_rt_ms"]},
        ),
        ("Recruitment (Prolific, MTurk)", {"fields": RECRUITMENT_FIELDS}),
        ("State", {"fields": STUDY_STATE_FIELDS}),
    ]
    state_fields = STUDY_STATE_FIELDS

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and obj.status == StudyStatus.LIVE:
            kwargs["form"] = LiveStudyForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets[:-1]
        if not obj.is_editable:  # frozen: the stored settings, not a form field per kind
            return [(n, {"fields": ["kind_settings"]}) if n == SETTINGS_FIELDSET else (n, o) for n, o in self.fieldsets]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            # A live or closed study's configuration is frozen: every field is read-only (but a live
            # study's consent text, which is versioned).
            editable = LIVE_EDITABLE_FIELDS if obj.status == StudyStatus.LIVE else []
            return [f for _, opts in self.get_fieldsets(request, obj) for f in opts["fields"] if f not in editable]
        return self.state_fields if obj is not None else []

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None and not obj.is_editable else self.prepopulated_fields

    @admin.display(description="methods")
    def method_list(self, obj):
        return ", ".join(obj.methods or [])

    @admin.display(description="eligible images")
    def eligibility(self, obj):
        n = configuration.eligible_image_count(obj)
        if n is None:
            return "-"
        return kind_of(obj).eligibility_text(obj, n) + configuration.crop_exclusion_text(obj)

    @admin.display(description="consent versions")
    def consent_versions(self, obj):
        """Every consent text the study has shown, read-only: participants record the number they accepted."""
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><div style='white-space:pre-wrap'>{}</div></td></tr>",
            (
                (v.number, f"{v.created_at:%Y-%m-%d %H:%M}", v.created_by or "-", v.text or "(the standard text)")
                for v in obj.consent_versions.order_by("-number")
            ),
        )
        if not rows:
            return "-"
        return format_html(
            "<table data-testid='consent-versions'><tr><th>version</th><th>made</th><th>by</th><th>text</th></tr>"
            "{}</table>",
            rows,
        )

    @admin.display(description="configuration frozen at launch")
    def snapshot(self, obj):
        if not obj.config_snapshot:
            return "-"
        import json

        return format_html(
            "<pre style='max-height:20em;overflow:auto'>{}</pre>",
            json.dumps(obj.config_snapshot, indent=2, sort_keys=True),
        )

    def save_model(self, request, obj, form, change):
        by = request.user.get_username()
        if change and not Study.objects.get(pk=obj.pk).is_editable:
            if isinstance(form, LiveStudyForm):
                obj.save(update_fields=["consent_text", "updated_at"], consent_by=by)
                audit.do_record_edit(request.user, obj, form.changed_data)
                if "consent_text" in form.changed_data:
                    messages.info(request, f"The consent text is now version {obj.consent_version}.")
                return
            messages.error(request, "A live or closed study cannot be edited.")
            return
        if change and configuration.mark_stale_if_changed(obj, form.changed_data):
            messages.warning(request, "The configuration changed: generate the stimuli again before launching.")
        obj.save(consent_by=by)
        audit.do_record_edit(request.user, obj, form.changed_data, created=not change)
        eligible = getattr(form, "eligible", None)
        if eligible is not None:
            messages.info(request, kind_of(obj).qualify_message(eligible) + configuration.crop_exclusion_text(obj))

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status in (StudyStatus.LIVE, StudyStatus.CLOSED):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        audit.do_record_deletion(request.user, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for study in queryset:
            audit.do_record_deletion(request.user, study)
        super().delete_queryset(request, queryset)

    # actions -----------------------------------------------------------------------------------
    def _run(self, request, studies, func, done_text, named=True):
        """Run an action; on a study's own page (`named=False`) the messages leave out its name, shown above."""
        for study in studies:
            try:
                func(study)
            except configuration.StudyError as exc:
                self.message_user(request, _message(study, str(exc), named), messages.ERROR)
            else:
                audit.do_record(request.user, LIFECYCLE_ACTIONS[done_text], f"{study.slug}: {done_text}", study=study)
                self.message_user(request, _message(study, done_text, named), messages.SUCCESS)

    @admin.action(description="Generate stimuli")
    def generate_stimuli(self, request, queryset):
        self._run(request, queryset, generation.do_start_generation, "stimulus generation started")

    @admin.action(description="Launch (freeze the configuration, open to participants)")
    def launch_studies(self, request, queryset):
        self._run(request, queryset, lifecycle.do_launch, "launched")

    @admin.action(description="Close (stop new participants, keep the data)")
    def close_studies(self, request, queryset):
        self._run(request, queryset, lifecycle.do_close, "closed")

    @admin.action(description="Discard pilot data (pilot participants and their answers)")
    def discard_pilot_data(self, request, queryset):
        if request.POST.get("confirm") == "yes":
            for study in queryset:
                self._discard_pilot_data(request, study)
            return None
        return self._confirm_discard(request, list(queryset), from_action=True)

    def _discard_pilot_data(self, request, study):
        counts = pilots.do_discard_pilot_data(study, by=request.user.get_username())
        audit.do_record_pilot_discard(request.user, study, counts)
        self.log_change(request, study, f"Discarded pilot data: {counts}.")
        self.message_user(request, f"Discarded {counts} of {study.name}.", messages.SUCCESS)

    def _confirm_discard(self, request, studies, from_action=False):
        context = {
            **self.admin_site.each_context(request),
            "title": "Discard pilot data?",
            "opts": self.model._meta,
            "studies": [(study, pilots.pilot_counts(study)) for study in studies],
            "from_action": from_action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/studies/study/discard_pilot.html", context)

    def preview_view(self, request, pk):
        """Open the study as a pilot participant, or say what is missing (the participant pages cannot)."""
        study = get_object_or_404(Study, pk=pk)
        if not self.has_view_permission(request, study):
            raise PermissionDenied
        reason = preview_refusal(study)
        if reason:
            self.message_user(request, reason, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:studies_study_change", args=[pk]))
        return HttpResponseRedirect(f"{reverse('studies:participant-start', args=[study.slug])}?pilot=1")

    def discard_pilot_view(self, request, pk):
        study = get_object_or_404(Study, pk=pk)
        if not self.has_change_permission(request, study):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            self._discard_pilot_data(request, study)
            return HttpResponseRedirect(reverse("admin:studies_study_change", args=[pk]))
        return self._confirm_discard(request, [study])

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        custom = [
            path(
                "<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="{}_{}_preview".format(*info)
            ),
            path(
                "<int:pk>/discard-pilot/",
                self.admin_site.admin_view(self.discard_pilot_view),
                name="{}_{}_discard_pilot".format(*info),
            ),
            path(
                "<int:pk>/generate/",
                self.admin_site.admin_view(self.generate_view),
                name="{}_{}_generate".format(*info),
            ),
            path("<int:pk>/launch/", self.admin_site.admin_view(self.launch_view), name="{}_{}_launch".format(*info)),
            path("<int:pk>/close/", self.admin_site.admin_view(self.close_view), name="{}_{}_close".format(*info)),
        ]
        return custom + super().get_urls()

    def _button_view(self, request, pk, func, done_text):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        study = get_object_or_404(Study, pk=pk)
        if not self.has_change_permission(request, study):
            raise PermissionDenied
        self._run(request, [study], func, done_text, named=False)
        return HttpResponseRedirect(reverse("admin:studies_study_change", args=[pk]))

    def generate_view(self, request, pk):
        force = request.POST.get("force") == "1"
        return self._button_view(
            request, pk, lambda s: generation.do_start_generation(s, force=force), "stimulus generation started"
        )

    def launch_view(self, request, pk):
        return self._button_view(request, pk, lifecycle.do_launch, "launched")

    def close_view(self, request, pk):
        return self._button_view(request, pk, lifecycle.do_close, "closed")

    def add_view(self, request, form_url="", extra_context=None):
        """The new-study form, offering the published protocols; `?preset=<name>` fills it from one."""
        extra_context = {**(extra_context or {}), "presets": presets_in_order()}
        name = request.GET.get("preset")
        if name:
            try:
                extra_context["preset"] = preset_named(name)
            except UnknownPreset as exc:
                return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        return super().add_view(request, form_url, extra_context)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.pop("preset", None)
        name = request.GET.get("preset")
        if name:
            initial.update(preset_named(name).form_initial())  # add_view refused an unknown name
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        study = Study.objects.filter(pk=object_id).first()
        if study is not None:
            links = [
                (label, _reverse_or_none(name, study_id=study.pk))
                for label, name in (
                    ("Live monitor", "studies:study-monitor"),
                    ("Results", "studies:study-results"),
                    ("Export responses (CSV)", "studies:export-responses"),
                    ("Export participants (CSV)", "studies:export-participants"),
                    ("Export stimuli (CSV)", "studies:export-stimuli"),
                )
            ]
            job = generation.latest_job(study)
            if not study.is_editable:
                # A live or closed study's configuration is frozen: nothing to save, but a live one's consent text.
                live = study.status == StudyStatus.LIVE
                extra_context.update(show_save=live, show_save_and_continue=False, show_save_and_add_another=False)
            extra_context.update(
                {
                    "study": study,
                    "study_links": [(label, url) for label, url in links if url],
                    "preview_url": reverse("admin:studies_study_preview", args=[study.pk]),
                    "preview_refusal": preview_refusal(study),
                    "progress_url": reverse("studies:generation-progress", kwargs={"study_id": study.pk}),
                    "progress": progress.study_progress(study),
                    "job": job,
                    "generate_url": reverse("admin:studies_study_generate", args=[study.pk]),
                    "launch_url": reverse("admin:studies_study_launch", args=[study.pk]),
                    "close_url": reverse("admin:studies_study_close", args=[study.pk]),
                    "discard_pilot_url": reverse("admin:studies_study_discard_pilot", args=[study.pk]),
                    "pilot_counts": pilots.pilot_counts(study),
                    "sample_stimuli": Stimulus.objects.filter(panels__trial__in=study.trials.all())
                    .distinct()
                    .select_related("image", "model")
                    .order_by("pk")[:12],
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)


def _message(study: Study, text: str, named: bool) -> str:
    """`Study: text` in a list of studies; `Text.` on the study's own page, whose title names it."""
    if named:
        return f"{study.name}: {text}"
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def preview_refusal(study: Study) -> str:
    """Why the study cannot be previewed as a pilot participant yet (empty when it can)."""
    if study.status == StudyStatus.CLOSED:
        return "A closed study cannot be previewed."
    if study.status == StudyStatus.GENERATING:
        return "The stimuli are being generated: preview the study when the job is done."
    if not generation.stimuli_complete(study):
        return "Generate the stimuli first: a pilot preview shows the study's trials with their stimuli."
    return ""


# --- stimuli and jobs -------------------------------------------------------------------------
@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "thumbnail",
        "method",
        "target_class",
        "model",
        "image",
        "render_style",
        "engine_version",
        "recipe_version",
        "provenance_link",
    ]
    list_filter = ["method", "model", "render_style", "engine_version", "recipe_version"]
    search_fields = ["content_key", "image__filename", "target_class"]
    readonly_fields = [f.name if f.name != "raw_map" else "raw_map_link" for f in Stimulus._meta.fields] + [
        "thumbnail",
        "provenance_link",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    @admin.display(description="stimulus")
    def thumbnail(self, obj):
        return format_html('<img src="{}" alt="" style="max-height:64px">', obj.png.url) if obj.png else "-"

    @admin.display(description="raw map")
    def raw_map_link(self, obj):
        if not obj.raw_map:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("studies:stimulus-raw-map", args=[obj.pk]), obj.raw_map.name)

    @admin.display(description="provenance")
    def provenance_link(self, obj):
        return format_html('<a href="{}">provenance</a>', reverse("studies:stimulus-detail", args=[obj.pk]))


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    """Read-only: participants are created by the participant flow; pilots are discarded from their study."""

    list_display = [
        "public_id",
        "study",
        "status",
        "is_pilot",
        "is_simulated",
        "condition",
        "progress",
        "consented_at",
        "completed_at",
    ]
    list_filter = ["study", "status", "is_pilot", "is_simulated"]
    search_fields = ["public_id"]
    search_help_text = "a participant's public id, or its Prolific or MTurk id (matched as the study stores it)"
    list_select_related = ["study"]
    actions = ["withdraw_participants"]
    # The token is the participant's credential and the external id is personal data: neither is shown.
    fields = readonly_fields = [
        "public_id",
        "study",
        "status",
        "is_pilot",
        "is_simulated",
        "external_source",
        "condition",
        "latin_square_row",
        "seed",
        "progress",
        "consented_at",
        "consent_version",
        "consent_text",
        "last_seen_at",
        "completed_at",
        "withdrawn_at",
        "comment",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="answered")
    def progress(self, obj):
        return f"{obj.answered_count} of {obj.trial_count}"

    @admin.display(description="consent text accepted")
    def consent_text(self, obj):
        if obj.consent_version is None:
            return "-"
        version = obj.study.consent_versions.filter(number=obj.consent_version).first()
        return (version.text or "(the standard text)") if version is not None else "-"

    def get_search_results(self, request, queryset, search_term):
        """A platform id is found through the key it is stored under (a keyed hash, or in clear)."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            stored = {external_id_for_storage(source, term) for source in EXTERNAL_PARAMS}
            found = found | queryset.filter(external_id__in=stored)
        return found, duplicates

    def has_withdraw_permission(self, request):
        return request.user.has_perm("studies.change_study")

    @admin.action(description="Withdraw (as each study's withdrawal policy says)", permissions=["withdraw"])
    def withdraw_participants(self, request, queryset):
        participants = list(queryset.select_related("study"))
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Withdraw these participants?",
                "opts": self.model._meta,
                "participants": participants,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/studies/participant/withdraw.html", context)
        done = [withdrawal.do_withdraw(p, actor=request.user, via=audit.VIA_ADMIN) for p in participants]
        changed = sum(w.done for w in done)
        self.message_user(
            request,
            f"Withdrew {changed} participant{pluralize(changed)}"
            + (f" ({len(done) - changed} had withdrawn already or never consented)." if changed < len(done) else "."),
            messages.SUCCESS,
        )
        return None


class GenerationFailureInline(admin.TabularInline):
    model = GenerationFailure
    extra = 0
    can_delete = False
    readonly_fields = ["image", "model", "method", "reason", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "study", "status", "total", "done", "failed", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["study", "status", "total", "done", "failed", "created_at", "started_at", "finished_at"]
    inlines = [GenerationFailureInline]

    def has_add_permission(self, request):
        return False
