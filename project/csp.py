"""django-csp's middleware, with the policy built once rather than on every answer.

django-csp rebuilds the header from the settings for every response (a
tenth of a small API call's CPU). Answers that use no nonce and change no
directive (every API answer, most pages) all carry the same header, so it
is built once per settings; any other answer goes through django-csp as it
is.
"""

from __future__ import annotations

import functools

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# What a view or decorator sets on a response to change or drop the policy (csp.decorators).
_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt",
                 "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro")


@functools.cache
def _fixed_headers() -> tuple[str, str] | None:
    """(policy, report-only policy) as django-csp builds them; None where it decides per request anyway."""
    configured = [getattr(settings, name, None) or {}
                  for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")]
    if settings.DEBUG or any(config.get("EXCLUDE_URL_PREFIXES") for config in configured):
        return None
    return build_policy(), build_policy(report_only=True)


@receiver(setting_changed)
def _forget_headers(setting, **kwargs) -> None:
    if setting in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "DEBUG"):
        _fixed_headers.cache_clear()


class CSPMiddleware(DjangoCSPMiddleware):
    def process_response(self, request, response):
        fixed = _fixed_headers()
        if (fixed is None or getattr(request, "_csp_nonce", None) is not None
                or any(hasattr(response, name) for name in _PER_RESPONSE)):
            return super().process_response(request, response)
        policy, report_only = fixed
        if policy and HEADER not in response:
            response[HEADER] = policy
        if report_only and HEADER_REPORT_ONLY not in response:
            response[HEADER_REPORT_ONLY] = report_only
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
