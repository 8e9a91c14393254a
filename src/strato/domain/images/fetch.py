"""The `web-download` fetcher: stream an image from a URL a user gave, without letting the
user reach through the server what only the server can reach (SSRF).

Every hop (the URL, then each redirect, which is followed here, not by httpx) gets the same
checks, in this order:

- scheme in `allowed_schemes` (http and https at most); no `user:password@` (refused, never
  sent); the fragment is dropped; the port, the scheme's default when absent, must be in
  `allowed_ports` (default 80 and 443 as in Glance; empty = any) for every host, allowed ones
  too. Allow-list entries carry no port.
- the host is an IP literal or a DNS name (non-ASCII names are used in their IDNA form; list
  entries must be written in that ASCII form). A host whose last label is numeric is an IPv4
  address in whatever form `inet_aton` reads (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`),
  as browsers read it, and is checked as that address; zone ids and other hosts that are
  neither are refused.
- a name is resolved once and EVERY address it gives is checked: one forbidden address refuses
  the name. IPv4-mapped IPv6 is the IPv4 address; NAT64 and 6to4 addresses are also judged by
  the IPv4 address they embed.
- `denied_hosts` first (a name matches the host as written, an IP/CIDR any address), so a denial
  wins over any allowance; then `allowed_hosts` (a listed name allows whatever it resolves to,
  an IP/CIDR the addresses inside it); anything else must be a public address (`is_global` and
  not multicast: loopback, private, link-local, shared, reserved, unspecified ... are refused).
  `public_hosts=False` fetches from listed hosts only (what Glance's `allowed_hosts` means).
- the connection goes to an address that was checked: the request URL carries the IP, while the
  `Host` header and, for https, SNI and certificate verification carry the name, so DNS cannot
  answer differently between check and connect. On connection failure the next checked address
  is tried. One client per hop, so a TLS connection verified for one name never serves another.
  Proxy settings from the environment are ignored (a proxy would resolve the name itself).
- a non-2xx answer fails; a `Content-Length` over `max_bytes` fails before any body is read; the
  raw bytes (`Accept-Encoding: identity`, nothing is decompressed) are counted and the download
  stops past `max_bytes`. `connect_timeout` bounds resolving and connecting, `read_timeout` each
  wait for bytes; there is no overall deadline (wrap the iteration in `asyncio.timeout`).

Glance's `validate_import_uri` (`[import_filtering_opts]`) compares the host as written with its
lists and checks a port only when the URL names one; it never looks at addresses, so
`http://2130706433/` or a name resolving to 169.254.169.254 passes unless listed, and DNS may
answer differently when urllib connects. Its download is `urllib.request.urlopen`, which follows
redirects without checking them (where redirects are re-checked, it is the same string test).

`fetch` is an async generator: close it (`contextlib.aclosing`) when stopping early, so that the
connection is closed at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from strato import __version__

if TYPE_CHECKING:  # imported by the functions that fetch or parse, on the first web-download:
    import httpx  # most servers never import an image from a URL, and it costs ~20 MB each

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host name, port) -> IP address strings, as getaddrinfo gives them."""

ALLOWED_HOSTS_OPTION = "image_import_allowed_hosts"  # named in refusals, for the operator
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_USER_AGENT = f"Strato/{__version__} web-download"


class FetchRefused(Exception):
    """The URL (or a redirect's) is not allowed by policy; str(exc) says why, for a user."""


class FetchFailed(Exception):
    """The download itself failed (status, connection, timeout, too large): readable reason."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What web-download may fetch. Host entries: names, IP addresses or CIDRs (no ports)."""

    allowed_schemes: tuple[str, ...] = ("http", "https")
    allowed_ports: tuple[int, ...] = (80, 443)  # empty = any port
    allowed_hosts: tuple[str, ...] = ()  # allowed even if not public
    denied_hosts: tuple[str, ...] = ()  # wins over allowed_hosts
    public_hosts: bool = True  # False: only allowed_hosts
    max_bytes: int = 1 << 40
    max_redirects: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # between bytes

    def __post_init__(self) -> None:
        """Fail at configuration time, not on a user's request; lists become tuples."""
        for field in ("allowed_schemes", "allowed_ports", "allowed_hosts", "denied_hosts"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        schemes = tuple(s.lower() for s in self.allowed_schemes)
        object.__setattr__(self, "allowed_schemes", schemes)
        if not set(schemes) <= set(_DEFAULT_PORTS):
            raise ValueError(f"web-download can fetch http and https only, not {schemes}")
        if any(not 0 < port < 65536 for port in self.allowed_ports):
            raise ValueError(f"allowed_ports {self.allowed_ports}: ports are 1 to 65535")
        if self.max_bytes < 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and max_redirects cannot be negative")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        _host_list(self.allowed_hosts)
        _host_list(self.denied_hosts)


@dataclass(frozen=True, slots=True)
class _HostList:
    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def has_address(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks if net.version == ip.version)


@lru_cache(maxsize=64)
def _host_list(entries: tuple[str, ...]) -> _HostList:
    """Parse a policy's host entries once (raises ValueError on an entry that is none)."""
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip().lower().removesuffix(".")
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
            continue
        except ValueError:
            pass
        if not _is_name(text) or _NUMERIC_LABEL.fullmatch(text.rsplit(".", 1)[-1]):
            raise ValueError(
                f"host entry {entry!r} is not a host name, IP address or CIDR "
                "(ports belong in allowed_ports, non-ASCII names in IDNA form)"
            )
        names.add(text)
    return _HostList(frozenset(names), tuple(networks))


@dataclass(frozen=True, slots=True)
class _Target:
    """One hop's URL, parsed and statically checked."""

    url: httpx.URL
    host: str  # as written (ASCII), for messages
    name: str | None  # DNS name to resolve, or None for an IP literal
    ip: IPAddress | None  # the IP literal
    port: int

    @property
    def shown(self) -> str:
        """The URL without its query, for messages (queries may carry signatures)."""
        return str(self.url.copy_with(query=None, fragment=None))

    @property
    def host_header(self) -> str:
        host = self.name or (f"[{self.ip}]" if self.ip and self.ip.version == 6 else str(self.ip))
        default = _DEFAULT_PORTS[self.url.scheme] == self.port
        return host if default else f"{host}:{self.port}"


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse (FetchRefused) what is wrong with `url` before any DNS lookup: for the API to
    answer 400 at once. `fetch` repeats this and also checks what names resolve to."""
    _parse(url, policy)


async def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    chunk_size: int = 1 << 20,
    resolve: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[bytes]:
    """Stream the body of `url` in chunks of at most `chunk_size` bytes, following redirects
    and checking every hop against `policy` (see the module docstring). `resolve` replaces the
    system resolver (tests); `ssl_context` the default trust (certifi, or SSL_CERT_FILE)."""
    import httpx  # here, not at the top: see the TYPE_CHECKING import
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    resolve = resolve or _system_resolve
    tls = ssl_context or _default_tls()
    current = url
    for hop in range(policy.max_redirects + 1):
        try:
            target = _parse(current, policy)
            addresses = await _addresses(target, policy, resolve)
        except FetchRefused as exc:
            if hop == 0:
                raise
            shown = current.split("?", 1)[0]  # queries may carry signatures
            raise FetchRefused(f"redirected to {shown}: {exc}") from None
        try:
            async with _request(target, addresses, policy, tls) as response:
                if response.status_code in _REDIRECTS:
                    current = _location(target, response)
                    continue
                _check_response(target, response, policy)
                total = 0
                async for chunk in response.aiter_raw(chunk_size):
                    total += len(chunk)
                    if total > policy.max_bytes:
                        raise FetchFailed(
                            f"{target.shown} sent more than the {policy.max_bytes} bytes allowed"
                        )
                    yield chunk
                return
        except httpx.TimeoutException:
            raise FetchFailed(f"{target.shown} timed out") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{target.shown} failed: {exc or type(exc).__name__}") from None
    raise FetchFailed(f"{url} redirects more than {policy.max_redirects} times")


def _parse(url: str, policy: FetchPolicy) -> _Target:
    """Everything that can be refused without DNS: scheme, credentials, host form, port, and a
    literal address."""
    import httpx  # here, not at the top: see the TYPE_CHECKING import
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parsed.scheme
    if scheme not in policy.allowed_schemes:
        allowed = ", ".join(policy.allowed_schemes)
        shown = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
        raise FetchRefused(f"{shown} is not allowed; web-download fetches {allowed} URLs only")
    if parsed.userinfo:
        raise FetchRefused("URLs with a user name or password are not allowed in web-download")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise FetchRefused(f"{url!r} names no host")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    if not 0 < port < 65536:
        raise FetchRefused(f"port {port} is not a valid port")
    if policy.allowed_ports and port not in policy.allowed_ports:
        ports = ", ".join(map(str, policy.allowed_ports))
        raise FetchRefused(f"port {port} is not allowed; web-download fetches from ports {ports}")
    literal = _literal_ip(host)
    ip = _unmapped(literal) if literal else None
    name = None if ip else host.removesuffix(".")
    if name is not None and name in _host_list(policy.denied_hosts).names:
        raise FetchRefused(f"host {host} is denied for web-download")
    target = _Target(url=parsed.copy_with(fragment=None), host=host, name=name, ip=ip, port=port)
    if ip is not None:
        _check_address(target, ip, policy)
    return target


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host names literally, None for a DNS name; FetchRefused for neither."""
    if ":" in host:  # httpx has checked the brackets
        if "%" in host:
            raise FetchRefused(f"host {host}: IPv6 zone ids are not allowed")
        return ipaddress.IPv6Address(host)
    labels = host.removesuffix(".").split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # no top-level domain is numeric: an IPv4 address
        if len(labels) <= 4 and all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
            try:
                return ipaddress.IPv4Address(socket.inet_aton(host.removesuffix(".")))
            except OSError:
                pass
        raise FetchRefused(f"host {host} is not a valid IPv4 address")
    if not _is_name(host.removesuffix(".")):
        raise FetchRefused(f"host {host!r} is not a valid host name")
    return None


def _is_name(text: str) -> bool:
    return len(text) <= 253 and all(_LABEL.fullmatch(label) for label in text.split("."))


async def _addresses(target: _Target, policy: FetchPolicy, resolve: Resolver) -> list[IPAddress]:
    """The checked addresses to connect to, in the resolver's order."""
    if target.ip is not None:
        return [_unmapped(target.ip)]
    assert target.name is not None
    try:
        async with asyncio.timeout(policy.connect_timeout):
            found = await resolve(target.name, target.port)
    except TimeoutError:
        raise FetchFailed(f"looking up host {target.name} timed out") from None
    except OSError as exc:
        raise FetchFailed(f"cannot look up host {target.name}: {exc}") from None
    addresses = list(dict.fromkeys(_unmapped(ipaddress.ip_address(a)) for a in found))
    if not addresses:
        raise FetchFailed(f"host {target.name} has no address")
    for ip in addresses:
        _check_address(target, ip, policy)
    return addresses


def _check_address(target: _Target, ip: IPAddress, policy: FetchPolicy) -> None:
    """Deny list, then allow list, then public-only (the order the module docstring gives)."""
    subject = f"host {target.host}" + (f" ({ip})" if target.ip and str(ip) != target.host else "")
    resolved = f"host {target.name} resolves to" if target.name else f"{subject} is"
    candidates = [ip, *_embedded_ipv4(ip)]
    if any(_host_list(policy.denied_hosts).has_address(c) for c in candidates):
        raise FetchRefused(f"{resolved} a denied address; web-download may not fetch from it")
    allowed = _host_list(policy.allowed_hosts)
    if (target.name and target.name in allowed.names) or allowed.has_address(ip):
        return
    if not policy.public_hosts:
        raise FetchRefused(
            f"{subject} is not in {ALLOWED_HOSTS_OPTION}; web-download fetches only from there"
        )
    for candidate in candidates:
        kind = _non_public_kind(candidate)
        if kind:
            raise FetchRefused(
                f"{resolved} {kind}; web-download may only fetch from public hosts "
                f"(allow it in {ALLOWED_HOSTS_OPTION})"
            )


def _unmapped(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address is that IPv4 host."""
    return (ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else ip


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a v6 address leads to through a gateway (6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.sixtofour, ip.teredo and ip.teredo[1]) if a]
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _non_public_kind(ip: IPAddress) -> str | None:
    """Why `ip` is no public unicast address ("a private address" ...), or None."""
    for kind, hit in (
        ("an unspecified address", ip.is_unspecified),
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
        ("not a public address", not ip.is_global),
    ):
        if hit:
            return kind
    return None


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@lru_cache(maxsize=1)
def _default_tls() -> ssl.SSLContext:
    import httpx  # here, not at the top: see the TYPE_CHECKING import
    return httpx.create_ssl_context()


@asynccontextmanager
async def _request(
    target: _Target, addresses: Sequence[IPAddress], policy: FetchPolicy, tls: ssl.SSLContext
) -> AsyncIterator[httpx.Response]:
    """GET the target from the first checked address that accepts a connection."""
    import httpx  # here, not at the top: see the TYPE_CHECKING import
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    headers = {
        "Host": target.host_header,
        "User-Agent": _USER_AGENT,
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": target.name} if target.name else {}
    async with httpx.AsyncClient(verify=tls, trust_env=False, timeout=timeout) as client:
        failure: httpx.HTTPError | None = None
        for ip in addresses:
            pinned = target.url.copy_with(host=str(ip), port=target.port)
            request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
            try:
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
                continue
            try:
                yield response
            finally:
                await response.aclose()
            return
        reason = "timed out" if isinstance(failure, httpx.ConnectTimeout) else str(failure)
        raise FetchFailed(f"cannot connect to {target.shown}: {reason}")


def _location(target: _Target, response: httpx.Response) -> str:
    import httpx  # here, not at the top: see the TYPE_CHECKING import
    location = response.headers.get("location")
    if not location:
        raise FetchFailed(f"{target.shown} answered {response.status_code} with no Location")
    try:
        return str(target.url.join(location))
    except httpx.InvalidURL:
        raise FetchRefused(f"{target.shown} redirects to an invalid URL") from None


def _check_response(target: _Target, response: httpx.Response, policy: FetchPolicy) -> None:
    if not 200 <= response.status_code < 300:
        raise FetchFailed(
            f"{target.shown} answered {response.status_code} {response.reason_phrase}".rstrip()
        )
    length = response.headers.get("content-length")
    if length and length.isascii() and length.isdigit() and int(length) > policy.max_bytes:
        raise FetchFailed(
            f"{target.shown} announces {int(length)} bytes, "
            f"more than the {policy.max_bytes} allowed"
        )
