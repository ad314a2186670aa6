"""What every API view shares: the key's workspace, lookups scoped to it, and the 404/429 wording."""

from __future__ import annotations

from django.db.models import Prefetch
from rest_framework import exceptions, generics
from rest_framework.metadata import SimpleMetadata

from audiences.bulk_sql import table
from audiences.models import Canvas, Step
from integrations.models import AdAccount, Workspace
from project import db

MAX_ID = 2**63 - 1


class ApiMetadata(SimpleMetadata):
    """OPTIONS answers name and formats; the request and response shapes are in /api/v1/schema/."""

    def determine_metadata(self, request, view):
        metadata = super().determine_metadata(request, view)
        metadata.pop("actions", None)
        metadata["schema"] = "/api/v1/schema/"
        return metadata

    def determine_actions(self, request, view):
        return {}


class ApiView(generics.GenericAPIView):
    # Authentication, permissions, throttles, parsers and errors come from REST_FRAMEWORK.
    metadata_class = ApiMetadata
    # Query parameters the view reads; any other is refused, so a typo ("?stat=errored") is an
    # error rather than a silently unfiltered answer.
    query_params: frozenset[str] = frozenset()
    # Those of them that may be sent empty ("?search="); others must have a value or be left out.
    blank_query_params: frozenset[str] = frozenset()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method.lower() not in self.http_method_names or not hasattr(self, request.method.lower()):
            return  # 405 comes next, whatever the query
        allowed = set(self.query_params) | {"format"}
        if self.pagination_class is not None:
            allowed |= {"cursor", "page_size"}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            accepted = ", ".join(sorted(allowed - {"format"})) or "none"
            raise exceptions.ValidationError(
                {name or "(empty)": [f"Unknown query parameter. Accepted here: {accepted}."] for name in unknown}
            )
        repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
        if repeated:
            raise exceptions.ValidationError({name: ["Give this parameter once."] for name in repeated})
        empty = sorted(name for name, values in request.query_params.lists()
                       if name not in self.blank_query_params and any(v == "" for v in values))
        if empty:
            raise exceptions.ValidationError({name: ["Give a value, or leave the parameter out."] for name in empty})

    @property
    def workspace(self) -> Workspace:
        return self.request.user.workspace

    def throttled(self, request, wait):
        # DRF adds "Expected available in N seconds." and the Retry-After header.
        raise exceptions.Throttled(wait, detail="Too many requests for this API key.")

    def get_canvas(self, pk: int) -> Canvas:
        """The workspace's canvas with its steps (and their ad accounts and audiences), as the answers show them."""
        canvas = canvases_of(self.workspace).filter(pk=pk).first() if pk <= MAX_ID else None
        if canvas is None:
            raise exceptions.NotFound(f"No canvas {pk} in this workspace.")
        return canvas

    def get_step(self, pk: int) -> Step:
        step = (
            Step.objects.select_related("canvas", "canvas__workspace", "ad_account", "audience")
            .filter(canvas__workspace=self.workspace, pk=pk)
            .first()
            if pk <= MAX_ID
            else None
        )
        if step is None:
            raise exceptions.NotFound(f"No step {pk} in this workspace.")
        return step

    def get_step_alone(self, pk: int) -> Step:
        """The workspace's step without its canvas, ad account or audience, read with one raw statement.

        For the reads partners poll many times a second (a step's metrics):
        compiling get_step's ORM query cost more than the rest of the answer.
        """
        step = None
        if pk <= MAX_ID:
            step = db.instance(Step, f"id = %s AND canvas_id IN (SELECT id FROM {table(Canvas)} WHERE workspace_id = %s)",
                               [pk, self.workspace.pk])
        if step is None:
            raise exceptions.NotFound(f"No step {pk} in this workspace.")
        return step

    def get_ad_account(self, pinterest_id: str, *, field: str | None = None) -> AdAccount:
        """An ad account of the workspace's Pinterest connection, by Pinterest id; it must be enabled."""
        ad_account = (
            AdAccount.objects.select_related("connection", "connection__workspace")
            .filter(connection__workspace=self.workspace, pinterest_id=pinterest_id)
            .first()
        )
        problem = None
        if ad_account is None:
            problem = (f"No ad account {pinterest_id} in this workspace's Pinterest connection; "
                       f"GET /api/v1/connection/ lists them.")
        elif not ad_account.enabled:
            problem = f"Ad account {pinterest_id} is not enabled for this workspace; enable it in the admin."
        if problem and field:
            raise exceptions.ValidationError({field: [problem]})
        if problem:
            raise exceptions.NotFound(problem)
        return ad_account


def ordered_steps() -> Prefetch:
    return Prefetch(
        "steps", queryset=Step.objects.order_by("position", "id").select_related("ad_account", "audience"),
        to_attr="ordered_steps",
    )


def canvases_of(workspace: Workspace):
    return Canvas.objects.filter(workspace=workspace).prefetch_related(ordered_steps())


def with_steps(canvas: Canvas) -> Canvas:
    """The canvas re-read with its steps, for answers after a change."""
    return canvases_of(canvas.workspace_id).get(pk=canvas.pk)
