"""The partner REST API: one view per resource, each calling the services.

Every lookup is scoped to the API key's workspace: another workspace's
objects answer 404 exactly like objects that do not exist.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audiences import services
from audiences.api import serializers as s
from audiences.api.base import ApiView, canvases_of, with_steps
from audiences.api.pagination import AudienceCursor, NewestFirstCursorPagination
from audiences.api.schema import error
from audiences.models import Canvas, Step
from integrations.models import PinterestConnection

# --- Connection and Pinterest audiences ------------------------------------------------------------


class ConnectionView(ApiView):
    @extend_schema(operation_id="connection_retrieve", summary="The workspace's Pinterest connection",
                   responses={200: s.ConnectionSerializer}, tags=["connection"])
    def get(self, request):
        connection = (
            PinterestConnection.objects.filter(workspace=self.workspace).prefetch_related("ad_accounts").first()
        )
        if connection is None:
            data = {"status": "not_connected", "pinterest_account": None, "last_error": "", "last_error_at": None,
                    "last_success_at": None, "connected_at": None, "ad_accounts": []}
        else:
            data = {
                "status": connection.status,
                "pinterest_account": (
                    {"id": connection.pinterest_user_id, "username": connection.pinterest_username}
                    if connection.pinterest_user_id else None
                ),
                "last_error": connection.last_error,
                "last_error_at": connection.last_error_at,
                "last_success_at": connection.last_success_at,
                "connected_at": connection.connected_at,
                "ad_accounts": connection.ad_accounts.all(),
            }
        return Response(s.ConnectionSerializer(data).data)


OTHER_SEARCH = ("This cursor continues another search: leave `search` out (the cursor carries it) "
                "or start again without a cursor.")


class AdAccountAudiencesView(ApiView):
    query_params = frozenset({"search", "cursor", "page_size"})
    blank_query_params = frozenset({"search"})

    @extend_schema(
        operation_id="ad_account_audiences_list",
        summary="Existing Pinterest audiences of an enabled ad account, a page at a time",
        description="With `search`, only audiences whose name contains it. A page holds at most `page_size` "
        "audiences, and may hold fewer (a search reads up to 2,000 of Pinterest's audiences per call): "
        "follow `next_cursor` until it is null.",
        parameters=[
            OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="Pinterest's id of an enabled ad account of the workspace."),
            s.AudienceSearchQuerySerializer,
        ],
        responses={200: s.AudiencePageSerializer, 409: error(409), 503: error(503)},
        tags=["audiences"],
    )
    def get(self, request, id: str):  # noqa: A002 - the path says {id}
        ad_account = self.get_ad_account(id)
        query = s.AudienceSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page_size = query.validated_data["page_size"]
        search = query.validated_data.get("search")
        start = AudienceCursor(search=search or "")
        if "cursor" in query.validated_data:
            start = AudienceCursor.decode(query.validated_data["cursor"])
            if search is not None and search != start.search:
                raise exceptions.ValidationError({"cursor": [OTHER_SEARCH]})
        # The selector may return more matches than asked (a search keeps every match of the pages it
        # read): give page_size of them and carry the rest in the cursor as matches already given.
        end = start.skip + page_size
        try:
            page = services.pinterest_audiences_search(
                ad_account=ad_account, search=start.search, bookmark=start.bookmark, limit=end,
            )
        except services.Refused as exc:
            if not start.bookmark:
                raise
            raise exceptions.ValidationError(
                {"cursor": [f"Pinterest refused this cursor ({exc.message}); start again without one."]}
            ) from None
        if len(page.items) > end:
            following = AudienceCursor(start.bookmark, end, start.search)
        elif page.next_bookmark:
            following = AudienceCursor(page.next_bookmark, 0, start.search)
        else:
            following = None
        return Response(s.AudiencePageSerializer({
            "results": [_remote_audience(a) for a in page.items[start.skip:end]],
            "next_cursor": following.encode() if following else None,
        }).data)


def _remote_audience(audience) -> dict:
    return {
        "id": audience.id, "name": audience.name, "audience_type": audience.audience_type,
        "status": audience.status, "size": audience.size, "customer_list_id": audience.customer_list_id,
    }


# --- Canvases -------------------------------------------------------------------------------------------


class CanvasListView(ApiView):
    query_params = frozenset({"status"})
    pagination_class = NewestFirstCursorPagination
    serializer_class = s.CanvasSerializer

    @extend_schema(
        operation_id="canvases_list", summary="The workspace's canvases, newest first",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=Canvas.Status.values,
                                     description="Only canvases in this state.")],
        responses={200: s.CanvasSerializer(many=True)}, tags=["canvases"],
    )
    def get(self, request):
        canvases = canvases_of(self.workspace)
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in Canvas.Status.values:
                raise exceptions.ValidationError({"status": [f"One of {', '.join(Canvas.Status.values)}."]})
            canvases = canvases.filter(status=wanted)
        page = self.paginate_queryset(canvases)
        return self.get_paginated_response(s.CanvasSerializer(page, many=True).data)

    @extend_schema(operation_id="canvases_create", summary="Create a draft canvas",
                   request=s.CanvasInputSerializer, responses={201: s.CanvasSerializer}, tags=["canvases"])
    def post(self, request):
        data = _valid(s.CanvasInputSerializer, request)
        canvas = services.canvas_create(workspace=self.workspace, name=data["name"])
        return Response(s.CanvasSerializer(with_steps(canvas)).data, status=status.HTTP_201_CREATED)


class CanvasDetailView(ApiView):
    @extend_schema(operation_id="canvases_retrieve", summary="A canvas with its steps",
                   responses={200: s.CanvasSerializer}, tags=["canvases"])
    def get(self, request, pk: int):
        return Response(s.CanvasSerializer(self.get_canvas(pk)).data)

    @extend_schema(operation_id="canvases_partial_update", summary="Rename a canvas",
                   request=s.CanvasInputSerializer, responses={200: s.CanvasSerializer}, tags=["canvases"])
    def patch(self, request, pk: int):
        canvas = self.get_canvas(pk)
        data = _valid(s.CanvasInputSerializer, request, partial=True)
        if "name" in data:
            services.canvas_update(canvas=canvas, name=data["name"])
        return Response(s.CanvasSerializer(with_steps(canvas)).data)

    @extend_schema(operation_id="canvases_destroy", summary="Delete a canvas that is not active",
                   description="Refused (409) while the canvas is active or users in it are still pending.",
                   responses={204: None, 409: error(409)}, tags=["canvases"])
    def delete(self, request, pk: int):
        services.canvas_delete(canvas=self.get_canvas(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CanvasLaunchView(ApiView):
    @extend_schema(
        operation_id="canvases_launch", summary="Launch: the canvas starts accepting users",
        description="Refused with 409 `launch_refused` and every problem in `error.details.problems` "
        "when the canvas cannot sync (no steps, no valid Pinterest connection, a step without ad account, "
        "audience or match field).",
        request=None, responses={200: s.CanvasSerializer, 409: error(409)}, tags=["canvases"],
    )
    def post(self, request, pk: int):
        canvas = services.canvas_launch(canvas=self.get_canvas(pk))
        return Response(s.CanvasSerializer(with_steps(canvas)).data)


class CanvasStopView(ApiView):
    @extend_schema(operation_id="canvases_stop",
                   summary="Stop: no new users; users already entered are still sent",
                   description="Refused with 409 `not_allowed` when the canvas is not active.",
                   request=None, responses={200: s.CanvasSerializer, 409: error(409)}, tags=["canvases"])
    def post(self, request, pk: int):
        canvas = services.canvas_stop(canvas=self.get_canvas(pk))
        return Response(s.CanvasSerializer(with_steps(canvas)).data)


# --- Steps ------------------------------------------------------------------------------------------------

STEP_DESCRIPTION = (
    "An Audience Sync step: `ad_account` (Pinterest id), `audience` (an existing Pinterest audience id, "
    '`{"new": "name"}`, or `{"id": n}` for an audience already used in the workspace), `action` add|remove, '
    '`match_fields`. A delay step: `{"kind": "delay", "delay_seconds": n}`. Steps of an active canvas '
    "cannot change (409 `not_allowed`): stop it first."
)

EMPTY_STEP_BODY = (
    'The body is empty: send the step as a JSON object, e.g. {"kind": "delay", "delay_seconds": 3600} or '
    '{"ad_account": "<id>", "audience": {"new": "<name>"}, "match_fields": ["email"]}.'
)


class CanvasStepsView(ApiView):
    @extend_schema(operation_id="canvas_steps_list", summary="A canvas's steps, in order",
                   responses={200: s.StepSerializer(many=True)}, tags=["steps"])
    def get(self, request, pk: int):
        canvas = self.get_canvas(pk)
        return Response(s.StepSerializer(canvas.ordered_steps, many=True).data)

    @extend_schema(operation_id="canvas_steps_create", summary="Add a step at the end of a canvas",
                   description=STEP_DESCRIPTION, request=s.StepInputSerializer,
                   responses={201: s.StepSerializer, 409: error(409), 503: error(503)}, tags=["steps"])
    def post(self, request, pk: int):
        canvas = self.get_canvas(pk)
        if not request.data:
            # No body, or {}: every field has a default, and a blank step is never what was meant.
            raise exceptions.ValidationError({"non_field_errors": [EMPTY_STEP_BODY]})
        data = _valid(s.StepInputSerializer, request)
        if data["kind"] == Step.Kind.DELAY:
            step = services.step_create_delay(canvas=canvas, seconds=data["delay_seconds"], name=data.get("name", ""))
        else:
            ad_account = data.get("ad_account")
            step = services.step_create_audience_sync(
                canvas=canvas,
                ad_account=self.get_ad_account(ad_account, field="ad_account") if ad_account else None,
                audience=data.get("audience"),
                action=data.get("action", Step.Action.ADD),
                match_fields=data.get("match_fields", ["email"]),
                name=data.get("name", ""),
            )
        return Response(s.StepSerializer(self.get_step(step.pk)).data, status=status.HTTP_201_CREATED)


class StepDetailView(ApiView):
    @extend_schema(operation_id="steps_retrieve", summary="A step",
                   responses={200: s.StepSerializer}, tags=["steps"])
    def get(self, request, pk: int):
        return Response(s.StepSerializer(self.get_step(pk)).data)

    @extend_schema(operation_id="steps_partial_update", summary="Change a step of a canvas that is not active",
                   description=STEP_DESCRIPTION, request=s.StepInputSerializer,
                   responses={200: s.StepSerializer, 409: error(409), 503: error(503)}, tags=["steps"])
    def patch(self, request, pk: int):
        step = self.get_step(pk)
        serializer = s.StepInputSerializer(step, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k != "kind"}
        if "ad_account" in changes:
            changes["ad_account"] = (
                self.get_ad_account(changes["ad_account"], field="ad_account") if changes["ad_account"] else None
            )
        if changes:
            services.step_update(step=step, **changes)
        return Response(s.StepSerializer(self.get_step(pk)).data)

    @extend_schema(operation_id="steps_destroy", summary="Delete a step of a canvas that is not active",
                   responses={204: None, 409: error(409)}, tags=["steps"])
    def delete(self, request, pk: int):
        services.step_delete(step=self.get_step(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Not found -------------------------------------------------------------------------------------------


class NotFoundView(APIView):
    """Every other path under /api/v1/: a JSON 404 that says where to look."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    schema = None

    def _answer(self, request, *args, **kwargs):
        from django.urls import Resolver404, resolve

        hint = " The API is described at /api/v1/schema/ (browse it at /api/v1/docs/)."
        if not request.path.endswith("/"):
            try:
                match = resolve(request.path + "/")
                if getattr(match.func, "view_class", None) is not NotFoundView:
                    hint = f" Did you mean {request.path}/ (with the trailing slash)?"
            except Resolver404:
                pass
        raise exceptions.NotFound(f"No endpoint at {request.path}.{hint}")

    get = post = put = patch = delete = head = options = _answer


not_found = NotFoundView.as_view()
