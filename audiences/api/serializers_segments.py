"""Input and output shapes of segments and their snapshots."""

from __future__ import annotations

from rest_framework import serializers

from audiences import services
from audiences.api.serializers import StrictCharField, StrictInputSerializer, StrictIntegerField
from audiences.api.serializers_trust import StrictBooleanField
from audiences.api.serializers_sync import EntryUserField
from audiences.models import Snapshot
from audiences.services.segments import MAX_PAGE


class SegmentCreateSerializer(StrictInputSerializer):
    step = StrictIntegerField(min_value=1, help_text="An Audience Sync step (adding users) of the workspace.")
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    max_removal_percent = StrictIntegerField(
        min_value=0, max_value=100, required=False, default=50,
        help_text="A snapshot that would remove more than this share of the members waits for confirmation.")


class SnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    segment = serializers.IntegerField(source="segment_id")
    state = serializers.ChoiceField(choices=Snapshot.State.choices, help_text=(
        "`open`: receiving members; `waiting`: it would remove more than the segment's share, commit again with "
        "`confirm` (or discard it); `committing`: being applied; `committed`; `discarded`: nothing was sent."))
    source = serializers.ChoiceField(choices=Snapshot.Source.choices)
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    rows = serializers.IntegerField(help_text="Member rows received so far (a member sent twice counts twice).")
    members = serializers.IntegerField(help_text="Members of the snapshot, counted when it is committed.")
    added = serializers.IntegerField(help_text="Members who were not in the segment: sent as adds.")
    changed = serializers.IntegerField(help_text="Members whose identifiers changed: their new ones are added.")
    removed = serializers.IntegerField(help_text="Members of the segment missing from this snapshot: removed.")
    refused = serializers.IntegerField(help_text="Rows refused (SQL source runs only; an API page is all or nothing).")
    note = serializers.CharField(allow_blank=True, help_text="Why the snapshot waits, or why it was discarded unasked.")


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    step = serializers.IntegerField(source="step_id")
    name = serializers.CharField(allow_blank=True)
    max_removal_percent = serializers.IntegerField()
    members = serializers.IntegerField(help_text="Members of the last committed snapshot.")
    current_snapshot = serializers.IntegerField(source="current_snapshot_id", allow_null=True)
    created_at = serializers.DateTimeField()


class MembersSerializer(StrictInputSerializer):
    members = serializers.ListField(
        child=EntryUserField(), min_length=1, max_length=MAX_PAGE,
        help_text=f"1 to {MAX_PAGE:,} members, checked like entries: one bad row refuses the page. A member sent "
        "again in a later page keeps the identifiers sent last.")

    def validate(self, attrs):
        try:
            checked = services.users_fold(attrs["members"])
        except services.EntryRejected as exc:
            message = (f"Same external_id as members[{exc.other_row}], with other identifiers: send one row "
                       "per member.")
            raise serializers.ValidationError({"members": {exc.row: {exc.field: [message]}}}) from None
        return {"members": checked.users}


class PageResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Members in this page (repeated rows folded).")
    duplicates_folded = serializers.IntegerField()


class CommitSerializer(StrictInputSerializer):
    confirm = StrictBooleanField(
        required=False, default=False,
        help_text="Apply the snapshot even if it removes more than the segment's share (needs a `full` key).")
