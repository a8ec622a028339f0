"""The websocket origin check: the Origin's host and port must be the Host connected to."""

from __future__ import annotations

import pytest
from django.test import override_settings

from atomic_ops.websocket_origin import same_origin


def scope(*headers: tuple[bytes, bytes]) -> dict:
    return {"type": "websocket", "headers": list(headers)}


HOST = (b"host", b"127.0.0.1:8000")


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:8000",
        b"https://127.0.0.1:8000",
        b"HTTP://127.0.0.1:8000",
        b"http://127.0.0.1:8000/",
    ],
)
def test_the_consoles_own_origin_passes(origin):
    assert same_origin(scope(HOST, (b"origin", origin)))


@pytest.mark.parametrize(
    "headers",
    [
        [HOST],  # no origin (not a browser, or a stripped header)
        [(b"origin", b"http://127.0.0.1:8000")],  # no host
        [HOST, (b"origin", b"http://127.0.0.1:8001")],  # another program on the same host
        [HOST, (b"origin", b"http://localhost:8000")],  # another name is another origin
        [HOST, (b"origin", b"http://evil.example")],
        [HOST, (b"origin", b"null")],  # sandboxed iframes, file:// pages
        [HOST, (b"origin", b"ftp://127.0.0.1:8000")],
        [HOST, (b"origin", b"http://user@127.0.0.1:8000")],
        [HOST, (b"origin", b"http://127.0.0.1:8000/path")],
        [HOST, (b"origin", b"http://127.0.0.1:8000?x=1")],
        [HOST, (b"origin", b"http://127.0.0.1:8000"), (b"origin", b"http://evil.example")],  # repeated
        [HOST, HOST, (b"origin", b"http://127.0.0.1:8000")],
        [HOST, (b"origin", "http://127.0.0.1:8000\u00e9".encode())],  # not ASCII
        [HOST, (b"origin", b"http://[::1")],  # unparsable
        [HOST, (b"origin", b"http://127.0.0.1:8000" + b"a" * 3000)],
    ],
)
def test_anything_else_is_refused(headers):
    assert not same_origin(scope(*headers))


def test_a_trusted_origin_passes_behind_a_proxy_that_rewrites_host():
    headers = [(b"host", b"console-backend:8000"), (b"origin", b"https://ops.example.com")]
    assert not same_origin(scope(*headers))
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://ops.example.com"]):
        assert same_origin(scope(*headers))
