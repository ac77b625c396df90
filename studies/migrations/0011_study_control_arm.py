from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0010_task_kinds"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="control_arm",
            field=models.BooleanField(
                default=False,
                help_text="add a no-explanation arm (the photograph without a map) that the methods are compared "
                "with: their utility is their accuracy minus this arm's",
            ),
        ),
    ]
