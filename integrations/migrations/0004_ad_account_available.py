from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_repair_workspace_slugs"),
    ]

    operations = [
        migrations.AddField(
            model_name="adaccount",
            name="available",
            field=models.BooleanField(default=True, help_text="The connected Pinterest user can see this ad account."),
        ),
    ]
