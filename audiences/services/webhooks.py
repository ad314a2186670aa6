"""Outgoing webhook calls that cannot reach inside the network.

A webhook URL is the one address a workspace member chooses for this
service to call, so it must not become a way into the machines around it:

- only http and https;
- the host is resolved once and every address it resolves to must be
  global: loopback, private, link-local (169.254.169.254), unique-local,
  site-local, multicast, unspecified, reserved, shared (100.64/10) and the
  IPv6 forms that carry an IPv4 address (mapped ::ffff:a.b.c.d, compatible
  ::a.b.c.d, 6to4, Teredo, NAT64) are refused, unless the host is named in
  ALERT_WEBHOOK_ALLOWED_HOSTS;
- the call connects to the address that was checked (no second DNS answer
  can point it elsewhere), keeping the Host header and TLS name of the URL;
- no redirect is followed, no proxy or .netrc from the environment is used;
- what went wrong is told in generic words (the status code, or "could not
  connect"), never the library's text, which would tell an open port from a
  closed one.

Checked when the URL is saved (a name that does not resolve yet is accepted
then) and again before every call.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from audiences.services.errors import ServiceError

NOT_HTTP = "The webhook URL must be an http(s) URL."
NOT_PUBLIC = "The webhook URL must point to a public address (not loopback, private, link-local or reserved)."
COULD_NOT_CONNECT = "could not connect"

# Ranges that Python does not count as non-global but that lead inside or nowhere.
_BLOCKED = tuple(ipaddress.ip_network(net) for net in (
    "100.64.0.0/10",  # carrier-grade NAT, routes to internal workloads in some clouds
    "192.0.0.0/24", "192.88.99.0/24",  # IETF protocol assignments, 6to4 relay anycast
    "2002::/16", "2001::/32",  # 6to4 and Teredo carry an IPv4 address
    "64:ff9b::/96", "64:ff9b:1::/48",  # NAT64 translates to an IPv4 address
    "fec0::/10",  # site-local (deprecated, still routed by some networks)
    "5f00::/16", "3fff::/20", "2001:20::/28",
))


class WebhookRefused(ServiceError):
    """The URL may not be called (its scheme, or an address it resolves to)."""


class WebhookFailed(Exception):
    """A call that did not succeed; the message is generic on purpose."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the URL (lowercase, no brackets)
    port: int
    address: str  # the checked IP the call connects to


def allowed_hosts() -> set[str]:
    return {host.strip().lower().strip("[]") for host in getattr(settings, "ALERT_WEBHOOK_ALLOWED_HOSTS", ())
            if host.strip()}


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address a webhook may be sent to."""
    if isinstance(ip, ipaddress.IPv6Address) and (ip.scope_id or ip.ipv4_mapped is not None or int(ip) >> 32 == 0):
        return False  # zoned, or an IPv4 address in IPv6 form (mapped or compatible)
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return False
    return not any(ip in net for net in _BLOCKED if net.version == ip.version)


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise WebhookRefused(NOT_HTTP) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(NOT_HTTP)
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _addresses(host: str, port: int) -> list[str]:
    """Every address the host resolves to (raises OSError when it resolves to none)."""
    found = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in found:
            found.append(sockaddr[0])
    if not found:
        raise OSError("no address")
    return found


def _checked(host: str, addresses: list[str]) -> list[str]:
    if host in allowed_hosts():
        return addresses
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise WebhookRefused(NOT_PUBLIC) from None
        if not is_public(ip):
            raise WebhookRefused(NOT_PUBLIC)
    return addresses


def webhook_url_validate(url: str) -> None:
    """Refuse a URL that may not be called (raises WebhookRefused). A name that does not resolve is accepted."""
    _scheme, host, port = _split(url)
    try:
        addresses = _addresses(host, port)
    except (OSError, UnicodeError):
        return  # checked again, resolved, before every call
    _checked(host, addresses)


def webhook_target(url: str) -> Target:
    """Where a call to `url` will connect: raises WebhookRefused, or WebhookFailed when the name does not resolve."""
    scheme, host, port = _split(url)
    try:
        addresses = _addresses(host, port)
    except (OSError, UnicodeError):
        raise WebhookFailed(COULD_NOT_CONNECT) from None
    return Target(scheme=scheme, host=host, port=port, address=_checked(host, addresses)[0])


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked address whatever the URL's host resolves to now; Host and TLS name stay the URL's."""

    def __init__(self, target: Target):
        super().__init__(max_retries=0)
        self.target = target

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["host"].lower().strip("[]") != self.target.host or host_params["port"] != self.target.port:
            raise WebhookFailed(COULD_NOT_CONNECT)  # only the checked URL is called, never another
        host = self.target.host
        request.headers["Host"] = f"[{host}]" if ":" in host else host
        default_port = 443 if self.target.scheme == "https" else 80
        if self.target.port != default_port:
            request.headers["Host"] += f":{self.target.port}"
        if self.target.scheme == "https":
            pool_kwargs["assert_hostname"] = host
            pool_kwargs["server_hostname"] = host
        address = self.target.address
        host_params["host"] = f"[{address}]" if ":" in address else address
        return host_params, pool_kwargs


def webhook_post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `body` to `url` under the rules above; returns the status code (a redirect is returned, not followed).

    Raises WebhookRefused for an address that may not be called and
    WebhookFailed("could not connect") for anything that kept the call
    from being answered.
    """
    target = webhook_target(url)
    with requests.Session() as session:
        session.trust_env = False  # no proxy or .netrc from the environment
        adapter = _PinnedAdapter(target)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False,
                                    stream=True)
            response.close()
        except (requests.RequestException, OSError, ValueError):
            raise WebhookFailed(COULD_NOT_CONNECT) from None
    return response.status_code
