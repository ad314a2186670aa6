"""Input and output shapes of the API.

Input serializers refuse fields they do not know (a typo such as
"match_field" would otherwise be ignored silently); the schema says so with
additionalProperties: false.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audiences import models, services
from audiences.models import Canvas, Step
from integrations.pinterest.ids import ID_MAX_LENGTH, is_valid_id

MATCH_FIELDS = list(services.MATCH_FIELDS)
MAX_DELAY_SECONDS = 366 * 24 * 3600


class StrictCharField(serializers.CharField):
    """A JSON string, and only that (DRF's CharField also takes numbers and turns them into text)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, and only that (DRF's IntegerField also takes "12" and 12.0)."""

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


NOT_BLANK = RegexValidator(r"\S", "Must contain something other than spaces.")

# Pinterest's ids are digit strings of at most 18 characters (openapi-v5.json,
# components/parameters/path_ad_account_id, path_audience_id: `pattern: ^\d+$`).
PINTEREST_ID_PATTERN = r"^[0-9]{1,18}$"
PINTEREST_ID = RegexValidator(r"\A[0-9]{1,18}\Z", f"A Pinterest id is 1 to {ID_MAX_LENGTH} digits.")


def _has_control_characters(value: str) -> bool:
    return any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value)


class StrictInputSerializer(serializers.Serializer):
    # Refuses unknown fields; the schema says additionalProperties: false (schema.ApiAutoSchema).
    reject_unknown_fields = True

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(sorted(name for name, f in self.fields.items() if not f.read_only))
                raise serializers.ValidationError(
                    {name: [f"Unknown field. Fields accepted here: {known}."] for name in unknown}
                )
        return super().to_internal_value(data)


# --- Connection --------------------------------------------------------------------------------


class PinterestAccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    username = serializers.CharField()


class AdAccountSerializer(serializers.Serializer):
    id = serializers.CharField(source="pinterest_id", help_text="Pinterest's ad account id.")
    name = serializers.CharField()
    country = serializers.CharField()
    currency = serializers.CharField()
    enabled = serializers.BooleanField(help_text="Whether this workspace may use the ad account in its steps.")


class ConnectionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["valid", "invalid", "disconnected", "not_connected"],
        help_text="`valid`: syncing works. `invalid`: Pinterest refused the token; reconnect. "
        "`disconnected` / `not_connected`: connect Pinterest in the admin.",
    )
    pinterest_account = PinterestAccountSerializer(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    connected_at = serializers.DateTimeField(allow_null=True)
    ad_accounts = AdAccountSerializer(many=True)


# --- Pinterest audiences ----------------------------------------------------------------------


class AudienceSearchQuerySerializer(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True, max_length=200, trim_whitespace=False,
                                   help_text="Only audiences whose name contains this (case-insensitive).")
    cursor = serializers.CharField(required=False, max_length=4000, trim_whitespace=False,
                                   help_text="`next_cursor` of the previous page (it carries the search); "
                                   "leave out for the first page.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=250, default=25,
                                         help_text="Results per page, searching or not.")


class RemoteAudienceSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Pinterest's audience id: use it as a step's `audience`.")
    name = serializers.CharField()
    audience_type = serializers.CharField(help_text="Only CUSTOMER_LIST audiences can be synced.")
    status = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    customer_list_id = serializers.CharField(allow_blank=True)


class AudiencePageSerializer(serializers.Serializer):
    results = RemoteAudienceSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page; "
                                        "null on the last page.")

    class Meta:
        ref_name = "PaginatedRemoteAudienceList"  # like the other lists' pages


# --- Steps --------------------------------------------------------------------------------------


class AudienceSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="This service's id: `{\"id\": …}` reuses the audience in another step.")
    name = serializers.CharField()
    source = serializers.ChoiceField(choices=models.Audience.Source.choices)
    status = serializers.ChoiceField(choices=models.Audience.Status.choices)
    pinterest_audience_id = serializers.CharField(allow_blank=True)


AUDIENCE_REF_SCHEMA = {
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": ID_MAX_LENGTH, "pattern": PINTEREST_ID_PATTERN,
         "description": "The id of an existing Pinterest audience of the ad account (digits)."},
        {"type": "object", "properties": {"new": {"type": "string", "minLength": 1, "maxLength": 100,
                                                  "pattern": r"\S"}},
         "required": ["new"], "additionalProperties": False,
         "description": "A new audience with this name, created on Pinterest with the first users."},
        {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}},
         "required": ["id"], "additionalProperties": False,
         "description": "An audience this workspace already uses in a step (its `audience.id`)."},
    ]
}


@extend_schema_field(AUDIENCE_REF_SCHEMA)
class AudienceRefField(serializers.Field):
    """"123" (Pinterest audience id), {"new": "name"} or {"id": 4} -> services.AudienceChoice."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            # Pinterest's id goes into the path of the calls that read the audience:
            # digits only, checked here and again by the client.
            if not is_valid_id(data):
                raise serializers.ValidationError(
                    f"A Pinterest audience id is 1 to {ID_MAX_LENGTH} digits (ids of GET "
                    f"/api/v1/ad-accounts/{{id}}/audiences/)."
                )
            return services.AudienceChoice(pinterest_audience_id=data)
        if isinstance(data, dict) and set(data) == {"new"}:
            name = data["new"]
            if not isinstance(name, str) or not name.strip() or len(name) > 100 or _has_control_characters(name):
                raise serializers.ValidationError(
                    "`new` is the new audience's name: 1 to 100 characters, without control characters."
                )
            return services.AudienceChoice(new_name=name.strip())
        if isinstance(data, dict) and set(data) == {"id"}:
            if type(data["id"]) is not int or data["id"] < 1:
                raise serializers.ValidationError("`id` is the audience id shown in a step's `audience.id`.")
            return services.AudienceChoice(audience_id=data["id"])
        raise serializers.ValidationError(
            'Give an existing Pinterest audience id ("123"), {"new": "name"} for a new audience, '
            'or {"id": 4} for an audience already used in this workspace.'
        )

    def to_representation(self, value):  # pragma: no cover - input only
        return value


class StepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    canvas = serializers.IntegerField(source="canvas_id")
    position = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Step.Kind.choices)
    name = serializers.CharField(allow_blank=True)
    ad_account = serializers.CharField(source="ad_account.pinterest_id", allow_null=True,
                                       help_text="Pinterest ad account id (Audience Sync steps).")
    audience = AudienceSerializer(allow_null=True)
    action = serializers.ChoiceField(choices=Step.Action.choices, allow_null=True)
    match_fields = serializers.ListField(child=serializers.ChoiceField(choices=MATCH_FIELDS), allow_null=True)
    delay_seconds = serializers.IntegerField(allow_null=True, help_text="Delay steps only.")

    def to_representation(self, step: Step):
        sync = step.kind == Step.Kind.AUDIENCE_SYNC
        return {
            "id": step.pk,
            "canvas": step.canvas_id,
            "position": step.position,
            "kind": step.kind,
            "name": step.name,
            "ad_account": step.ad_account.pinterest_id if sync and step.ad_account else None,
            "audience": AudienceSerializer(step.audience).data if sync and step.audience else None,
            "action": step.action if sync else None,
            "match_fields": services.step_match_fields(step) if sync else None,
            "delay_seconds": None if sync else step.delay_seconds,
        }


class StepInputSerializer(StrictInputSerializer):
    # A new step needs at least one field (its kind, or an Audience Sync step's settings): the schema
    # says minProperties 1 and the view refuses an empty body.
    min_properties = 1

    kind = serializers.ChoiceField(choices=Step.Kind.choices, required=False,
                                   help_text="Default `audience_sync`; cannot change after creation.")
    name = StrictCharField(required=False, allow_blank=True, max_length=200, trim_whitespace=False)
    ad_account = StrictCharField(required=False, allow_null=True, max_length=ID_MAX_LENGTH, trim_whitespace=False,
                                 validators=[PINTEREST_ID],
                                 help_text="Pinterest id (digits) of an enabled ad account of the workspace.")
    audience = AudienceRefField(required=False, allow_null=True)
    action = serializers.ChoiceField(choices=Step.Action.choices, required=False)
    match_fields = serializers.ListField(child=serializers.ChoiceField(choices=MATCH_FIELDS), required=False,
                                         max_length=len(MATCH_FIELDS),
                                         help_text="Identifiers to send; default [\"email\"].")
    delay_seconds = StrictIntegerField(required=False, min_value=1, max_value=MAX_DELAY_SECONDS,
                                             help_text="Delay steps: how long users wait here.")

    SYNC_ONLY = ("ad_account", "audience", "action", "match_fields")

    def validate_match_fields(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each match field once.")
        return value

    def validate(self, attrs):
        step: Step | None = self.instance
        kind = attrs.get("kind") or (step.kind if step else Step.Kind.AUDIENCE_SYNC)
        if step is not None and kind != step.kind:
            raise serializers.ValidationError({"kind": ["A step's kind cannot change; delete it and add another."]})
        if kind == Step.Kind.DELAY:
            wrong = {name: ["Not used by delay steps."] for name in self.SYNC_ONLY if name in attrs}
            if wrong:
                raise serializers.ValidationError(wrong)
            if step is None and "delay_seconds" not in attrs:
                raise serializers.ValidationError({"delay_seconds": ["A delay step needs delay_seconds."]})
        elif "delay_seconds" in attrs:
            raise serializers.ValidationError({"delay_seconds": ["Only delay steps have delay_seconds."]})
        attrs["kind"] = kind
        return attrs


# --- Canvases -----------------------------------------------------------------------------------


class CanvasSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Canvas.Status.choices)
    created_at = serializers.DateTimeField()
    launched_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    steps = StepSerializer(many=True, source="ordered_steps")


class CanvasInputSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=200, trim_whitespace=False, validators=[NOT_BLANK])

    def validate_name(self, value: str) -> str:
        return value.strip()
