"""Users entering a canvas, and what became of them: metrics, records, retries."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from audiences import metrics, services
from audiences.api import serializers_sync as s
from audiences.api.base import MAX_ID, ApiView
from audiences.api.errors import Conflict, IdempotencyKeyConflict
from audiences.api.json import FastJSONParser
from audiences.api.pagination import IdCursorPagination
from audiences.api.schema import error
from audiences.models import Step, SyncRecord
from integrations.roles import Operation

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]{1,200}$"},
    OpenApiParameter.HEADER, required=False,
    description="A unique value per logical request (e.g. a UUID). Repeating the call with the same key and "
    "body enters nobody again and answers the first call's result; the same key with another body is "
    "refused with 422. Keys are kept for at least a day.",
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", {"type": "string", "enum": ["true"]}, OpenApiParameter.HEADER, response=[202],
    description="Sent (as `true`) when this answer repeats the first call's with the same Idempotency-Key: "
    "nobody entered again.",
)


class CanvasEntriesView(ApiView):
    # The one operation an `entries` API key may call.
    key_operations = {"post": Operation.ENTRIES}
    # Bodies of up to 10,000 users: read with orjson (same answers, a tenth of the time).
    parser_classes = [FastJSONParser]

    @extend_schema(
        operation_id="canvas_entries_create",
        summary="Users enter the canvas (up to 10,000 per call)",
        description="The body is checked whole: one bad row refuses the call (400; `error.details.row` and "
        "`error.details.field` name it) and nothing is stored. Identifiers are normalised and hashed on arrival; "
        "raw values are never stored. A user is entered once per call: a repeated row (same external_id and "
        "identifiers) is folded into the first and counted in `duplicates_folded`; the same external_id with "
        "other identifiers refuses the call naming both rows. The canvas must be active (409 otherwise).",
        parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED],
        request=s.EntriesSerializer,
        responses={202: s.EntryResultSerializer, 409: error(409), 422: error(422)},
        tags=["entries"],
    )
    def post(self, request, pk: int):
        # The canvas and the steps entering walks, without the ad accounts the other answers show.
        canvas = services.canvas_for_entry(workspace_id=self.workspace.pk, canvas_id=pk) if pk <= MAX_ID else None
        if canvas is None:
            raise exceptions.NotFound(f"No canvas {pk} in this workspace.")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY_PATTERN.match(key):
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["1 to 200 visible ASCII characters, e.g. a UUID."]}
            )
        serializer = s.EntriesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        users = serializer.validated_data["users"]
        folded = serializer.validated_data["duplicates_folded"]
        headers = {}
        try:
            if key is None:
                answer = services.users_enter(canvas=canvas, users=users).as_dict()
                code = status.HTTP_202_ACCEPTED
            else:
                fingerprint = services.entry_fingerprint(canvas=canvas, users=users)
                code, answer, replayed = services.users_enter_once(
                    canvas=canvas, users=users, idempotency_key=key, fingerprint=fingerprint
                )
                if replayed:
                    headers["Idempotent-Replayed"] = "true"
        except services.EntryRejected as exc:
            # The serializer has refused rows that are not objects, so the service names the field.
            detail = {exc.field: [exc.message]} if exc.field else [exc.message]
            raise exceptions.ValidationError({"users": {exc.row: detail}}) from None
        except services.IdempotencyKeyReused:
            raise IdempotencyKeyConflict(key) from None
        return Response({**answer, "duplicates_folded": folded}, status=code, headers=headers)


class SyncStepView(ApiView):
    def get_sync_step(self, pk: int) -> Step:
        step = self.get_step(pk)
        if step.kind != Step.Kind.AUDIENCE_SYNC:
            raise Conflict(f"Step {pk} is a delay step; only Audience Sync steps have sync records.",
                           code="not_a_sync_step")
        return step


class StepMetricsView(ApiView):
    query_params = frozenset({"hours"})

    @extend_schema(
        operation_id="steps_metrics", summary="A step's seven numbers and its hourly series",
        description="Entered = Synced + Not synced + Pending + Errored for an Audience Sync step, always.",
        parameters=[s.MetricsQuerySerializer], responses={200: s.StepMetricsSerializer}, tags=["metrics"],
    )
    def get(self, request, pk: int):
        step = self.get_step_alone(pk)
        query = s.MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        numbers = metrics.step_metrics(step).as_dict()
        series = metrics.step_hourly_series(step, hours=query.validated_data["hours"])
        # The answer StepMetricsSerializer describes, built directly: partners poll it, and the
        # serializer's per-answer field copies cost as much as the reads.
        hourly = [{**hour, "hour": s.api_datetime(hour["hour"])} for hour in series]
        return Response({"step": step.pk, "kind": step.kind, **numbers, "hourly": hourly})


class StepRecordsView(SyncStepView):
    query_params = frozenset({"state"})
    pagination_class = IdCursorPagination
    serializer_class = s.SyncRecordSerializer

    @extend_schema(
        operation_id="steps_records_list", summary="The users of an Audience Sync step, oldest first",
        description="With `state=errored`: who could not be sent and why. Hashes and raw identifiers are never "
        "shown. Delay steps answer 409.",
        parameters=[s.RecordsQuerySerializer], responses={200: s.SyncRecordSerializer(many=True), 409: error(409)},
        tags=["records"],
    )
    def get(self, request, pk: int):
        step = self.get_sync_step(pk)
        query = s.RecordsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        records = SyncRecord.objects.filter(step=step)
        if "state" in query.validated_data:
            records = records.filter(state=query.validated_data["state"])
        else:  # every state: one `syncrecord_step_state` range per state, never a sort of the step's history
            records = self.paginator.narrowed(request, records, [{"state": s} for s in SyncRecord.State.values])
        page = self.paginate_queryset(records.only(
            "id", "external_id", "state", "attempts", "last_error", "entered_at", "next_attempt_at", "synced_at",
            "errored_at",
        ))
        return self.get_paginated_response(s.SyncRecordSerializer(page, many=True).data)


class StepRetryErroredView(SyncStepView):
    @extend_schema(
        operation_id="steps_retry_errored", summary="Send a step's errored users again",
        description="Each errored user gets another 13-hour window and is sent at once.",
        request=None, responses={200: s.RetryResultSerializer, 409: error(409)}, tags=["records"],
    )
    def post(self, request, pk: int):
        retried = services.records_retry_errored(step=self.get_sync_step(pk))
        return Response({"retried": retried})

