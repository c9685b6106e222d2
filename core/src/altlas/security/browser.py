"""Defences against web pages: the ``Host`` check (DNS rebinding) and the rule for
state-changing requests from another origin.

DNS rebinding points a name the attacker owns at 127.0.0.1, so the victim's browser
sends the page's requests, with ``Host: attacker.example``, to the local service and
lets the page read the answers. Only the names in ``ALLOWED_HOSTS`` are accepted. An IP
address in ``Host`` is always accepted: no name was resolved, so nothing was rebound
(and a client on the network can reach a server bound to ``0.0.0.0`` by its address).

A page on another origin can send "simple" requests (``text/plain``, url-encoded or
multipart bodies, no custom header) without a CORS preflight. Browsers mark every such
request with ``Origin`` and ``Sec-Fetch-Site``; command-line clients send neither. The
rule for ``POST``, ``PUT``, ``PATCH`` and ``DELETE``:

1. ``Origin`` present and neither the service's own origin nor in ``CORS_ORIGINS``
   (``Origin: null`` included), or no ``Origin`` but ``Sec-Fetch-Site`` says
   ``cross-site`` or ``same-site``: ``403 permission_error`` (``cross_origin``).
2. From an origin in ``CORS_ORIGINS`` without an API key header, the body must be JSON
   (``415``, ``json_required``): a browser sends an ``application/json`` body or an
   ``Authorization`` header only after a preflight the operator's CORS list governs.
3. Anything else passes: ``curl -F file=@x.png`` with no ``Origin``, a page of the
   service itself, any client that sends an API key.
"""

from __future__ import annotations

import ipaddress

from altlas.security.scopes import STATE_CHANGING
from altlas_sdk.errors import BadRequest, PermissionDenied, UnsupportedMediaType


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header, without its port and brackets, in lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host(host_header: str | None, allowed_hosts: tuple[str, ...]) -> None:
    """Raise ``400 host_not_allowed`` unless the request's ``Host`` is allowed."""
    if "*" in allowed_hosts:
        return
    host = host_name(host_header or "")
    if _is_ip(host) or host in allowed_hosts:
        return
    raise BadRequest(
        f"Host '{host_header or ''}' is not allowed; add it to ALLOWED_HOSTS to serve it",
        param="Host",
        code="host_not_allowed",
    )


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def check_cross_site(
    method: str,
    headers: dict[str, str],
    own_origins: tuple[str, ...],
    cors_origins: tuple[str, ...],
    *,
    has_key: bool,
) -> None:
    """Apply the module's rule to a request with ``headers`` (lower-case names);
    ``own_origins`` are the service's own origins as the request addressed it."""
    if method not in STATE_CHANGING:
        return
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site", "").lower()
    if origin is None:
        if site in ("cross-site", "same-site"):
            raise PermissionDenied(
                f"a {site} request from a web page cannot change state here",
                code="cross_origin",
            )
        return
    origin = origin.rstrip("/").lower()
    if origin in own_origins:
        return
    if origin not in cors_origins and "*" not in cors_origins:
        raise PermissionDenied(
            f"requests from the web page at '{origin}' cannot change state here; "
            "allow its origin in CORS_ORIGINS",
            code="cross_origin",
        )
    if not has_key and not _is_json(headers.get("content-type", "")):
        raise UnsupportedMediaType(
            "a request from another origin needs a JSON body (Content-Type: "
            "application/json) or an API key",
            param="Content-Type",
            code="json_required",
        )
