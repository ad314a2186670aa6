"""Each member may turn alert emails off for themself."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0006_workspace_require_mfa")]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="alerts_off",
            field=models.BooleanField(default=False, help_text="This member receives no alert emails."),
        ),
    ]
