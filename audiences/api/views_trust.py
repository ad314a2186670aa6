"""Trust and privacy through the API: the audit log, the suppression list, erasures."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from audiences import services
from audiences.api.base import ApiView
from audiences.api.errors import Conflict
from audiences.api.pagination import NewestFirstCursorPagination
from audiences.api.schema import error
from audiences.api.serializers_trust import (AlertSettingsInputSerializer, AlertSettingsSerializer,
                                             AuditEventSerializer, PreviewInputSerializer, PreviewSerializer,
                                             PrivacyRequestSerializer, SuppressionCountSerializer,
                                             SuppressionInputSerializer, SuppressionRemovedSerializer,
                                             SuppressionResultSerializer)
from audiences.models import AuditEvent, PrivacyRequest


class AuditEventsView(ApiView):
    pagination_class = NewestFirstCursorPagination
    serializer_class = AuditEventSerializer

    @extend_schema(operation_id="audit_events_list", summary="The workspace's audit log, newest first",
                   description="Who connected, disconnected, chose ad accounts, launched, stopped, edited a "
                   "step, retried, erased, changed the suppression list or an API key; when and from where.",
                   responses={200: AuditEventSerializer(many=True)}, tags=["audit"])
    def get(self, request):
        events = AuditEvent.objects.filter(workspace=self.workspace)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)


class SuppressionsView(ApiView):
    @extend_schema(operation_id="suppressions_count", summary="How many identifiers the suppression list holds",
                   responses={200: SuppressionCountSerializer}, tags=["suppression"])
    def get(self, request):
        return Response({"count": services.suppression_count(workspace=self.workspace)})

    @extend_schema(operation_id="suppressions_add", summary="Suppress people: never added, and removed",
                   description="Suppressed people are never added to a Pinterest audience of the workspace "
                   "(counted as not synced, `suppressed`), and each one the ledger holds in an audience is "
                   "removed from it in the background. One bad entry refuses the call (400, naming the row).",
                   request=SuppressionInputSerializer, responses={200: SuppressionResultSerializer},
                   tags=["suppression"])
    def post(self, request):
        serializer = SuppressionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.suppression_add(workspace=self.workspace, entries=serializer.validated_data["entries"])
        return Response(result.as_dict())


class SuppressionsRemoveView(ApiView):
    @extend_schema(operation_id="suppressions_remove", summary="Take people off the suppression list",
                   request=SuppressionInputSerializer, responses={200: SuppressionRemovedSerializer},
                   tags=["suppression"])
    def post(self, request):
        serializer = SuppressionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        removed = services.suppression_remove(workspace=self.workspace,
                                              entries=serializer.validated_data["entries"])
        return Response({"unlisted": removed})


class UserEraseView(ApiView):
    @extend_schema(operation_id="users_erase", summary="Erase a user",
                   description="Removes the user from every Pinterest audience they were added to, then deletes "
                   "their sync records, delay records and ledger entries; the steps' figures keep them as "
                   "counts. Answers the erasure (202): follow it at /api/v1/privacy-requests/{id}/ until "
                   "`done`. Asking again while it is pending answers the same erasure; 404 when the workspace "
                   "holds nothing about the user.",
                   parameters=[OpenApiParameter(
                       "external_id", str, OpenApiParameter.PATH,
                       description="Your id for the user, as entered; any character may appear, percent-encoded "
                                   "in the path (`team/alice` is `team%2Falice`).")],
                   request=None, responses={202: PrivacyRequestSerializer}, tags=["privacy"])
    def delete(self, request, external_id: str):
        try:
            erasure = services.erasure_request(workspace=self.workspace, external_id=external_id)
        except services.EntryRejected as exc:
            raise exceptions.ValidationError({"external_id": [exc.message]}) from None
        except services.NothingToErase as exc:
            raise exceptions.NotFound(str(exc)) from None
        return Response(PrivacyRequestSerializer(erasure).data, status=status.HTTP_202_ACCEPTED)


class PrivacyRequestView(ApiView):
    @extend_schema(operation_id="privacy_requests_retrieve", summary="An erasure or removal: pending or done",
                   responses={200: PrivacyRequestSerializer}, tags=["privacy"])
    def get(self, request, pk: int):
        found = PrivacyRequest.objects.filter(workspace=self.workspace, pk=pk).first() if pk < 2**63 else None
        if found is None:
            raise exceptions.NotFound(f"No privacy request {pk} in this workspace.")
        return Response(PrivacyRequestSerializer(found).data)


class StepPreviewView(ApiView):
    @extend_schema(operation_id="steps_preview", summary="Dry run: what the step would do for a sample of users",
                   description="Never calls Pinterest and stores nothing: how many of the users would be synced, "
                   "lack the step's match fields, are suppressed or already in the audience; the hashes of a "
                   "few; and the requests and time `volume` users would take at the token's rate.",
                   request=PreviewInputSerializer, responses={200: PreviewSerializer, 409: error(409)},
                   tags=["steps"])
    def post(self, request, pk: int):
        step = self.get_step(pk)
        serializer = PreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if step.kind != step.Kind.AUDIENCE_SYNC:
            raise Conflict(f"Step {pk} is a delay step; only Audience Sync steps can be previewed.",
                           code="not_a_sync_step")
        preview = services.step_preview(step=step, users=serializer.validated_data["users"],
                                        volume=serializer.validated_data.get("volume"))
        return Response(PreviewSerializer(preview.as_dict()).data)


class AlertSettingsView(ApiView):
    @extend_schema(operation_id="alert_settings_retrieve", summary="Who the workspace tells when something is wrong",
                   responses={200: AlertSettingsSerializer}, tags=["alerts"])
    def get(self, request):
        return Response(AlertSettingsSerializer(services.alert_settings_of(self.workspace)).data)

    @extend_schema(operation_id="alert_settings_update", summary="Change who is told",
                   description="Fields left out keep their value. Setting a webhook URL creates its signing secret.",
                   request=AlertSettingsInputSerializer, responses={200: AlertSettingsSerializer}, tags=["alerts"])
    def patch(self, request):
        serializer = AlertSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = services.alert_settings_update(workspace=self.workspace, **serializer.validated_data)
        return Response(AlertSettingsSerializer(saved).data)
