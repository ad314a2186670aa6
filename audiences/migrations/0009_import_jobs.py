"""Uploaded files imported as jobs."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0008_history_indexes"),
        ("integrations", "0006_workspace_require_mfa"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ImportJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('entries', 'Users entering a canvas'), ('suppress', 'Added to the suppression list'), ('unsuppress', 'Taken off the suppression list'), ('segment', 'The whole segment (a snapshot)')], max_length=12)),
                ('segment_id', models.BigIntegerField(blank=True, null=True)),
                ('stored_name', models.CharField(blank=True, max_length=200)),
                ('file_name', models.CharField(max_length=200)),
                ('size', models.BigIntegerField(default=0)),
                ('fingerprint', models.CharField(max_length=64)),
                ('actor', models.CharField(blank=True, max_length=150)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('state', models.CharField(choices=[('confirm', 'Waiting for confirmation (the same file was imported within a day)'), ('queued', 'Queued'), ('checking', 'Checking every row'), ('entering', 'Entering'), ('done', 'Done'), ('refused', 'Refused (bad rows: nothing was entered)'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=10)),
                ('rows_read', models.BigIntegerField(default=0)),
                ('rows_entered', models.BigIntegerField(default=0)),
                ('rows_refused', models.BigIntegerField(default=0)),
                ('checkpoint', models.BigIntegerField(default=0)),
                ('errors', models.JSONField(blank=True, default=list)),
                ('result', models.JSONField(blank=True, default=dict)),
                ('message', models.TextField(blank=True)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('canvas', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='imports', to='audiences.canvas')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='integrations.workspace')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['workspace', '-created_at'], name='importjob_workspace_recent'), models.Index(fields=['canvas', '-created_at'], name='importjob_canvas_recent'), models.Index(fields=['state'], name='importjob_state')],
            },
        ),
    ]
