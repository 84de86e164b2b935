"""The only way a patient's images leave the gateway: one HTTP request to the configured
endpoint, and nowhere else.

Guards against server-side request forgery:

* the host name is resolved once, every address it resolves to is checked, and the connection
  goes to that checked address; no second lookup happens, so DNS rebinding cannot swap in an
  internal address between the check and the connect;
* the original host name is still sent as ``Host`` and used for TLS SNI and certificate
  verification, so pinning the address does not weaken TLS;
* loopback, private, link-local (cloud metadata), shared (CGNAT), multicast, reserved and
  unspecified addresses are refused, including their IPv4-mapped IPv6 forms, unless the
  endpoint is explicitly local;
* redirects are never followed: a 3xx is a failure, even to the same host;
* no proxy from the environment is used, and the answer's size is capped.

Plain library: no Django.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from forwarding.errors import ForwardingError, gettext_noop
from forwarding.protocols import PreparedRequest, ProviderError

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}

REFUSED_MESSAGE = gettext_noop(
    "The gateway refused to contact this AI service because its address is not allowed. "
    "Your images were not sent. An administrator needs to check the AI endpoint."
)
UNREACHABLE_MESSAGE = gettext_noop(
    "The AI service could not be reached or did not answer in time. You can try again later."
)

# Never reachable, even for a local endpoint: cloud metadata services live here.
_ALWAYS_REFUSED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("169.254.0.0/16"), "link-local (cloud metadata)"),
    (ipaddress.ip_network("fe80::/10"), "link-local (cloud metadata)"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "cloud metadata"),
    (ipaddress.ip_network("100.100.100.200/32"), "cloud metadata"),
    (ipaddress.ip_network("fec0::/10"), "site-local (deprecated)"),
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified"),
    (ipaddress.ip_network("::/128"), "unspecified"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
    (ipaddress.ip_network("ff00::/8"), "multicast"),
    (ipaddress.ip_network("240.0.0.0/4"), "reserved"),
)
# Where self-hosted models live: allowed only for an endpoint marked local.
_LOCAL_ONLY: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("127.0.0.0/8"), "loopback"),
    (ipaddress.ip_network("::1/128"), "loopback"),
    (ipaddress.ip_network("10.0.0.0/8"), "private"),
    (ipaddress.ip_network("172.16.0.0/12"), "private"),
    (ipaddress.ip_network("192.168.0.0/16"), "private"),
    (ipaddress.ip_network("fc00::/7"), "private (unique local)"),
    (ipaddress.ip_network("100.64.0.0/10"), "shared address space (CGNAT)"),
)

Resolver = Callable[..., list[tuple[Any, ...]]]


class EgressRefused(ForwardingError):
    """The request would go somewhere it must not (or came back with a redirect); nothing
    should retry it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, REFUSED_MESSAGE)


class TransportError(ForwardingError):
    """The endpoint could not be reached, or stopped answering; worth retrying."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, UNREACHABLE_MESSAGE)


@dataclass(frozen=True)
class Response:
    """A complete answer from the endpoint. Header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)


def refusal_reason(address: str, *, allow_local: bool) -> str | None:
    """Return why ``address`` may not be contacted, or None if it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        reason = refusal_reason(str(ip.ipv4_mapped), allow_local=allow_local)
        return f"IPv4-mapped {reason}" if reason else None
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        # 6to4 carries an IPv4 address inside: judge the address it would reach.
        reason = refusal_reason(str(ip.sixtofour), allow_local=allow_local)
        if reason:
            return f"6to4 {reason}"
    for network, reason in _ALWAYS_REFUSED:
        if ip in network:
            return f"{ip} is {reason}"
    for network, reason in _LOCAL_ONLY:
        if ip in network:
            return None if allow_local else f"{ip} is {reason}"
    # Anything else the standard library does not consider public (documentation ranges,
    # benchmarking, 6to4 relays, NAT64 and the like) has no business receiving patient data.
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a public address"
    return None


def resolve_allowed(host: str, port: int, *, allow_local: bool, resolver: Resolver) -> str:
    """Resolve ``host`` once and return the address to connect to.

    Every address the name resolves to must be allowed, not just the first: otherwise the
    answer order would decide whether an internal address is used.
    """
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        failure = type(exc).__name__
        raise TransportError(f"could not resolve the endpoint's host name ({failure})") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise TransportError("the endpoint's host name resolved to no address")
    for address in addresses:
        reason = refusal_reason(address, allow_local=allow_local)
        if reason:
            raise EgressRefused(f"the endpoint's address is refused: {reason}")
    return addresses[0]


class _PinnedBackend(httpcore.SyncBackend):
    """Connects only to the one checked address, and only for the configured host and port."""

    def __init__(self, host: str, port: int, address: str) -> None:
        self._host = host
        self._port = port
        self._address = address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.lower() != self._host.lower() or port != self._port:
            raise EgressRefused("a connection to another host than the endpoint was attempted")
        return super().connect_tcp(
            self._address, port, timeout, local_address=local_address, socket_options=socket_options
        )


def _caused_by_certificate(exc: BaseException) -> bool:
    # httpcore re-raises its ConnectError "from None", so walk the implicit context too.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def send(
    prepared: PreparedRequest,
    *,
    allow_local: bool,
    timeout: float,
    resolver: Resolver = socket.getaddrinfo,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """Send ``prepared`` to its endpoint and return the complete response.

    ``timeout`` bounds each network step and the reading of the whole body. ``ssl_context``
    defaults to certificate verification against the certifi trust store; pass one to trust a
    private CA. Raises EgressRefused (destination or redirect refused; do not retry),
    TransportError (unreachable, timed out, connection broke; may retry), ProviderError (answer
    too large). Any other status,
    including 4xx and 5xx, is returned for the caller to judge.
    """
    parts = urlsplit(prepared.url)
    if parts.scheme not in DEFAULT_PORTS:
        raise EgressRefused(f"scheme {parts.scheme!r} is not http or https")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("the endpoint URL contains credentials")
    host = parts.hostname
    if not host:
        raise EgressRefused("the endpoint URL has no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise EgressRefused("the endpoint URL has an invalid port") from exc

    address = resolve_allowed(host, port, allow_local=allow_local, resolver=resolver)
    deadline = time.monotonic() + timeout
    timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        with (
            httpcore.ConnectionPool(
                ssl_context=ssl_context or httpx.create_ssl_context(),
                max_connections=1,
                retries=0,
                network_backend=_PinnedBackend(host, port, address),
            ) as pool,
            pool.stream(
                prepared.method,
                prepared.url,
                headers=list(prepared.headers.items()),
                content=prepared.body,
                extensions={"timeout": timeouts},
            ) as response,
        ):
            if 300 <= response.status < 400:
                raise EgressRefused(f"the endpoint tried to redirect (HTTP {response.status})")
            body = bytearray()
            for chunk in response.iter_stream():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ProviderError(f"the answer was larger than {MAX_RESPONSE_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise TransportError("the answer took longer than the endpoint's timeout")
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in response.headers
            }
            return Response(response.status, headers, bytes(body))
    except httpcore.TimeoutException as exc:
        raise TransportError(f"the endpoint timed out ({type(exc).__name__})") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        if _caused_by_certificate(exc):
            # A wrong certificate is not transient: retrying would only repeat the refusal.
            raise EgressRefused("the endpoint's TLS certificate did not verify") from exc
        failure = type(exc).__name__
        raise TransportError(f"the connection to the endpoint failed ({failure})") from exc
