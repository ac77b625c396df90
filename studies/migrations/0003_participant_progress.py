from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_progress(apps, schema_editor):
    """Fill the counters of existing participants from their assignments and responses."""
    Participant = apps.get_model("studies", "Participant")
    Assignment = apps.get_model("studies", "Assignment")
    Response = apps.get_model("studies", "Response")

    def count_of(queryset, participant_field: str):
        rows = queryset.filter(**{participant_field: OuterRef("pk")}).order_by().values(participant_field)
        return Coalesce(Subquery(rows.annotate(n=Count("id")).values("n")), 0)

    Participant.objects.update(
        trial_count=count_of(Assignment.objects, "participant"),
        answered_count=count_of(Response.objects, "assignment__participant"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0002_faithfulness_report"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="answered_count",
            field=models.PositiveIntegerField(default=0, help_text="trials answered so far"),
        ),
        migrations.AddField(
            model_name="participant",
            name="trial_count",
            field=models.PositiveIntegerField(default=0, help_text="trials in the participant's plan"),
        ),
        migrations.RunPython(count_progress, migrations.RunPython.noop),
    ]
