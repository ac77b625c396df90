"""The data model: classifiers, images, studies, stimuli, participants and their answers.

Business logic lives in plain functions elsewhere (kinds/, stimuli/, participants/, results/,
lifecycle.py); models hold data, constraints and tiny derived properties.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Max, Q

from .design import study_arms
from .kinds import DEFAULT_KIND, kind_choices, kind_of

# A recruitment platform's completion code: Prolific's are letters and digits.
COMPLETION_CODE = RegexValidator(
    r"^[A-Za-z0-9_-]{1,64}$", "a completion code: letters, digits, dash or underscore (e.g. C1A2B3C4)"
)

# A Celery queue name, as workers list them in CELERY_WORKER_QUEUES.
QUEUE_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "a queue name: letters, digits, dot, dash or underscore (e.g. gpu-a100)"
)


class ClassifierModel(models.Model):
    """A network researchers can explain: a torchvision architecture with weights, or a checkpoint."""

    name = models.CharField(max_length=100, unique=True)
    arch = models.CharField(max_length=100, help_text="torchvision architecture (e.g. vgg16) or a demo architecture")
    weights_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="torchvision weights name (DEFAULT, IMAGENET1K_V1); empty for a checkpoint",
    )
    checkpoint = models.FileField(upload_to="checkpoints/", blank=True)
    categories = models.JSONField(default=list, help_text="class names, in the order of the network's outputs")
    target_layer = models.CharField(max_length=200, blank=True, help_text="dotted module name; detected if empty")
    weights_sha256 = models.CharField(max_length=64, blank=True)
    input_size = models.PositiveIntegerField(null=True, blank=True)
    display = models.CharField(
        max_length=20,
        choices=[
            ("standard", "Resize and center-crop (the architecture's own transform)"),
            ("pad_square", "Pad to square (the whole photograph)"),
        ],
        default="standard",
        help_text="How photographs are shown to the network and to participants. Torchvision networks "
        "resize the shorter side to 256 px and center-crop 224 px, so the sides of a non-square photo are "
        "cut off; pad to square keeps the whole photograph.",
    )
    gpu_queue = models.CharField(
        max_length=64,
        blank=True,
        validators=[QUEUE_NAME],
        help_text="Celery queue whose workers run this model (e.g. gpu-a100 for a large one); empty: the study's",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def num_classes(self) -> int:
        return len(self.categories)


class ImageSet(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    annotation_format = models.CharField(max_length=20, blank=True, help_text="labels.csv or voc")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ImageItem(models.Model):
    """One labelled image. `boxes` is a list of {"label": str, "box": [x0, y0, x1, y1]} in pixels."""

    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="images")
    filename = models.CharField(max_length=255)
    file = models.ImageField(upload_to="images/", width_field="width", height_field="height")
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    labels = models.JSONField(default=list)
    boxes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["image_set", "filename"]
        constraints = [models.UniqueConstraint(fields=["image_set", "filename"], name="unique_filename_per_set")]

    def __str__(self):
        return f"{self.image_set.name}/{self.filename}"

    def boxes_for(self, label: str) -> list[list[float]]:
        return [b["box"] for b in self.boxes if b.get("label") == label]


class Prediction(models.Model):
    """A model's scores on an image, kept so that trust studies can keep images both models get right."""

    model = models.ForeignKey(ClassifierModel, on_delete=models.CASCADE, related_name="predictions")
    image = models.ForeignKey(ImageItem, on_delete=models.CASCADE, related_name="predictions")
    weights_sha256 = models.CharField(max_length=64)
    top_labels = models.JSONField(default=list, help_text="class names, best first (top 5)")
    top_scores = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "image", "weights_sha256"], name="one_prediction_per_weights")
        ]


class StudyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    GENERATING = "generating", "Generating stimuli"
    READY = "ready", "Ready"
    LIVE = "live", "Live"
    CLOSED = "closed", "Closed"


class Design(models.TextChoices):
    BETWEEN = "between", "Between subjects (one method per participant)"
    WITHIN = "within", "Within subjects (every method, Latin square)"


def default_languages() -> list[str]:
    return ["en"]


class Study(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=40, choices=kind_choices, default=DEFAULT_KIND)
    kind_settings = models.JSONField(
        default=dict, blank=True, help_text="the task kind's own settings (studies/kinds/), by name"
    )
    status = models.CharField(max_length=20, choices=StudyStatus.choices, default=StudyStatus.DRAFT, db_index=True)
    methods = models.JSONField(default=list, help_text="explain_engine method names compared in this study")
    control_arm = models.BooleanField(
        default=False,
        help_text="add a no-explanation arm (the photograph without a map) that the methods are compared with: "
        "their utility is their accuracy minus this arm's",
    )
    design = models.CharField(max_length=10, choices=Design.choices, default=Design.BETWEEN)
    gpu_queue = models.CharField(
        max_length=64,
        blank=True,
        validators=[QUEUE_NAME],
        help_text="Celery queue for this study's GPU work (e.g. gpu-a100); empty: the default gpu queue",
    )

    model = models.ForeignKey(
        ClassifierModel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="class discrimination: the network explained",
    )
    stronger_model = models.ForeignKey(
        ClassifierModel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="trust: the stronger network",
    )
    weaker_model = models.ForeignKey(
        ClassifierModel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="trust: the weaker network",
    )
    image_set = models.ForeignKey(ImageSet, null=True, blank=True, on_delete=models.PROTECT, related_name="studies")

    trials_per_participant = models.PositiveIntegerField(default=20, validators=[MinValueValidator(1)])
    target_participants_per_condition = models.PositiveIntegerField(default=10)
    seed = models.BigIntegerField(default=0)
    max_images = models.PositiveIntegerField(
        null=True, blank=True, help_text="use at most this many eligible images (chosen by the seed); empty: all"
    )
    render_style = models.CharField(
        max_length=20, default="auto", help_text="how CAM maps are drawn: auto, masked or overlay"
    )
    colormap = models.CharField(
        max_length=20,
        choices=[
            ("jet", "jet (the paper's)"),
            ("cividis", "cividis (colour-vision safe)"),
            ("viridis", "viridis (colour-vision safe)"),
        ],
        default="jet",
        help_text="colormap of heatmap overlays; cividis and viridis read the same for people with a colour "
        "vision deficiency, jet does not. Masked and gradient stimuli use no colormap.",
    )
    min_visible_box_fraction = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="photos are center-cropped: an image qualifies only if at least this share of its "
        "labelled object's box is inside the crop",
    )
    accept_fewer_trials = models.BooleanField(
        default=False,
        help_text="launch even if fewer images qualify than the trials per participant configured "
        "(participants then get fewer trials)",
    )

    # Languages (studies/i18n.py): the texts below are in default_language; others in translations.
    languages = models.JSONField(
        default=default_languages, blank=True, help_text="the languages participants may choose among"
    )
    default_language = models.CharField(max_length=10, default="en", help_text="the language a participant starts in")
    translations = models.JSONField(
        default=dict,
        blank=True,
        help_text='the study\'s texts in the other languages: {"ko": {"consent_text": "...", "instructions_text": '
        '"...", "debrief_text": "...", "class_names": {"cat": "고양이"}, "screeners": {"age": {"question": "...", '
        '"options": {"Yes": "예"}}}}}',
    )
    consent_text = models.TextField(
        blank=True,
        help_text="changing it (a live study too) makes a new consent version; participants record the one they saw",
    )
    # The number of the current ConsentVersion, kept on the study's row so that the consent page and
    # its POST read nothing more to know which version they show and record.
    consent_version = models.PositiveIntegerField(default=0, editable=False)
    withdrawal_policy = models.CharField(
        max_length=10,
        choices=[
            ("delete", "Delete the answers of a participant who withdraws"),
            ("exclude", "Keep them, excluded from the analysis and marked withdrawn"),
        ],
        default="delete",
        help_text="what withdrawing does to a participant's answers, as the ethics approval says",
    )
    instructions_text = models.TextField(blank=True)
    debrief_text = models.TextField(blank=True)
    completion_code = models.CharField(
        max_length=64,
        blank=True,
        validators=[COMPLETION_CODE],
        help_text="the code of a completed participation (on Prolific: the 'completed' code)",
    )
    completion_url = models.URLField(
        blank=True,
        help_text="redirect after the debrief for participants not from Prolific (Prolific participants "
        "go to Prolific's completion URL with their outcome's code)",
    )
    # Recruitment (studies/participants/recruitment.py): one code per outcome, given to Prolific.
    screened_out_code = models.CharField(
        max_length=64,
        blank=True,
        validators=[COMPLETION_CODE],
        help_text="Prolific code of a participant screened out by an eligibility question",
    )
    failed_checks_code = models.CharField(
        max_length=64,
        blank=True,
        validators=[COMPLETION_CODE],
        help_text="Prolific code of a participant who finished but failed the attention checks (see the rule below)",
    )
    no_consent_code = models.CharField(
        max_length=64, blank=True, validators=[COMPLETION_CODE], help_text="Prolific code of a participant who declined"
    )
    timed_out_code = models.CharField(
        max_length=64,
        blank=True,
        validators=[COMPLETION_CODE],
        help_text="Prolific code of a participant who ran past the time limit",
    )
    failed_checks_for_code = models.PositiveIntegerField(
        default=2,
        help_text="a participant who fails at least this many attention checks gets the failed-checks code "
        "(Prolific's policy allows rejecting a submission after two failed checks); 0: never",
    )
    time_limit_minutes = models.PositiveIntegerField(
        default=0,
        help_text="a participant who has not finished this long after consenting is timed out (0: no limit)",
    )
    screeners = models.JSONField(
        default=list,
        blank=True,
        help_text='eligibility questions asked before consent: a list of {"name": "...", "question": "...", '
        '"options": ["...", ...], "eligible": ["...", ...]}; an answer outside "eligible" screens out',
    )
    external_id_protection = models.CharField(
        max_length=10,
        choices=[
            ("hash", "Keyed hash only (recognised on return, never readable)"),
            ("encrypt", "Keyed hash and encrypted copy (staff can export the ids to approve, reject and pay)"),
        ],
        default="hash",
        help_text="how Prolific/MTurk ids are kept at rest; 'encrypt' needs EXTERNAL_ID_ENCRYPTION_KEYS",
    )
    mturk_environment = models.CharField(
        max_length=10,
        choices=[("", "Not on MTurk"), ("sandbox", "MTurk sandbox"), ("production", "MTurk production")],
        default="",
        blank=True,
        help_text="where the MTurk external question submits the assignment at the end",
    )

    attention_checks_per_participant = models.PositiveIntegerField(default=1)
    max_failed_attention_checks = models.PositiveIntegerField(
        default=0, help_text="exclude participants who fail more attention checks than this"
    )
    min_median_rt_ms = models.PositiveIntegerField(
        default=0, help_text="exclude participants whose median response time is below this (0: no rule)"
    )
    inactivity_timeout_minutes = models.PositiveIntegerField(
        default=30, help_text="a participant inactive this long no longer holds a condition slot"
    )
    min_window_width = models.PositiveIntegerField(default=0)
    min_window_height = models.PositiveIntegerField(default=0)

    eligible_image_count = models.PositiveIntegerField(null=True, blank=True)
    surviving_image_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="trust: images whose class both networks predict"
    )
    config_snapshot = models.JSONField(null=True, blank=True, help_text="the whole configuration, frozen at launch")
    launched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self):
        return self.name

    def save(self, *args, consent_by: str = "", **kwargs):
        """Save, and keep the consent text as a new version when it changed (`consent_by`: who changed it).

        Here rather than in the admin so that every way a study is made or edited (admin, presets,
        commands, tests' factories) versions its consent text alike."""
        update_fields = kwargs.get("update_fields")
        with transaction.atomic():
            super().save(*args, **kwargs)
            if update_fields is None or "consent_text" in update_fields:
                record_consent_version(self, by=consent_by)

    @property
    def is_editable(self) -> bool:
        return self.status not in (StudyStatus.LIVE, StudyStatus.CLOSED)

    @property
    def arms(self) -> list[str]:
        """The conditions participants are balanced over and the analysis compares: the methods, and
        the no-explanation control arm (design.NO_EXPLANATION) when the study has one."""
        return study_arms(self.methods, self.control_arm)

    def models_used(self) -> list[ClassifierModel]:
        return kind_of(self).models(self)


class ConsentVersion(models.Model):
    """One version of a study's consent text, kept for good: participants record the number they accepted."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="consent_versions")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True, help_text="empty: the platform's standard consent text")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, help_text="the account that changed the text")

    class Meta:
        ordering = ["study_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="one_consent_version_per_number")]

    def __str__(self):
        return f"consent version {self.number} of {self.study_id}"


def record_consent_version(study: Study, by: str = "") -> int:
    """Make the study's consent text its current version, adding a version when the text is new.
    Returns the current number (also set on `study`)."""
    with transaction.atomic():
        # Locking the study's row numbers two concurrent edits one after the other.
        current = Study.objects.select_for_update().filter(pk=study.pk).values_list("consent_version", flat=True).get()
        latest = ConsentVersion.objects.filter(study=study, number=current).values_list("text", flat=True).first()
        if current and latest == study.consent_text:
            study.consent_version = current
            return current
        highest = ConsentVersion.objects.filter(study=study).aggregate(n=Max("number"))["n"] or 0
        ConsentVersion.objects.create(study=study, number=highest + 1, text=study.consent_text, created_by=by[:150])
        Study.objects.filter(pk=study.pk).update(consent_version=highest + 1)
        study.consent_version = highest + 1
        return highest + 1


class Stimulus(models.Model):
    """One rendered explanation. The content key hashes every input and version, so generation is idempotent."""

    content_key = models.CharField(max_length=64, unique=True)
    image = models.ForeignKey(ImageItem, on_delete=models.PROTECT, related_name="stimuli")
    model = models.ForeignKey(ClassifierModel, on_delete=models.PROTECT, related_name="stimuli")
    method = models.CharField(max_length=40)
    target_class = models.CharField(max_length=200)
    target_index = models.PositiveIntegerField()
    target_layer = models.CharField(max_length=200)
    weights_sha256 = models.CharField(max_length=64)
    engine_version = models.CharField(max_length=40)
    recipe_version = models.CharField(max_length=40)
    render_style = models.CharField(max_length=20, default="auto")
    png = models.FileField(upload_to="stimuli/")
    raw_map = models.FileField(upload_to="maps/", blank=True)
    score = models.FloatField(null=True, blank=True, help_text="the target's logit")
    provenance = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "stimuli"
        indexes = [models.Index(fields=["image", "model", "method", "target_class"])]

    def __str__(self):
        return f"{self.method} {self.target_class} on {self.image_id} by {self.model_id}"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class GenerationJob(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="generation_jobs")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    warning = models.TextField(blank=True, help_text="what the researcher should know about the result")
    # Set when a stalled job was planned again (its chunks were lost); see studies/stimuli/stalled.py.
    replanned_at = models.DateTimeField(null=True, blank=True)
    replans = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        when = self.created_at.strftime("%Y-%m-%d %H:%M") if self.created_at else "not saved"
        return f"generation #{self.pk} of {self.study} ({self.get_status_display().lower()}, {when})"


class GenerationFailure(models.Model):
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="failures")
    image = models.ForeignKey(ImageItem, null=True, blank=True, on_delete=models.SET_NULL)
    model = models.ForeignKey(ClassifierModel, null=True, blank=True, on_delete=models.SET_NULL)
    method = models.CharField(max_length=40, blank=True)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)


class TrialKind(models.TextChoices):
    MAIN = "main", "Main"
    ATTENTION = "attention", "Attention check"
    PRACTICE = "practice", "Practice"


class CurrentTrials(models.Manager):
    """The trials of the current banks. Retired trials stay for the answers that point to them, but
    nothing that builds plans, links stimuli or counts cells may see them, so this is the default."""

    def get_queryset(self):
        return super().get_queryset().filter(retired_at__isnull=True)


class Trial(models.Model):
    """One entry of a study's trial bank: which image, class and method, and the panels it shows
    (TrialPanel rows, in the order the study's kind lists them; studies/kinds/).

    A trial that a participant was assigned never changes: when the bank changes, it is retired
    (`retired_at`) and a new trial takes its index, so recorded answers keep what they showed.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=TrialKind.choices, default=TrialKind.MAIN)
    image = models.ForeignKey(ImageItem, on_delete=models.PROTECT, related_name="trials")
    method = models.CharField(max_length=40)
    target_class = models.CharField(max_length=200)
    options = models.JSONField(default=list)
    payload = models.JSONField(default=dict, blank=True, help_text="kind-specific extras (attention-check text)")
    retired_at = models.DateTimeField(null=True, blank=True, help_text="replaced by a new bank; kept for its answers")

    all_versions = models.Manager()
    objects = CurrentTrials()

    class Meta:
        ordering = ["study_id", "index"]
        default_manager_name = "objects"
        base_manager_name = "all_versions"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "index"], condition=Q(retired_at__isnull=True), name="unique_current_trial_index"
            )
        ]

    def __str__(self):
        return f"{self.study.slug}#{self.index} {self.kind} {self.method} {self.target_class}"


class TrialPanel(models.Model):
    """One stimulus a trial shows, at its place (`slot`) in the kind's list; empty until generated."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="panels")
    slot = models.PositiveSmallIntegerField()
    stimulus = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="panels")

    class Meta:
        ordering = ["trial_id", "slot"]
        constraints = [models.UniqueConstraint(fields=["trial", "slot"], name="one_panel_per_trial_slot")]

    def __str__(self):
        return f"panel {self.slot} of trial {self.trial_id}"


class ParticipantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned"
    SCREENED_OUT = "screened_out", "Screened out"
    DECLINED = "declined", "Declined consent"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Outcome(models.TextChoices):
    """How a participation ended, as the recruitment platform is told (one code each)."""

    COMPLETED = "completed", "Completed"
    SCREENED_OUT = "screened_out", "Screened out"
    FAILED_CHECKS = "failed_checks", "Failed attention checks"
    NO_CONSENT = "no_consent", "No consent"
    TIMED_OUT = "timed_out", "Timed out"


def new_participant_token() -> str:
    return secrets.token_urlsafe(24)


class Participant(models.Model):
    """A pseudonymous participant. No IP address is ever stored."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token = models.CharField(max_length=64, default=new_participant_token, unique=True, editable=False)
    external_source = models.CharField(max_length=20, blank=True, help_text="prolific, mturk or empty")
    external_id = models.CharField(max_length=255, blank=True, help_text="PROLIFIC_PID or workerId (maybe hashed)")
    external_id_encrypted = models.TextField(
        blank=True, help_text="the id encrypted with EXTERNAL_ID_ENCRYPTION_KEYS, when the study keeps it so"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, help_text="empty while under way")
    language = models.CharField(max_length=10, blank=True, help_text="the language of the consent page accepted")
    external_meta = models.JSONField(default=dict, blank=True)
    condition = models.CharField(max_length=100, blank=True)
    latin_square_row = models.PositiveIntegerField(null=True, blank=True)
    seed = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=ParticipantStatus.choices, default=ParticipantStatus.ACTIVE)
    is_pilot = models.BooleanField(default=False)
    is_simulated = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    questionnaire = models.JSONField(default=dict, blank=True)
    # When the participation began: consent, or the decision of a person screened out or declining.
    consented_at = models.DateTimeField(auto_now_add=True)
    consent_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="the study's consent version accepted (none: did not consent)"
    )
    last_seen_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Progress counters kept beside the rows they count, so that a trial page or an answer finds the
    # current trial by its position (an index lookup) instead of joining every response. Answers are
    # recorded in order, so the current trial is at position `answered_count`.
    trial_count = models.PositiveIntegerField(default=0, help_text="trials in the participant's plan")
    answered_count = models.PositiveIntegerField(default=0, help_text="trials answered so far")
    # True from consent until the participant's condition slot is freed: the dropouts still holding
    # one are then found among the few who hold a slot, not among every dropout the study ever had.
    holds_slot = models.BooleanField(default=False, editable=False)

    class Meta:
        # By the key column: ordering by "study" would join the study table to sort by its own
        # ordering, on every lookup of a participant (the hot path of every participant page).
        ordering = ["study_id", "consented_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "external_source", "external_id"],
                condition=~Q(external_id=""),
                name="one_participation_per_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["study", "condition", "status"]),
            # Consent looks up who dropped out (studies/participants/flow.py: dropped_filter).
            models.Index(fields=["study", "status", "last_seen_at"], name="participant_activity"),
            # Consent frees the slots of dropouts (flow.release_dropped_slots): only holders are indexed.
            models.Index(
                fields=["study", "is_pilot", "status", "last_seen_at"],
                condition=Q(holds_slot=True),
                name="slot_holders_activity",
            ),
        ]

    def __str__(self):
        return str(self.public_id)


class Assignment(models.Model):
    """The trial a participant sees at a position, with its randomized presentation."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="assignments")
    position = models.PositiveIntegerField()
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="assignments")
    option_order = models.JSONField(default=list)
    presentation = models.JSONField(
        default=dict, blank=True, help_text="the kind's per-participant presentation (e.g. trust: swapped sides)"
    )
    is_attention_check = models.BooleanField(default=False)
    shown_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "position"], name="unique_position_per_participant")
        ]


class ConditionSlot(models.Model):
    """A place in one arm of a study (a method, or a Latin-square row), for one participant at a time.

    An arm's places are ranked 0, 1, 2, ...; consent claims the free place of lowest rank (ties to
    the earlier arm) with SKIP LOCKED, so concurrent consents take different places without a
    study-wide lock and the arms fill one rank at a time. A place is free when nobody holds it, or
    once its participant dropped out (released at the next consent).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="condition_slots")
    is_pilot = models.BooleanField(default=False)
    arm = models.CharField(max_length=100, help_text="the condition, or the Latin-square row as text")
    arm_order = models.PositiveIntegerField(help_text="the arm's position among the study's arms")
    rank = models.PositiveIntegerField()
    participant = models.OneToOneField(
        Participant, null=True, blank=True, on_delete=models.SET_NULL, related_name="condition_slot"
    )

    class Meta:
        ordering = ["study_id", "is_pilot", "rank", "arm_order"]
        constraints = [
            models.UniqueConstraint(fields=["study", "is_pilot", "arm", "rank"], name="one_slot_per_arm_and_rank")
        ]
        indexes = [
            models.Index(
                fields=["study", "is_pilot", "rank", "arm_order"],
                condition=Q(participant=None),
                name="free_condition_slots",
            )
        ]


class Response(models.Model):
    """Exactly one answer per assignment; the idempotency key makes retries harmless.

    `answer` is what the participant gave, validated by the study's kind; `correct`, `score` and
    `confidence` are its scoring, typed so that SQL and the statistics read them (their meaning per
    kind is in docs/codebook.md)."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="response")
    idempotency_key = models.UUIDField(unique=True)
    answer = models.JSONField(default=dict)
    correct = models.BooleanField(null=True)
    score = models.FloatField(null=True, blank=True)
    confidence = models.SmallIntegerField(null=True, blank=True)
    rt_ms = models.PositiveIntegerField(null=True, blank=True, help_text="client time from stimulus drawn to answer")
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assignment_id"]


class ComputedOnWorker(models.Model):
    """What a result computed on a GPU worker records: its state, inputs, outputs and the reason it failed."""

    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING)
    parameters = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class FaithfulnessReport(ComputedOnWorker):
    """The paper's automatic evaluations of a study's methods, computed on a GPU worker."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="faithfulness_reports")

    class Meta(ComputedOnWorker.Meta):
        pass

    def __str__(self):
        return f"faithfulness of {self.study_id} ({self.status})"


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    EDIT = "edit", "Edit"
    GENERATE = "generate", "Generate stimuli"
    LAUNCH = "launch", "Launch"
    CLOSE = "close", "Close"
    EXPORT = "export", "Export"
    DELETE = "delete", "Delete"
    DISCARD_PILOT = "discard_pilot", "Discard pilot data"
    PURGE_PERSONAL_DATA = "purge_personal_data", "Purge personal data"
    WITHDRAW = "withdraw", "Withdrawal"


class AuditEntry(models.Model):
    """One staff action on a study or its participants: who, when, what. Written once, never changed.

    The study's slug and the actor's name are copied, so that an entry still says what it was about
    after the study or the account is deleted.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    actor_name = models.CharField(max_length=200, help_text="account name, or the command and system user")
    via = models.CharField(max_length=20, help_text="admin, staff page, api or command")
    action = models.CharField(max_length=30, choices=AuditAction.choices, db_index=True)
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries")
    study_slug = models.CharField(max_length=60, blank=True, db_index=True)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit log"

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name}: {self.summary}"


class ApiToken(models.Model):
    """A researcher's read-only key to the JSON API. Only its sha256 is stored; revoking is final."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="what the token is for, e.g. 'analysis notebook'")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="the first characters, to recognise it")
    studies = models.ManyToManyField(
        Study, blank=True, related_name="+", help_text="the studies it may read; none chosen: every study"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…, {self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AnalysisKind(models.TextChoices):
    DISSECTION = "dissection", "Dissection (concept names of a layer's channels)"
    TEXTUAL = "textual", "Textual explanations"
    FAILURES = "failures", "Failure modes"
    BIAS = "bias", "Bias summary"


class ModelAnalysis(ComputedOnWorker):
    """A computed view of a model on an image set (studies/tools/analyses.py), cached by its content key:
    the hash of every input (weights, layer, the image set's images and annotations, parameters and
    versions), so a repeated request is served from the row and a changed input makes a new one."""

    kind = models.CharField(max_length=20, choices=AnalysisKind.choices)
    model = models.ForeignKey(ClassifierModel, on_delete=models.CASCADE, related_name="analyses")
    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="analyses")
    layer = models.CharField(max_length=200, blank=True)
    content_key = models.CharField(max_length=64, unique=True)
    provenance = models.JSONField(default=dict, blank=True)

    class Meta(ComputedOnWorker.Meta):
        pass

    def __str__(self):
        return f"{self.kind} of {self.model_id} on {self.image_set_id} ({self.status})"
