"""Segments kept in step by snapshots, and their SQL sources."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audiences", "0009_import_jobs"), ("integrations", "0006_workspace_require_mfa")]

    operations = [
        migrations.AlterField(
            model_name='incident',
            name='kind',
            field=models.CharField(choices=[('connection_invalid', 'Pinterest connection invalid'), ('ad_account_unavailable', 'Ad account unavailable'), ('step_errored', 'Step errored users over the threshold'), ('audience_deleted', 'Audience deleted on Pinterest'), ('source_failed', "A segment's SQL source failed"), ('snapshot_waiting', 'A segment snapshot waits for confirmation')], max_length=30),
        ),
        migrations.CreateModel(
            name='Segment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(blank=True, max_length=200)),
                ('max_removal_percent', models.PositiveSmallIntegerField(default=50, help_text='A snapshot removing more than this share of the members waits for confirmation.')),
                ('members', models.BigIntegerField(default=0)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('step', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='segment', to='audiences.step')),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='integrations.workspace')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='Snapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('state', models.CharField(choices=[('open', 'Open (receiving members)'), ('committing', 'Being applied'), ('waiting', 'Waiting for confirmation'), ('committed', 'Committed'), ('discarded', 'Discarded')], default='open', max_length=12)),
                ('source', models.CharField(choices=[('api', 'API'), ('file', 'Uploaded file'), ('command', 'Command'), ('sql', 'SQL source run')], max_length=10)),
                ('actor', models.CharField(blank=True, help_text='Who or what opened it.', max_length=200)),
                ('committed_by', models.CharField(blank=True, max_length=200)),
                ('opened_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('rows', models.BigIntegerField(default=0, help_text='Member rows received (a repeated member counts again).')),
                ('members', models.BigIntegerField(default=0)),
                ('added', models.BigIntegerField(default=0)),
                ('removed', models.BigIntegerField(default=0)),
                ('changed', models.BigIntegerField(default=0, help_text='Members whose identifiers changed: sent again.')),
                ('refused', models.BigIntegerField(default=0)),
                ('applied_adds_after', models.CharField(blank=True, max_length=255)),
                ('applied_removes_after', models.CharField(blank=True, max_length=255)),
                ('adds_done', models.BooleanField(default=False)),
                ('note', models.TextField(blank=True)),
                ('segment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='snapshots', to='audiences.segment')),
            ],
            options={
                'ordering': ['-opened_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='segment',
            name='current_snapshot',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='audiences.snapshot'),
        ),
        migrations.CreateModel(
            name='SnapshotMember',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('external_id', models.CharField(max_length=255)),
                ('email_hash', models.CharField(blank=True, max_length=64)),
                ('idfa_hash', models.CharField(blank=True, max_length=64)),
                ('maid_hash', models.CharField(blank=True, max_length=64)),
                ('snapshot', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='audiences.snapshot')),
            ],
        ),
        migrations.CreateModel(
            name='SnapshotPage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=200)),
                ('fingerprint', models.CharField(max_length=64)),
                ('response', models.JSONField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('snapshot', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='audiences.snapshot')),
            ],
        ),
        migrations.CreateModel(
            name='SqlSource',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url_encrypted', models.TextField()),
                ('url_display', models.CharField(help_text='Scheme, host, port and database: no user or password.', max_length=300)),
                ('query', models.TextField()),
                ('every_minutes', models.PositiveIntegerField(blank=True, help_text='Empty: run only by hand.', null=True)),
                ('enabled', models.BooleanField(default=True)),
                ('next_run_at', models.DateTimeField(blank=True, null=True)),
                ('last_run_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True, help_text="The last run's error; empty once a run succeeds.")),
                ('created_by', models.CharField(blank=True, max_length=200)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('segment', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='source', to='audiences.segment')),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='integrations.workspace')),
            ],
        ),
        migrations.CreateModel(
            name='SourceRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('waiting', 'Waiting for confirmation'), ('failed', 'Failed: nothing changed')], default='running', max_length=10)),
                ('trigger', models.CharField(blank=True, help_text='Schedule, or who ran it.', max_length=200)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('rows', models.BigIntegerField(default=0)),
                ('added', models.BigIntegerField(default=0)),
                ('removed', models.BigIntegerField(default=0)),
                ('refused', models.BigIntegerField(default=0)),
                ('duration_ms', models.PositiveIntegerField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('snapshot', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='audiences.snapshot')),
                ('source', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='audiences.sqlsource')),
            ],
            options={
                'ordering': ['-started_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='snapshot',
            index=models.Index(fields=['segment', 'state'], name='snapshot_segment_state'),
        ),
        migrations.AddConstraint(
            model_name='snapshotmember',
            constraint=models.UniqueConstraint(fields=('snapshot', 'external_id'), name='unique_snapshot_member'),
        ),
        migrations.AddConstraint(
            model_name='snapshotpage',
            constraint=models.UniqueConstraint(fields=('snapshot', 'key'), name='unique_snapshot_page_key'),
        ),
        migrations.AddIndex(
            model_name='sqlsource',
            index=models.Index(fields=['enabled', 'next_run_at'], name='sqlsource_due'),
        ),
        migrations.AddIndex(
            model_name='sourcerun',
            index=models.Index(fields=['source', '-id'], name='sourcerun_source_recent'),
        ),
    ]
