"""`http.get`: one GET to a loopback address (the Dagster webserver's GraphQL, a local
server a scenario started); any other host is refused. The deadline is the step's or the
scenario's, else 30 s."""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sei_assets.scenarios.dialects.lifecycle.providers.base import (
    Context,
    Result,
    StepTimeout,
    Verb,
    VerbError,
)

DEFAULT_TIMEOUT = 30.0


def _loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def get(ctx: Context, args: dict[str, Any]) -> Result:
    """GET `url` (loopback only): value {status, headers, body, json}; ok on 2xx."""
    url = str(args.get("url") or "")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VerbError(f"url: expected an http(s) URL, got {url!r}")
    if not _loopback(parts.hostname):
        raise VerbError(f"url: {parts.hostname} is not a loopback address (http.get stays local)")
    left = ctx.remaining()
    timeout = DEFAULT_TIMEOUT if left is None else max(left, 0.001)
    request = urllib.request.Request(url, headers=dict(args.get("headers") or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as rsp:  # noqa: S310 (loopback)
            status, headers, body = rsp.status, dict(rsp.headers), rsp.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    except TimeoutError:
        raise StepTimeout() from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise StepTimeout() from None
        return Result({"status": None, "error": str(exc.reason)}, str(exc.reason), ok=False)
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    value = {"status": status, "headers": headers, "body": text, "json": doc}
    return Result(value, text[-2000:], ok=200 <= status < 300)


VERBS = [
    Verb("http.get", get, {"url": True, "headers": False}, False, get.__doc__ or "", scalar="url")
]
