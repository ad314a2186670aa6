"""Segments kept in step: a partner opens a snapshot, sends its members in pages, and commits it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from audiences import services
from audiences.api import serializers_segments as s
from audiences.api.base import MAX_ID, ApiView
from audiences.api.errors import IdempotencyKeyConflict
from audiences.api.pagination import IdCursorPagination
from audiences.api.permissions import Forbidden
from audiences.api.schema import error
from audiences.api.views_sync import (
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENT_REPLAYED,
)
from audiences.models import Segment, Snapshot
from audiences.services import segments
from integrations import roles
from integrations.roles import Operation


class SegmentLookup(ApiView):
    def get_segment(self, pk: int) -> Segment:
        segment = Segment.objects.filter(workspace=self.workspace, pk=pk).first() if pk <= MAX_ID else None
        if segment is None:
            raise exceptions.NotFound(f"No segment {pk} in this workspace.")
        return segment

    def get_snapshot(self, pk: int, snapshot_pk: int) -> Snapshot:
        segment = self.get_segment(pk)
        snapshot = segment.snapshots.filter(pk=snapshot_pk).first() if snapshot_pk <= MAX_ID else None
        if snapshot is None:
            raise exceptions.NotFound(f"No snapshot {snapshot_pk} of segment {pk}.")
        snapshot.segment = segment
        return snapshot

    @property
    def actor(self) -> str:
        return f"API key {self.request.user.api_key.prefix}"


class SegmentsView(SegmentLookup):
    pagination_class = IdCursorPagination
    serializer_class = s.SegmentSerializer

    @extend_schema(operation_id="segments_list", summary="The workspace's segments, oldest first",
                   responses={200: s.SegmentSerializer(many=True)}, tags=["segments"])
    def get(self, request):
        page = self.paginate_queryset(Segment.objects.filter(workspace=self.workspace))
        return self.get_paginated_response(s.SegmentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="segments_create", summary="Feed an Audience Sync step from a segment",
        description="The step's audience is then kept equal to the segment's last committed snapshot.",
        request=s.SegmentCreateSerializer, responses={201: s.SegmentSerializer, 409: error(409)}, tags=["segments"],
    )
    def post(self, request):
        body = s.SegmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        step_id = body.validated_data.pop("step")
        try:
            step = self.get_step(step_id)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"step": [f"No step {step_id} in this workspace."]}) from None
        segment = segments.segment_create(step=step, **body.validated_data)
        return Response(s.SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailView(SegmentLookup):
    @extend_schema(operation_id="segments_retrieve", summary="A segment and its membership size",
                   responses={200: s.SegmentSerializer}, tags=["segments"])
    def get(self, request, pk: int):
        return Response(s.SegmentSerializer(self.get_segment(pk)).data)


class SnapshotsView(SegmentLookup):
    key_operations = {"post": Operation.ENTRIES}
    pagination_class = IdCursorPagination
    serializer_class = s.SnapshotSerializer

    @extend_schema(operation_id="segments_snapshots_list", summary="A segment's snapshots, oldest first",
                   responses={200: s.SnapshotSerializer(many=True)}, tags=["segments"])
    def get(self, request, pk: int):
        page = self.paginate_queryset(self.get_segment(pk).snapshots.all())
        return self.get_paginated_response(s.SnapshotSerializer(page, many=True).data)

    @extend_schema(
        operation_id="segments_snapshots_create", summary="Open a snapshot: the segment's whole membership follows",
        description="Send the members with `POST .../members/` in pages, then commit. A snapshot never committed "
        "changes nothing.",
        request=None, responses={201: s.SnapshotSerializer}, tags=["segments"],
    )
    def post(self, request, pk: int):
        snapshot = segments.snapshot_open(self.get_segment(pk), source=Snapshot.Source.API, actor=self.actor)
        return Response(s.SnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class SnapshotDetailView(SegmentLookup):
    @extend_schema(operation_id="segments_snapshots_retrieve", summary="A snapshot with its counts",
                   responses={200: s.SnapshotSerializer}, tags=["segments"])
    def get(self, request, pk: int, snapshot_pk: int):
        return Response(s.SnapshotSerializer(self.get_snapshot(pk, snapshot_pk)).data)


class SnapshotMembersView(SegmentLookup):
    key_operations = {"post": Operation.ENTRIES}

    @extend_schema(
        operation_id="segments_snapshots_members_create", summary="Add a page of members to an open snapshot",
        description="Checked whole like an entry call: one bad row refuses the page (400 naming it) and adds "
        "nothing. With an Idempotency-Key, the same page sent again adds nothing and answers as the first time.",
        parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED], request=s.MembersSerializer,
        responses={200: s.PageResultSerializer, 409: error(409), 422: error(422)}, tags=["segments"],
    )
    def post(self, request, pk: int, snapshot_pk: int):
        snapshot = self.get_snapshot(pk, snapshot_pk)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY_PATTERN.match(key):
            raise exceptions.ValidationError({"Idempotency-Key": ["1 to 200 visible ASCII characters, e.g. a UUID."]})
        body = s.MembersSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        members = body.validated_data["members"]
        folded = len(request.data["members"]) - len(members)
        headers = {}
        if key is None:
            answer = {"accepted": segments.snapshot_add(snapshot, members), "duplicates_folded": folded}
        else:
            try:
                answer, replayed = segments.snapshot_add_page(snapshot, members, key=key)
            except services.IdempotencyKeyReused:
                raise IdempotencyKeyConflict(key) from None
            answer = {**answer, "duplicates_folded": folded}
            if replayed:
                headers["Idempotent-Replayed"] = "true"
        return Response(answer, headers=headers)


class SnapshotCommitView(SegmentLookup):
    key_operations = {"post": Operation.ENTRIES}

    @extend_schema(
        operation_id="segments_snapshots_commit", summary="Commit a snapshot: add newcomers, remove leavers",
        description="Answers the snapshot: **200** `committed`, or `waiting` when it would remove more than the "
        "segment's `max_removal_percent` (nothing sent; commit again with `confirm: true`, which needs a `full` key, "
        "or discard it). A large snapshot (more than 50,000 rows by default) or one not applied within a few "
        "seconds answers **202** `committing`: a worker counts and applies it; read the snapshot until its state is "
        "`committed` or `waiting`.",
        request=s.CommitSerializer, responses={200: s.SnapshotSerializer, 202: s.SnapshotSerializer,
                                               409: error(409)}, tags=["segments"],
    )
    def post(self, request, pk: int, snapshot_pk: int):
        snapshot = self.get_snapshot(pk, snapshot_pk)
        body = s.CommitSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        confirm = body.validated_data["confirm"]
        scope = request.user.api_key.scope
        if confirm and not roles.scope_allows(scope, Operation.WRITE):
            raise Forbidden(f"Confirming a large removal takes a key with scope "
                            f"{' or '.join(roles.scopes_allowing(Operation.WRITE))}; this key's is {scope}. "
                            "Nothing was changed.",
                            details={"scope": scope, "required_scopes": roles.scopes_allowing(Operation.WRITE)})
        snapshot = segments.snapshot_commit_request(snapshot, actor=self.actor, confirmed=confirm)
        still_applying = snapshot.state == Snapshot.State.COMMITTING
        return Response(s.SnapshotSerializer(snapshot).data, status=202 if still_applying else 200)


class SnapshotDiscardView(SegmentLookup):
    key_operations = {"post": Operation.ENTRIES}

    @extend_schema(operation_id="segments_snapshots_discard", summary="Discard an open or waiting snapshot",
                   request=None, responses={200: s.SnapshotSerializer, 409: error(409)}, tags=["segments"])
    def post(self, request, pk: int, snapshot_pk: int):
        snapshot = segments.snapshot_discard(self.get_snapshot(pk, snapshot_pk), actor=self.actor)
        return Response(s.SnapshotSerializer(snapshot).data)
