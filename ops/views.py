"""/healthz for load balancers and orchestrators, /metrics for Prometheus."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from ops import health, metrics


@never_cache
@require_safe
def healthz(request):
    """200 when the service can do its job, 503 when it cannot; each check says why."""
    report = health.health()
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)


def _metrics_allowed(request) -> bool:
    """A bearer token (METRICS_TOKEN) when one is set; otherwise only the addresses in METRICS_ALLOWED_IPS."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS)


@never_cache
@require_safe
def metrics_view(request):
    if not _metrics_allowed(request):
        response = HttpResponse("Forbidden\n", status=403 if not settings.METRICS_TOKEN else 401,
                                content_type="text/plain")
        if settings.METRICS_TOKEN:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
