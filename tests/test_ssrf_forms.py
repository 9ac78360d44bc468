"""SSRF: an address is judged by the host a connection really reaches, IPv6 forms that embed IPv4 included
(``genmedia.security.is_public``), for the input, every redirect hop, and the other files a job reads."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading

import pytest

from genmedia import security
from genmedia.config import load_config
from genmedia.errors import InputError

pytestmark = pytest.mark.unit

REFUSED = [
    ("127.0.0.1", "127.0.0.1"),
    ("::1", "::1"),
    ("::", "::"),
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
    ("::ffff:0:7f00:1", "127.0.0.1"),  # IPv4-translated
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible
    ("::10.0.0.1", "10.0.0.1"),
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 to loopback
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64 to the cloud metadata address
    ("64:ff9b::c0a8:101", "192.168.1.1"),
    ("64:ff9b:1::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe"),  # NAT64 local-use prefix
    ("64:ff9b:1::808:808", "64:ff9b:1::808:808"),
    ("2002:7f00:1::", "127.0.0.1"),  # 6to4 of loopback
    ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ("2002:a00:1::", "10.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo, client 127.0.0.1 (bits inverted)
    ("2001:0:7f00:1:8000:63bf:f7f7:f7f7", "8.8.8.8"),  # Teredo with a loopback server
    ("fec0::1", "fec0::1"),  # site-local
    ("fe80::1", "fe80::1"),
    ("fc00::1", "fc00::1"),
    ("ff02::1", "ff02::1"),
    ("2001:db8::1", "2001:db8::1"),
    ("100.64.0.1", "100.64.0.1"),
    ("169.254.169.254", "169.254.169.254"),
    ("224.0.0.1", "224.0.0.1"),
]
ALLOWED = [
    "8.8.8.8",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "::ffff:8.8.8.8",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
]


@pytest.mark.parametrize(("address", "reaches"), REFUSED)
def test_non_public_forms_are_refused(address: str, reaches: str) -> None:
    addr = ipaddress.ip_address(address)
    assert security.reached_address(addr) == ipaddress.ip_address(reaches)
    assert not security.is_public(addr)
    cfg = load_config(None, serve={"allowed_input_schemes": ["https"]})
    uri = f"https://[{address}]/x.mp4" if ":" in address else f"https://{address}/x.mp4"
    with pytest.raises(InputError, match="non-public address"):
        security.check_input_uri(uri, cfg.serve)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_forms_pass(address: str) -> None:
    assert security.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(("address", "_"), [r for r in REFUSED if ":" in r[0]])
def test_a_host_name_resolving_to_an_embedding_form_is_refused(
    monkeypatch: pytest.MonkeyPatch, address: str, _: str
) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 0, 0, 0))]
    )
    cfg = load_config(None, serve={"allowed_input_schemes": ["https"]})
    with pytest.raises(InputError, match="non-public address"):
        security.check_input_uri("https://media.example/x.mp4", cfg.serve)


@pytest.mark.parametrize(
    "target",
    [
        "http://[64:ff9b::7f00:1]/x.mp4",
        "http://[::127.0.0.1]/x.mp4",
        "http://[2002:7f00:1::]/x.mp4",
        "http://[fec0::1]/x.mp4",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    ],
)
def test_a_redirect_hop_to_an_embedding_form_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path, target: str) -> None:  # noqa: ANN001
    """The first hop is a local test server (let through on purpose); its redirect to an embedding form is refused."""
    from genmedia.jobs.runner import fetch_http

    hits: list[str] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real = security.is_public
    monkeypatch.setattr(security, "is_public", lambda a: a == ipaddress.ip_address("127.0.0.1") or real(a))
    cfg = load_config(None, storage={"cache_dir": str(tmp_path)}, serve={"allowed_input_schemes": ["http"]})
    try:
        with pytest.raises(InputError, match="non-public address"):
            fetch_http(cfg, f"http://127.0.0.1:{server.server_address[1]}/start")
    finally:
        server.shutdown()
    assert hits == ["/start"]
    assert not list(tmp_path.rglob("*.mp4"))
