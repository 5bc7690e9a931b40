"""The control plane's URL rule, without httpx: the API client applies it, and the console checks it before it starts."""

from __future__ import annotations

import re

_HTTP_URL = re.compile(r"^https?://[^/\s]+")


def normalize_base_url(url: str) -> str:
    """The host root of a control plane: trailing ``/``, ``/api`` or ``/api/v1`` removed."""
    url = url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def base_urls(base_url: str) -> list[str]:
    """The replicas a (comma-separated) control-plane URL names, each normalized; never empty."""
    return [normalize_base_url(u) for u in base_url.split(",") if u.strip()] or [""]


def url_problem(base_url: str) -> str | None:
    """Why ``base_url`` cannot be a control plane's URL (one line), or None when it can."""
    for url in base_urls(base_url):
        if not _HTTP_URL.match(url):
            return f"control plane URL {url or base_url!r} is not an http:// or https:// URL"
    return None
