"""What callers may submit: API keys, input URIs (no SSRF) and upload names (no path traversal).

Shared by the HTTP API (genmedia.serving) and the job runner (genmedia.jobs.runner), which fetches http(s)
inputs from the addresses checked here, so it sits below both."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import socket
import unicodedata
from urllib.parse import urlsplit

from genmedia.config import Config, ServeConfig
from genmedia.errors import ConfigError, InputError

# ------------------------------------------------------------------------------------- API keys


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_digests(cfg: Config) -> list[str]:
    """sha256 digests of the accepted API keys: ``$GENMEDIA_API_KEYS`` (comma-separated) plus ``serve.api_keys``.

    Only digests leave this function, so keys never travel in deployment arguments. No key at all is a
    ConfigError: the API never runs open.
    """
    from_env = os.environ.get(cfg.serve.api_keys_env, "")
    keys = [k.strip() for k in from_env.split(",") if k.strip()] + [k for k in cfg.serve.api_keys if k.strip()]
    if not keys:
        raise ConfigError(
            f"no API keys: set {cfg.serve.api_keys_env}=key1,key2 (or serve.api_keys in the config) before serving"
        )
    return sorted({_digest(k) for k in keys})


def key_allowed(authorization: str | None, digests: list[str]) -> bool:
    """Whether an ``Authorization: Bearer <key>`` header carries an accepted key (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    candidate = _digest(key.strip())
    # Compare against every digest so the time taken does not depend on which one matched.
    matches = [hmac.compare_digest(candidate, d) for d in digests]
    return any(matches)


# ------------------------------------------------------------------------------------ input URIs


def _ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """``host`` read the way C resolvers read IPv4 (decimal ``2130706433``, hex ``0x7f.1``, octal, short forms)."""
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host) or not any(c.isdigit() for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPV4_IN_LOW_32_BITS = (
    ipaddress.ip_network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (RFC 2765)
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated)
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
_NEVER_PUBLIC = (
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated, still routed inside some networks)
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 local-use prefix (RFC 8215): translates into the local network
)


def reached_address(addr: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address embeds and a connection to it really reaches (IPv4-mapped, -translated
    and -compatible forms, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32``'s client), else ``addr``."""
    if isinstance(addr, ipaddress.IPv4Address):
        return addr
    if addr.teredo:
        return addr.teredo[1]
    if addr.sixtofour:
        return addr.sixtofour
    if any(addr in net for net in _IPV4_IN_LOW_32_BITS) and int(addr) & 0xFFFFFFFF > 1:  # not :: or ::1
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def _global_unicast(addr: IPAddress) -> bool:
    return addr.is_global and not addr.is_multicast and not any(addr in net for net in _NEVER_PUBLIC)


def is_public(addr: IPAddress) -> bool:
    """Whether a connection to ``addr`` reaches a globally routable unicast host (what an input URL may point at):
    an IPv6 form that embeds IPv4 is judged by the IPv4 address it reaches (a Teredo address by its server and client)."""
    if any(addr in net for net in _NEVER_PUBLIC):
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.teredo:
        return all(_global_unicast(a) for a in addr.teredo)
    return _global_unicast(reached_address(addr))


def _check_address(uri: str, addr: IPAddress) -> None:
    if not is_public(addr):
        reached = reached_address(addr)
        via = f" (reaches {reached})" if reached != addr else ""
        raise InputError(
            uri,
            f"points at a non-public address ({addr}{via}); loopback, private, link-local, site-local "
            "and other non-global hosts are refused, also inside IPv6 forms that embed IPv4",
        )


def _public_addresses(uri: str, host: str) -> list[str]:
    """The addresses ``host`` stands for, each checked to be public (InputError otherwise)."""
    host = host.strip("[]").rstrip(".").lower()
    if not host:
        raise InputError(uri, "names no host")
    if host == "localhost" or host.endswith(".localhost"):
        raise InputError(uri, "points at localhost; loopback hosts are refused")
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        literal = _ipv4_literal(host)
    if literal is not None:
        _check_address(uri, literal)
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise InputError(uri, f"host {host!r} does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))
    for address in addresses:
        _check_address(uri, ipaddress.ip_address(address))
    return addresses


def _checked(uri: str, serve: ServeConfig) -> tuple[str, list[str]]:
    """``uri`` stripped and the checked public addresses of its host (none for S3); see :func:`check_input_uri`."""
    uri = uri.strip()
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InputError(uri, "is not a valid URI") from None
    scheme = parts.scheme.lower()
    allowed = ", ".join(f"{s}://" for s in serve.allowed_input_schemes)
    if scheme not in serve.allowed_input_schemes:
        what = "local paths and file:// URIs are" if scheme in ("", "file") else f"scheme {scheme!r} is"
        raise InputError(uri, f"{what} not accepted from callers; allowed: {allowed} (or upload the file)")
    if parts.username or parts.password:
        raise InputError(uri, "must not carry credentials")
    if scheme == "s3":
        if not parts.netloc:
            raise InputError(uri, "names no bucket")
        if serve.allowed_buckets and parts.netloc not in serve.allowed_buckets:
            raise InputError(
                uri, f"bucket {parts.netloc!r} is not allowed; allowed: {', '.join(serve.allowed_buckets)}"
            )
        return uri, []
    return uri, _public_addresses(uri, parts.hostname or "")


def check_input_uri(uri: str, serve: ServeConfig) -> str:
    """``uri`` if a caller may submit it as a job input, else InputError saying why.

    Only the configured schemes (``serve.allowed_input_schemes``) pass, never ``file://`` or a bare path;
    S3 buckets must be in ``serve.allowed_buckets`` when that list is set; HTTP(S) hosts must resolve only
    to public addresses (loopback, private, link-local, reserved and numeric-trick forms are refused).
    """
    return _checked(uri, serve)[0]


def input_address(uri: str, serve: ServeConfig) -> str:
    """The checked public address to fetch an ``http(s)://`` input from (see :func:`check_input_uri`).

    Connect to this address, not to the host name: a second lookup could be answered differently by a
    DNS server that first gave a public address and then a private one (DNS rebinding).
    """
    uri, addresses = _checked(uri, serve)
    if not addresses:
        raise InputError(uri, "is not an http(s) URI")
    return addresses[0]


# ---------------------------------------------------------------------------------- upload names


def safe_upload_name(name: str | None) -> str:
    """A harmless file name from a caller's: the last path component only, safe characters, bounded length."""
    name = unicodedata.normalize("NFKC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip("._-")
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 10:
        name = f"{stem[:100]}.{ext}"
    return name[:111] or "upload"
