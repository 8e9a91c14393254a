"""web-download's fetcher against real servers on 127.0.0.1: streaming, limits, and the SSRF
guard. Nothing here ever connects anywhere but 127.0.0.1: refusals of other addresses happen
before any connection (a guard around httpx fails the test otherwise), and names resolve
through a fake resolver."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import socket
import ssl
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.domain.images.fetch import (
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    Resolver,
    check_url,
    fetch,
)

pytestmark = pytest.mark.timeout(30)

LOCAL = FetchPolicy(allowed_ports=(), allowed_hosts=("127.0.0.1",))
UNREACHABLE = "192.0.2.1"  # TEST-NET: the guard below fails its connections without trying

Handler = Callable[[str, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request the fetcher sends must go to 127.0.0.1 (or UNREACHABLE, failed here)."""
    real = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        if request.url.host == UNREACHABLE:
            raise httpx.ConnectError("connection refused (simulated)", request=request)
        assert request.url.host == "127.0.0.1", f"a test tried to reach {request.url}"
        return await real(self, request, **kw)

    monkeypatch.setattr(httpx.AsyncClient, "send", send)


@dataclass
class Loopback:
    """A one-request-per-connection HTTP/1.1 server on 127.0.0.1 and what it saw."""

    port: int = 0
    connections: int = 0
    heads: list[str] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Loopback]:
    seen = Loopback()
    tasks: set[asyncio.Task[Any]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            seen.heads.append(head)
            await handler(head, reader, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: seen.sni.append(name)  # type: ignore[assignment]
    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=tls)
    seen.port = server.sockets[0].getsockname()[1]
    try:
        yield seen
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def response(status: str = "200 OK", body: bytes | None = b"", **headers: str) -> bytes:
    """A whole response; body None sends no Content-Length (the body is the rest)."""
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def answer(data: bytes) -> Handler:
    async def handle(_head: str, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)

    return handle


def routes(table: dict[str, bytes]) -> Handler:
    async def handle(head: str, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = head.split(" ", 2)[1]
        writer.write(table.get(path, response("404 Not Found")))

    return handle


def dns(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 20)

    return asyncio.run(bounded())


async def collect(url: str, policy: FetchPolicy = LOCAL, **kw: Any) -> bytes:
    return b"".join([chunk async for chunk in fetch(url, policy, **kw)])


async def refused(url: str, policy: FetchPolicy = LOCAL, **kw: Any) -> str:
    with pytest.raises(FetchRefused) as exc:
        await collect(url, policy, **kw)
    return str(exc.value)


async def failed(url: str, policy: FetchPolicy = LOCAL, **kw: Any) -> str:
    with pytest.raises(FetchFailed) as exc:
        await collect(url, policy, **kw)
    return str(exc.value)


# --- streaming and limits ----------------------------------------------------------------


def test_streams_a_large_body_in_chunks_without_holding_it() -> None:
    size, block = 20 << 20, 64 << 10
    blocks = [i.to_bytes(4, "big") * (block // 4) for i in range(size // block)]
    sent = hashlib.sha256(b"".join(blocks)).hexdigest()

    async def handle(_h: str, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(response(body=None, Content_Length=str(size)))
        for data in blocks:
            writer.write(data)
            await writer.drain()

    async def main() -> tuple[str, int, int]:
        async with serve(handle) as srv:
            digest, chunks, largest = hashlib.sha256(), 0, 0
            tracemalloc.start()
            try:
                async for chunk in fetch(srv.url("/big"), LOCAL, chunk_size=256 << 10):
                    digest.update(chunk)
                    chunks += 1
                    largest = max(largest, len(chunk))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert largest <= 256 << 10
            return digest.hexdigest(), chunks, peak

    digest, chunks, peak = run(main())
    assert digest == sent
    assert chunks >= size // (256 << 10)
    assert peak < 8 << 20, f"peak {peak} bytes: the body was buffered"


def test_announced_length_over_the_limit_fails_before_reading() -> None:
    async def handle(_h: str, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(response(body=None, Content_Length=str(10**9)))
        await asyncio.sleep(30)  # no body comes: a fetcher that reads would time out instead

    async def main() -> str:
        async with serve(handle) as srv:
            return await failed(srv.url(), FetchPolicy(**_local(max_bytes=1000)))

    started = time.monotonic()
    assert "announces 1000000000 bytes, more than the 1000 allowed" in run(main())
    assert time.monotonic() - started < 5


def test_body_past_the_limit_without_length_fails_while_streaming() -> None:
    async def handle(_h: str, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(response(body=None))
        for _ in range(10):
            writer.write(b"x" * 100)
            await writer.drain()

    async def main() -> tuple[bytes, str, bytes]:
        async with serve(handle) as srv, serve(answer(response(body=b"y" * 250))) as exact:
            policy = FetchPolicy(**_local(max_bytes=250))
            got = bytearray()
            with pytest.raises(FetchFailed) as exc:
                async for chunk in fetch(srv.url(), policy, chunk_size=100):
                    got += chunk
            return bytes(got), str(exc.value), await collect(exact.url(), policy)

    got, message, exact = run(main())
    assert got == b"x" * 200  # the chunk that crossed the limit was not handed out
    assert "more than the 250 bytes allowed" in message
    assert exact == b"y" * 250


def test_a_server_that_stalls_mid_body_times_out() -> None:
    async def handle(_h: str, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(response(body=None, Content_Length="100") + b"0123456789")
        await writer.drain()
        await asyncio.sleep(30)

    async def main() -> tuple[bytes, str]:
        async with serve(handle) as srv:
            got = bytearray()
            with pytest.raises(FetchFailed) as exc:
                async for chunk in fetch(srv.url(), FetchPolicy(**_local(read_timeout=0.3))):
                    got += chunk
            return bytes(got), str(exc.value)

    started = time.monotonic()
    got, message = run(main())
    assert time.monotonic() - started < 5
    assert "timed out" in message
    assert got in (b"", b"0123456789")


def test_closing_the_stream_early_closes_the_connection() -> None:
    async def main() -> bool:
        closed = asyncio.Event()

        async def handle(_h: str, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(response(body=None, Content_Length=str(1 << 30)) + b"x" * (1 << 16))
            await w.drain()
            await reader.read()  # returns once the client has closed
            closed.set()

        async with serve(handle) as srv:
            async with aclosing(fetch(srv.url(), LOCAL, chunk_size=1024)) as stream:
                async for _ in stream:
                    break
            await asyncio.wait_for(closed.wait(), 5)
            return closed.is_set()

    assert run(main())


@pytest.mark.parametrize(
    ("status", "shown"), [("404 Not Found", "404 Not Found"), ("500 Oops", "500 Oops")]
)
def test_non_2xx_fails_with_the_status(status: str, shown: str) -> None:
    async def main() -> str:
        async with serve(answer(response(status, b"nope"))) as srv:
            return await failed(srv.url("/image.qcow2?sig=secret"))

    message = run(main())
    assert f"/image.qcow2 answered {shown}" in message
    assert "secret" not in message


def test_connection_and_lookup_failures_fail() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the fetch: nothing listens
    assert "cannot connect" in run(failed(f"http://127.0.0.1:{port}/"))
    assert "cannot look up host nowhere.test" in run(
        failed("http://nowhere.test/", resolve=dns({}))
    )


# --- what is refused before any connection -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.1.2.3/", "host 10.1.2.3 is a private address"),
        ("http://192.168.1.1/", "private address"),
        ("http://172.16.0.1/", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address"),
        ("http://[::1]/", "loopback address"),
        ("http://0.0.0.0/", "unspecified address"),
        ("http://[::]/", "unspecified address"),
        ("http://[::ffff:127.0.0.1]/", "host ::ffff:127.0.0.1 (127.0.0.1) is a loopback"),
        ("http://[::ffff:10.0.0.1]/", "private address"),
        ("http://2130706433/", "host 2130706433 (127.0.0.1) is a loopback address"),
        ("http://0x7f.1/", "(127.0.0.1) is a loopback"),
        ("http://0177.0.0.1/", "not a valid URL"),
        ("http://017700000001/", "(127.0.0.1) is a loopback"),
        ("http://127.1/", "(127.0.0.1) is a loopback"),
        ("http://127.0.0.1./", "loopback"),
        ("http://224.0.0.1/", "multicast address"),
        ("http://100.64.0.1/", "not a public address"),
        ("http://[fe80::1]/", "link-local address"),
        ("http://[fc00::1]/", "private address"),
        ("http://[64:ff9b::a00:1]/", "web-download may only fetch from public hosts"),
        ("http://[2002:a00:1::]/", "web-download may only fetch from public hosts"),
        ("http://1.2.3.4.5/", "not a valid IPv4 address"),
        ("http://files.123/", "not a valid IPv4 address"),
        ("http://exa%20mple.com/", "not a valid host name"),
        ("http://[fe80::1%25eth0]/", "zone ids are not allowed"),
        ("http:///image", "names no host"),
        ("ftp://example.com/image", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("data:text/plain,hello", "scheme 'data' is not allowed"),
        ("gopher://example.com/", "scheme 'gopher' is not allowed"),
        ("//example.com/image", "a URL without a scheme is not allowed"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://example.com:8080/", "port 8080 is not allowed"),
        ("http://example.com:0/", "port 0 is not a valid port"),
    ],
)
def test_refused_before_any_lookup_or_connection(url: str, why: str) -> None:
    calls: list[str] = []
    with pytest.raises(FetchRefused) as exc:
        check_url(url, FetchPolicy())
    assert why in str(exc.value)
    assert why in run(refused(url, FetchPolicy(), resolve=dns({}, calls)))
    assert calls == []


def test_the_refusal_reads_well() -> None:
    assert run(refused("http://10.0.0.5/image", FetchPolicy())) == (
        "host 10.0.0.5 is a private address; web-download may only fetch from public hosts "
        "(allow it in image_import_allowed_hosts)"
    )


def test_public_urls_pass_the_static_check() -> None:
    for url in (
        "http://example.com/image.qcow2",
        "HTTPS://Example.COM:443/a?b=c#fragment",
        "https://bücher.example/image",
        "http://8.8.8.8/",
        "http://[2001:4860:4860::8888]/",
    ):
        check_url(url, FetchPolicy())


def test_loopback_is_refused_unless_allowed() -> None:
    async def main() -> tuple[str, bytes, Loopback, Loopback]:
        async with serve(answer(response(body=b"image"))) as srv:
            why = await refused(srv.url(), FetchPolicy(allowed_ports=()))
            before = Loopback(connections=srv.connections)
            return why, await collect(srv.url("/image")), before, srv

    why, body, before, srv = run(main())
    assert "host 127.0.0.1 is a loopback address" in why
    assert before.connections == 0
    assert body == b"image"
    assert srv.heads[0].startswith("GET /image HTTP/1.1\r\n")
    assert f"\r\nhost: 127.0.0.1:{srv.port}\r\n" in srv.heads[0].lower()


def test_allowed_hosts_still_obey_allowed_ports() -> None:
    policy = FetchPolicy(allowed_hosts=("127.0.0.1",))  # ports 80 and 443
    assert "port 8000 is not allowed" in run(refused("http://127.0.0.1:8000/", policy))


# --- names: every address checked, connection pinned to a checked one -----------------


def test_a_name_is_resolved_once_and_the_connection_pinned_to_its_checked_address() -> None:
    calls: list[str] = []

    async def main() -> tuple[bytes, Loopback]:
        async with serve(answer(response(body=b"ok"))) as srv:
            resolve = dns({"images.test": ["127.0.0.1"]}, calls)
            return await collect(srv.url("/x", host="images.test"), resolve=resolve), srv

    body, srv = run(main())
    assert body == b"ok"
    assert calls == ["images.test"]  # httpx never looked the name up (it could not have)
    assert f"\r\nhost: images.test:{srv.port}\r\n" in srv.heads[0].lower()


def test_a_name_with_one_forbidden_address_is_refused() -> None:
    resolve = dns({"evil.test": ["10.0.0.1"], "mixed.test": ["127.0.0.1", "10.0.0.1"]})

    async def main() -> tuple[str, str, int]:
        async with serve(answer(response(body=b"ok"))) as srv:
            evil = await refused(srv.url(host="evil.test"), resolve=resolve)
            mixed = await refused(srv.url(host="mixed.test"), resolve=resolve)
            return evil, mixed, srv.connections

    evil, mixed, connections = run(main())
    assert evil.startswith("host evil.test resolves to a private address;")
    assert "10.0.0.1" not in evil  # what internal names resolve to stays private
    assert mixed.startswith("host mixed.test resolves to a private address;")
    assert connections == 0


def test_a_listed_name_allows_what_it_resolves_to_and_public_hosts_can_be_turned_off() -> None:
    resolve = dns({"mirror.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    only_mirror = FetchPolicy(allowed_ports=(), allowed_hosts=("mirror.test",), public_hosts=False)

    async def main() -> tuple[bytes, str, str]:
        async with serve(answer(response(body=b"ok"))) as srv:
            return (
                await collect(srv.url(host="mirror.test"), only_mirror, resolve=resolve),
                await refused(srv.url(host="other.test"), only_mirror, resolve=resolve),
                await refused("http://8.8.8.8/", only_mirror),
            )

    body, other, public = run(main())
    assert body == b"ok"
    assert "not in image_import_allowed_hosts" in other
    assert "host 8.8.8.8 is not in image_import_allowed_hosts" in public


def test_a_denial_wins_over_an_allowed_cidr() -> None:
    calls: list[str] = []
    resolve = dns({"images.test": ["127.0.0.1"]}, calls)
    loopback = {"allowed_ports": (), "allowed_hosts": ("127.0.0.0/8",)}
    by_ip = FetchPolicy(**loopback, denied_hosts=("127.0.0.1",))
    by_net = FetchPolicy(**loopback, denied_hosts=("127.0.0.0/24",))
    by_name = FetchPolicy(**loopback, denied_hosts=("images.test",))
    assert "denied" in run(refused("http://127.0.0.1:8000/", by_ip))
    assert "denied" in run(refused("http://[::ffff:127.0.0.1]:8000/", by_net))
    assert "resolves to a denied address" in run(
        refused("http://images.test:8000/", by_ip, resolve=resolve)
    )
    assert calls == ["images.test"]
    assert "host images.test is denied" in run(
        refused("http://images.test:8000/", by_name, resolve=resolve)
    )
    assert calls == ["images.test"]  # a denied name is not even looked up


def test_the_next_checked_address_is_tried_when_one_does_not_connect() -> None:
    policy = FetchPolicy(allowed_ports=(), allowed_hosts=("127.0.0.1", UNREACHABLE))

    async def main() -> bytes:
        async with serve(answer(response(body=b"ok"))) as srv:
            resolve = dns({"images.test": [UNREACHABLE, "127.0.0.1"]})
            return await collect(srv.url(host="images.test"), policy, resolve=resolve)

    assert run(main()) == b"ok"


def test_non_ascii_names_are_looked_up_in_idna_form() -> None:
    calls: list[str] = []

    async def main() -> tuple[bytes, Loopback]:
        async with serve(answer(response(body=b"ok"))) as srv:
            resolve = dns({"xn--bcher-kva.test": ["127.0.0.1"]}, calls)
            return await collect(srv.url(host="bücher.test"), resolve=resolve), srv

    body, srv = run(main())
    assert body == b"ok"
    assert calls == ["xn--bcher-kva.test"]
    assert f"\r\nhost: xn--bcher-kva.test:{srv.port}\r\n" in srv.heads[0].lower()


# --- redirects -------------------------------------------------------------------------------


def test_redirects_are_followed_and_every_hop_checked() -> None:
    calls: list[str] = []
    resolve = dns({"evil.test": ["10.0.0.1"]}, calls)

    async def main() -> tuple[bytes, list[str], int]:
        table = {
            "/start": response("302 Found", Location="/middle"),
            "/middle": response("307 Temporary Redirect", Location="/final"),
            "/final": response(body=b"done"),
            "/to-private": response("302 Found", Location="http://10.1.2.3/x"),
            "/to-metadata": response("301 Moved", Location="http://169.254.169.254/"),
            "/to-name": response("302 Found", Location="http://evil.test/x"),
            "/to-file": response("302 Found", Location="file:///etc/passwd"),
            "/to-creds": response("302 Found", Location="http://u:p@127.0.0.1/"),
            "/no-location": response("302 Found"),
        }
        async with serve(routes(table)) as srv:
            body = await collect(srv.url("/start"), resolve=resolve)
            hops = len(srv.heads)
            whys = [
                await refused(srv.url(path), resolve=resolve)
                for path in ("/to-private", "/to-metadata", "/to-name", "/to-file", "/to-creds")
            ]
            whys.append(await failed(srv.url("/no-location")))
            return body, whys, hops

    body, whys, hops = run(main())
    assert (body, hops) == (b"done", 3)
    assert whys[0] == (
        "redirected to http://10.1.2.3/x: host 10.1.2.3 is a private address; web-download "
        "may only fetch from public hosts (allow it in image_import_allowed_hosts)"
    )
    assert "host 169.254.169.254 is a link-local address" in whys[1]
    assert "host evil.test resolves to a private address" in whys[2]
    assert "scheme 'file' is not allowed" in whys[3]
    assert "user name or password" in whys[4]
    assert "302 with no Location" in whys[5]
    assert calls == ["evil.test"]


def test_a_redirect_loop_stops_at_max_redirects() -> None:
    async def main() -> tuple[str, int]:
        async with serve(answer(response("302 Found", Location="/loop"))) as srv:
            why = await failed(srv.url("/loop"), FetchPolicy(**_local(max_redirects=3)))
            return why, len(srv.heads)

    why, requests = run(main())
    assert "redirects more than 3 times" in why
    assert requests == 4


# --- policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"allowed_hosts": ("127.0.0.1:8000",)},
        {"denied_hosts": ("not a host",)},
        {"allowed_hosts": ("bücher.example",)},
        {"allowed_schemes": ("ftp",)},
        {"allowed_ports": (0,)},
        {"read_timeout": 0},
    ],
)
def test_a_bad_policy_fails_when_made(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FetchPolicy(**settings)


def test_a_policy_takes_lists_from_configuration() -> None:
    policy = FetchPolicy(allowed_hosts=["10.0.0.0/8", "Mirror.Example."], allowed_ports=[8080])  # type: ignore[arg-type]
    assert policy.allowed_hosts == ("10.0.0.0/8", "Mirror.Example.")
    check_url("http://10.1.2.3:8080/", policy)
    hash(policy)


# --- https: SNI and certificate checked against the name, not the pinned IP ----------------


def test_https_verifies_the_name_while_connecting_to_the_checked_address() -> None:
    server_tls, client_tls = _tls_pair("images.test")
    resolve = dns({"images.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})

    async def main() -> tuple[bytes, str, Loopback]:
        async with serve(answer(response(body=b"secure")), server_tls) as srv:
            body = await collect(
                srv.url(host="images.test", scheme="https"), resolve=resolve, ssl_context=client_tls
            )
            wrong = await failed(
                srv.url(host="other.test", scheme="https"), resolve=resolve, ssl_context=client_tls
            )
            return body, wrong, srv

    body, wrong, srv = run(main())
    assert body == b"secure"
    assert srv.sni[0] == "images.test"
    assert "certificate" in wrong.lower()
    assert f"\r\nhost: images.test:{srv.port}\r\n" in srv.heads[0].lower()


def _tls_pair(name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `name`: the server's context and a client's trusting it."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cert.pem").write_bytes(pem)
        (Path(tmp) / "key.pem").write_bytes(key_pem)
        server.load_cert_chain(Path(tmp) / "cert.pem", Path(tmp) / "key.pem")
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


def _local(**overrides: Any) -> dict[str, Any]:
    """LOCAL's settings with some changed."""
    settings = {"allowed_ports": (), "allowed_hosts": ("127.0.0.1",)}
    return settings | overrides
