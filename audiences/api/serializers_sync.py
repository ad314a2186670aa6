"""Input and output shapes of the sync operations: entering users, a step's numbers and its users."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audiences import services
from audiences.api.serializers import StrictInputSerializer
from audiences.models import Step, SyncRecord

MAX_ENTRIES_PER_CALL = 10_000
_HEX64 = "[0-9a-fA-F]{64}"
_AD_ID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


# --- Entries -------------------------------------------------------------------------------------

IDENTIFIER_MAX_LENGTH = services.IDENTIFIER_MAX_LENGTH
# What the schema can say of services.user_validate's rules (the service is the authority): no
# control, zero-width or direction characters, a dot in an email's domain, ad ids as UUIDs.
_INVISIBLE = r"\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
_EMAIL_PART = rf"[^@\s.{_INVISIBLE}]+"

ENTRY_USER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["external_id"],
    "properties": {
        "external_id": {"type": "string", "minLength": 1, "maxLength": services.MAX_EXTERNAL_ID_LENGTH,
                        "pattern": r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f]"
                                   r"[^\u0000-\u001f\u007f-\u009f]*$",
                        "description": "Your id for the user (shown in records): no control characters. A user "
                                       "is entered once per call: a later row with the same external_id and the "
                                       "same identifiers is folded into the first (counted in "
                                       "`duplicates_folded`); one with other identifiers refuses the call."},
        "email": {"type": "string", "nullable": True, "maxLength": IDENTIFIER_MAX_LENGTH,
                  "pattern": rf"^\s*([^@\s{_INVISIBLE}]+@{_EMAIL_PART}(\.{_EMAIL_PART})+|{_HEX64})\s*$",
                  "description": "An email address (at most 254 characters, a dot in the domain, no control, "
                                 "zero-width or direction characters), or its SHA-256 (64 hex) if already "
                                 "hashed. Trimmed and lowercased, then hashed on arrival."},
        "ios_idfa": {"type": "string", "nullable": True, "maxLength": IDENTIFIER_MAX_LENGTH,
                     "pattern": rf"^\s*({_AD_ID}|{_HEX64})\s*$",
                     "description": "iOS IDFA (a UUID, not the all-zero one), or its SHA-256."},
        "android_aid": {"type": "string", "nullable": True, "maxLength": IDENTIFIER_MAX_LENGTH,
                        "pattern": rf"^\s*({_AD_ID}|{_HEX64})\s*$",
                        "description": "Android advertising id (a UUID, not the all-zero one), or its SHA-256."},
    },
}
ENTRY_FIELDS = frozenset(ENTRY_USER_SCHEMA["properties"])
IDENTIFIER_FIELDS = ("email", "ios_idfa", "android_aid")


@extend_schema_field(ENTRY_USER_SCHEMA)
class EntryUserField(serializers.Field):
    """One user of a bulk entry, checked by services.user_validate (the rule enter_users follows too).

    Answers the user with external_id trimmed and identifiers normalised.
    Plain Python per row: a nested serializer per row is too slow for 10,000.
    """

    def to_internal_value(self, data):
        try:
            return services.user_validate(data)
        except services.EntryRejected as exc:
            if exc.field:
                raise serializers.ValidationError({exc.field: [_sentence(exc.message)]}) from None
            raise serializers.ValidationError(_sentence(exc.message)) from None

    def to_representation(self, value):  # pragma: no cover - input only
        return value


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


class EntryUsersField(serializers.ListField):
    """The users of an entry call: each checked by services.user_validate, every bad row named.

    One loop instead of a DRF field run per row (10,000 a call); a bad row
    is run through EntryUserField as before, so its error is the same.
    """

    def run_child_validation(self, data):
        validate, checked, errors = services.user_validate, [], {}
        for index, user in enumerate(data):
            try:
                checked.append(validate(user))
            except services.EntryRejected:
                try:  # the row's error exactly as the DRF field run gives it
                    self.child.run_validation(user)
                except serializers.ValidationError as error:
                    errors[index] = error.detail
        if errors:
            raise serializers.ValidationError(errors)
        return checked


class EntriesSerializer(StrictInputSerializer):
    users = EntryUsersField(child=EntryUserField(), min_length=1, max_length=MAX_ENTRIES_PER_CALL,
                            help_text="1 to 10,000 users; the call is accepted or refused whole. A user is "
                            "entered once per call (see `external_id`).")

    def validate(self, attrs):
        """Folds duplicate rows (services.users_fold); `duplicates_folded` says how many."""
        try:
            checked = services.users_fold(attrs["users"])
        except services.EntryRejected as exc:
            message = (f"Same external_id as users[{exc.other_row}], with other identifiers: a user is entered "
                       f"once per call, so send one row per user.")
            raise serializers.ValidationError({"users": {exc.row: {exc.field: [message]}}}) from None
        return {"users": checked.users, "duplicates_folded": checked.duplicates_folded}


class EntryResultSerializer(serializers.Serializer):
    entered = serializers.IntegerField(help_text="Users who entered the canvas in this call.")
    pending = serializers.IntegerField(help_text="Waiting to be sent to Pinterest.")
    not_synced = serializers.IntegerField(help_text="Without any of a step's match fields; never sent.")
    already_in_audience = serializers.IntegerField(help_text="Already members of the audience; not sent again.")
    waiting_in_delay = serializers.IntegerField(help_text="Held by a delay step.")
    exited = serializers.IntegerField(help_text="Went through every step and left the canvas.")
    duplicates_folded = serializers.IntegerField(
        help_text="Rows that repeated an earlier row of the call (same external_id, same identifiers) and were "
        "folded into it: `entered` counts each user once."
    )


# --- Metrics and records --------------------------------------------------------------------------


class MetricsQuerySerializer(serializers.Serializer):
    hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 14, default=48,
                                     help_text="How many hours the series covers, ending with the current one.")


_DATETIME = serializers.DateTimeField()


def api_datetime(value):
    """A datetime written as the serializers' DateTimeField writes it, for answers built without a serializer."""
    return _DATETIME.to_representation(value)


class HourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    entered = serializers.IntegerField()
    synced = serializers.IntegerField()
    errored = serializers.IntegerField()


class StepMetricsSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Step.Kind.choices)
    entered = serializers.IntegerField()
    proceeded = serializers.IntegerField()
    synced = serializers.IntegerField()
    not_synced = serializers.IntegerField()
    pending = serializers.IntegerField()
    errored = serializers.IntegerField()
    exited = serializers.IntegerField()
    suppressed = serializers.IntegerField(
        help_text="Of the users not synced, those skipped because they are on the workspace's suppression list "
        "(or were erased while waiting): already counted in `not_synced`, so Entered = Synced + Not synced + "
        "Pending + Errored still holds.")
    hourly = HourSerializer(many=True)


class RecordsQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=SyncRecord.State.choices, required=False)


class SyncRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    state = serializers.ChoiceField(choices=SyncRecord.State.choices)
    attempts = serializers.IntegerField()
    reason = serializers.CharField(source="last_error", allow_blank=True,
                                   help_text="Why the last attempt failed (errored and retried users).")
    entered_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    synced_at = serializers.DateTimeField(allow_null=True)
    errored_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, record):
        data = super().to_representation(record)
        if record.state != SyncRecord.State.PENDING:
            data["next_attempt_at"] = None
        return data


class RetryResultSerializer(serializers.Serializer):
    retried = serializers.IntegerField(help_text="Errored users given another 13-hour window, sent at once.")

