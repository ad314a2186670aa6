from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0005_roles_and_key_scopes"),
    ]

    operations = [
        migrations.AddField(
            model_name="workspace",
            name="require_mfa",
            field=models.BooleanField(
                default=False,
                help_text="Every member must sign in with a code from an authenticator app after their password.",
                verbose_name="require two-factor authentication",
            ),
        ),
    ]
