"""Serializers of the trust and privacy API: the audit log, the suppression list, erasures, previews, alerts."""

from __future__ import annotations

import copy

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audiences import services
from audiences.api.serializers import StrictCharField, StrictInputSerializer, StrictIntegerField
from audiences.api.serializers_sync import ENTRY_USER_SCHEMA, EntryUserField
from audiences.models import AuditEvent, PrivacyRequest
from audiences.services.preview import SAMPLE_MAX
from audiences.services.suppression import MAX_ENTRIES


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false, and only that (DRF's BooleanField also takes 1, "yes" and "on")."""

    def to_internal_value(self, data):
        if type(data) is not bool:
            self.fail("invalid", input=data)
        return data


# What an action recorded beside it (counts, ids, names: never an identifier); named, so clients get a type.
AUDIT_DETAILS_SCHEMA = {"type": "object", "additionalProperties": True, "x-component": "AuditDetails"}


@extend_schema_field(AUDIT_DETAILS_SCHEMA)
class AuditDetailsField(serializers.DictField):
    pass


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    action = serializers.CharField(help_text="What was done, e.g. canvas.launch, step.update, user.erase, "
                                   "suppression.add, api_key.create, connection.connect.")
    # Plain strings, not enums: the values may grow (add, never rename), and they are names, not codes to branch on.
    source = serializers.CharField(help_text="From where it was done: " + ", ".join(AuditEvent.Source.values) + ".")
    actor = serializers.CharField(allow_blank=True, help_text="The user, the API key's prefix, or the command.")
    ip = serializers.IPAddressField(allow_null=True)
    target = serializers.CharField(allow_blank=True)
    details = AuditDetailsField()


SUPPRESSION_ENTRY_SCHEMA = copy.deepcopy(ENTRY_USER_SCHEMA)
SUPPRESSION_ENTRY_SCHEMA.pop("required")
SUPPRESSION_ENTRY_SCHEMA["minProperties"] = 1
# Unlike a user of an entry, an entry here may leave its external id out (null or absent), as the service takes it.
SUPPRESSION_ENTRY_SCHEMA["properties"]["external_id"]["nullable"] = True
SUPPRESSION_ENTRY_SCHEMA["properties"]["external_id"]["description"] = (
    "Your id for the user. An entry is any of external_id, email, ios_idfa, android_aid, checked like a user of "
    "an entry; only SHA-256 hashes are stored."
)


@extend_schema_field(SUPPRESSION_ENTRY_SCHEMA)
class SuppressionEntryField(serializers.Field):
    def to_internal_value(self, data):
        try:
            services.suppression_entry_validate(data)
        except services.EntryRejected as exc:
            message = exc.message[:1].upper() + exc.message[1:].rstrip(".") + "."
            raise serializers.ValidationError({exc.field: [message]} if exc.field else message) from None
        return data

    def to_representation(self, value):  # pragma: no cover - input only
        return value


class SuppressionInputSerializer(StrictInputSerializer):
    entries = serializers.ListField(child=SuppressionEntryField(), min_length=1, max_length=MAX_ENTRIES,
                                    help_text=f"1 to {MAX_ENTRIES:,} entries; accepted or refused whole.")


class SuppressionResultSerializer(serializers.Serializer):
    listed = serializers.IntegerField(help_text="Identifiers new on the list.")
    already_listed = serializers.IntegerField()
    removals_started = serializers.IntegerField(
        help_text="Users the ledger holds in an audience (or waiting to be added): each is being removed.")


class SuppressionRemovedSerializer(serializers.Serializer):
    unlisted = serializers.IntegerField(help_text="Identifiers taken off the list.")


class SuppressionCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Identifiers on the workspace's suppression list.")


class RemovedCountsSerializer(serializers.Serializer):
    pending_dropped = serializers.IntegerField(help_text="Waiting sends of the user that were dropped.")
    audiences = serializers.IntegerField(help_text="Audiences the user was removed from at Pinterest.")
    identifiers_removed = serializers.IntegerField(help_text="Identifier hashes removed at Pinterest.")
    sync_records_deleted = serializers.IntegerField(required=False, help_text="Erasures, once done.")
    delay_records_deleted = serializers.IntegerField(required=False, help_text="Erasures, once done.")
    ledger_entries_deleted = serializers.IntegerField(required=False, help_text="Erasures, once done.")


class PrivacyRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="erase, or suppress (a removal after suppression).")
    status = serializers.CharField(help_text="pending until Pinterest accepted every removal, then done.")
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True, help_text="Why the last attempt did not finish (retried with backoff).")
    removed = serializers.SerializerMethodField(help_text="What was removed and deleted, as counts.")
    requested_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(RemovedCountsSerializer)
    def get_removed(self, obj: PrivacyRequest) -> dict:
        return RemovedCountsSerializer({"pending_dropped": 0, "audiences": 0, "identifiers_removed": 0,
                                        **obj.removed}).data


class PreviewInputSerializer(StrictInputSerializer):
    users = serializers.ListField(child=EntryUserField(), min_length=1, max_length=SAMPLE_MAX,
                                  help_text="A sample of users, as an entry call takes them.")
    volume = StrictIntegerField(required=False, min_value=1, max_value=10**9,
                                      help_text="How many users to estimate requests and time for (default: "
                                      "the sample's size).")


class PreviewSampleSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    email = serializers.CharField(required=False, help_text="SHA-256, as it would be sent.")
    idfa = serializers.CharField(required=False)
    maid = serializers.CharField(required=False)


class PreviewSerializer(serializers.Serializer):
    users = serializers.IntegerField()
    would_sync = serializers.IntegerField()
    no_match_fields = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    already_in_audience = serializers.IntegerField()
    duplicates_folded = serializers.IntegerField()
    sample = PreviewSampleSerializer(many=True, help_text="A few users who would be sent, with their hashes.")
    volume = serializers.IntegerField()
    requests = serializers.IntegerField(help_text="Requests to Pinterest `volume` users would take.")
    seconds = serializers.FloatField(help_text="How long those requests take at the token's rate.")


class AlertSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    to_admins = serializers.BooleanField(help_text="Also email the workspace's admins.")
    emails = serializers.ListField(child=serializers.EmailField(), max_length=50)
    webhook_url = serializers.CharField(allow_blank=True, max_length=200, help_text="An http(s) URL, or empty.")
    webhook_secret = serializers.CharField(read_only=True, allow_blank=True, help_text="Verify X-Alert-Signature with it: "
                                           "sha256=HMAC-SHA256(secret, X-Alert-Timestamp + '.' + body).")
    errored_threshold = serializers.IntegerField(min_value=1, max_value=10**9)


class AlertSettingsInputSerializer(StrictInputSerializer):
    enabled = StrictBooleanField(required=False)
    to_admins = StrictBooleanField(required=False)
    emails = serializers.ListField(child=serializers.EmailField(), max_length=50, required=False)
    webhook_url = StrictCharField(allow_blank=True, max_length=200, required=False,
                                        help_text="An http(s) URL signed alerts are POSTed to; empty for none.")
    errored_threshold = StrictIntegerField(min_value=1, max_value=10**9, required=False)
