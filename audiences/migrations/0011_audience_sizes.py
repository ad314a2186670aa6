"""Pinterest's audience sizes as they were read over time."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audiences", "0010_segments")]

    operations = [
        migrations.CreateModel(
            name="AudienceSize",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("measured_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("size", models.BigIntegerField(blank=True, null=True)),
                ("pinterest_status", models.CharField(blank=True, max_length=20)),
                ("members", models.BigIntegerField(default=0)),
                ("audience", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                               related_name="sizes", to="audiences.audience")),
            ],
            options={
                "ordering": ["-measured_at", "-id"],
                "indexes": [models.Index(fields=["audience", "measured_at"], name="audiencesize_recent")],
            },
        ),
        # Alerts reach marketers as well as admins: the setting's words say so.
        migrations.AlterField(
            model_name="alertsettings",
            name="to_admins",
            field=models.BooleanField(
                default=True,
                help_text="Also email the workspace's admins and marketers (each may turn alerts off for themself)."),
        ),
    ]
