from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0012_recruitment_outcomes"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="holds_slot",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunSQL(
            "UPDATE studies_participant SET holds_slot = true WHERE id IN "
            "(SELECT participant_id FROM studies_conditionslot WHERE participant_id IS NOT NULL)",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="participant",
            index=models.Index(
                condition=models.Q(("holds_slot", True)),
                fields=["study", "is_pilot", "status", "last_seen_at"],
                name="slot_holders_activity",
            ),
        ),
    ]
