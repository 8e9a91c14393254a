"""The console's security properties, checked over real HTTP against a real server: CSRF,
cookie flags and contents, sign-out on revocation, framing and script policy, and no
credential in a URL or the server log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from strato.api.console.session import COOKIE, Sealer, load_key
from tests.harness import Server

PASSWORD = "testing"


@pytest.fixture
def console(server: Server) -> Iterator[httpx.Client]:
    """A client signed in to the console as `tester` (its CSRF token in `.csrf`)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        resp = client.post("/console/session",
                           json={"user": "tester", "password": PASSWORD, "project": "test"})
        assert resp.status_code == 200, resp.text
        client.csrf = resp.json()["csrf"]  # type: ignore[attr-defined]
        client.account = resp.json()["account"]  # type: ignore[attr-defined]
        yield client


def token_of(server: Server, client: httpx.Client) -> str:
    """The Keystone token sealed in the client's cookie, opened with the server's key."""
    session = Sealer(load_key(server.data_dir)).open(client.cookies[COOKIE])
    assert session is not None
    return session.token


def test_state_changes_need_the_csrf_token(console: httpx.Client, server: Server) -> None:
    container = f"csrf-{uuid.uuid4().hex[:8]}"
    path = f"/console/api/v1/{console.account}/{container}"  # type: ignore[attr-defined]
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        assert console.put(path, headers=headers).status_code == 403
        assert console.delete("/console/session", headers=headers).status_code == 403
        assert console.post("/console/tempurl", headers=headers,
                            json={"container": "c", "object": "o"}).status_code == 403
        assert console.post("/console/formpost", headers=headers,
                            json={"container": "c"}).status_code == 403
        assert console.put("/console/session/project", headers=headers,
                           json={"project_id": "x"}).status_code == 403
    assert console.get(path).status_code == 404  # nothing was created
    assert console.get("/console/session").status_code == 200  # nor signed out
    good = {"X-CSRF-Token": console.csrf}  # type: ignore[attr-defined]
    assert console.put(path, headers=good).status_code == 201
    assert console.delete(path, headers=good).status_code == 204


def test_sign_in_takes_only_json(server: Server) -> None:
    """A cross-site HTML form cannot post JSON, so it cannot sign a browser in."""
    resp = httpx.post(f"{server.url}/console/session",
                      data={"user": "tester", "password": PASSWORD, "project": "test"})
    assert resp.status_code == 415
    assert "set-cookie" not in resp.headers


def test_wrong_password_is_a_readable_401(server: Server) -> None:
    resp = httpx.post(f"{server.url}/console/session",
                      json={"user": "tester", "password": "nope", "project": "test"})
    assert resp.status_code == 401
    assert resp.json() == {"error": "Wrong user name, password or credential."}
    assert "set-cookie" not in resp.headers


def test_cookie_flags_and_contents(server: Server) -> None:
    resp = httpx.post(f"{server.url}/console/session",
                      json={"user": "tester", "password": PASSWORD, "project": "test"},
                      headers={"X-Forwarded-Proto": "https"})  # not a trusted proxy: ignored
    cookie = resp.headers["set-cookie"]
    flags = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
    assert flags == {"Path", "HttpOnly", "SameSite", "Max-Age"}  # no Secure over plain http
    assert "SameSite=Strict" in cookie and "Path=/console" in cookie
    value = resp.cookies[COOKIE]
    token = Sealer(load_key(server.data_dir)).open(value).token  # type: ignore[union-attr]
    assert PASSWORD not in value and token not in value
    assert token not in resp.text and PASSWORD not in resp.text
    # the sealed token is the user's own Keystone token: the Swift API takes it as such
    account = resp.json()["account"]
    assert httpx.head(f"{server.url}/v1/{account}",
                      headers={"X-Auth-Token": token}).status_code == 204


def test_cookie_is_secure_behind_a_trusted_tls_proxy(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(extra_args=("--trusted-proxies", "127.0.0.1"))
    resp = httpx.post(f"{srv.url}/console/session",
                      json={"user": "admin", "password": srv.passwords["admin"],
                            "project": "admin"},
                      headers={"X-Forwarded-Proto": "https"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["set-cookie"].endswith("; Secure")


def test_tampered_cookie_is_refused_and_cleared(console: httpx.Client) -> None:
    value = console.cookies[COOKIE]
    forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    resp = httpx.get(f"{console.base_url}/console/session", cookies={COOKIE: forged})
    assert resp.status_code == 401
    assert resp.headers["set-cookie"].startswith(f"{COOKIE}=;")


def test_revoked_token_signs_the_browser_out(console: httpx.Client, server: Server) -> None:
    token = token_of(server, console)
    resp = httpx.delete(f"{server.url}/identity/v3/auth/tokens",
                        headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert resp.status_code == 204
    resp = console.get(f"/console/api/v1/{console.account}")  # type: ignore[attr-defined]
    assert resp.status_code == 401
    assert "Max-Age=0" in resp.headers["set-cookie"]


def test_sign_out_revokes_the_token(console: httpx.Client, server: Server) -> None:
    token = token_of(server, console)
    resp = console.delete("/console/session",
                          headers={"X-CSRF-Token": console.csrf})  # type: ignore[attr-defined]
    assert resp.status_code == 204
    assert httpx.head(f"{server.url}/v1/{console.account}",  # type: ignore[attr-defined]
                      headers={"X-Auth-Token": token}).status_code == 401


def test_application_credential_sign_in(server: Server, tester: tuple[str, str]) -> None:
    token = tester[1]
    with httpx.Client(base_url=f"{server.url}/identity/v3", timeout=30,
                      headers={"X-Auth-Token": token}) as ks:
        user_id = ks.get("/auth/tokens", headers={"X-Subject-Token": token}
                         ).json()["token"]["user"]["id"]
        resp = ks.post(f"/users/{user_id}/application_credentials",
                       json={"application_credential": {"name": f"console-{uuid.uuid4().hex}"}})
        assert resp.status_code == 201, resp.text
        cred = resp.json()["application_credential"]
    resp = httpx.post(f"{server.url}/console/session",
                      json={"method": "application_credential", "id": cred["id"],
                            "secret": cred["secret"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == "tester" and resp.json()["project"] == "test"


def test_headers_forbid_framing_and_foreign_scripts(console: httpx.Client) -> None:
    for path in ("/console/", "/console/static/app.js", "/console/session"):
        resp = console.get(path)
        assert resp.status_code == 200
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
        csp = resp.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp


def test_objects_never_run_as_the_console(console: httpx.Client) -> None:
    """An uploaded HTML page, opened through the console, is sandboxed: no script of it runs
    with the console's origin."""
    container = f"html-{uuid.uuid4().hex[:8]}"
    base = f"/console/api/v1/{console.account}/{container}"  # type: ignore[attr-defined]
    csrf = {"X-CSRF-Token": console.csrf}  # type: ignore[attr-defined]
    assert console.put(base, headers=csrf).status_code == 201
    assert console.put(f"{base}/page.html", headers={**csrf, "Content-Type": "text/html"},
                       content=b"<script>fetch('/console/session')</script>").status_code == 201
    resp = console.get(f"{base}/page.html")
    assert resp.headers["content-security-policy"].startswith("sandbox;")
    assert resp.headers["x-frame-options"] == "DENY"
    resp = console.get(f"{base}/page.html", params={"download": "1"})
    assert resp.headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"
    # a preview may be framed by the console's own pages, and is still sandboxed
    resp = console.get(f"{base}/page.html", params={"preview": "1"})
    assert resp.status_code == 200
    assert resp.headers["content-security-policy"] == (
        "sandbox; default-src 'none'; frame-ancestors 'self'")
    assert resp.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-src 'self'" in console.get("/console/").headers["content-security-policy"]


def test_sharing_refuses_what_swift_would_not_honour(console: httpx.Client) -> None:
    """Out-of-range lifetimes, methods and limits get a sentence, not a signature."""
    csrf = {"X-CSRF-Token": console.csrf}  # type: ignore[attr-defined]
    for path, body, sentence in (
            ("/console/tempurl", {"container": "c", "object": "o", "seconds": 0},
             "The lifetime must be 1 s to 366 days."),
            ("/console/tempurl", {"container": "c", "prefix": "p/", "method": "DELETE"},
             "Give a container, an object or a prefix, and a method (GET, HEAD, PUT)."),
            ("/console/formpost", {"container": "c", "max_file_count": 0},
             "The number of files must be 1 to 1000."),
            ("/console/formpost", {"container": "c", "max_file_size": "lots"},
             "The largest file must be 1 byte to 5 GiB."),
            ("/console/formpost", {"container": "c", "redirect": "javascript:alert(1)"},
             "The redirect must be an http or https URL, or empty.")):
        resp = console.post(path, headers=csrf, json=body)
        assert resp.status_code == 400, resp.text
        assert resp.json() == {"error": sentence}


def test_upload_page_needs_no_session(server: Server) -> None:
    """Whoever has a form POST link may open the page; it carries the console's CSP."""
    resp = httpx.get(f"{server.url}/console/upload")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert "set-cookie" not in resp.headers


def test_no_credentials_in_urls_or_the_server_log(console: httpx.Client, server: Server
                                                 ) -> None:
    token = token_of(server, console)
    csrf = console.csrf  # type: ignore[attr-defined]
    console.get(f"/console/api/v1/{console.account}")  # type: ignore[attr-defined]
    console.put(f"/console/api/v1/{console.account}/logcheck",  # type: ignore[attr-defined]
                headers={"X-CSRF-Token": csrf})
    log = server.log_path.read_text(errors="replace")
    assert "/console/session" in log and "/console/api/v1/" in log  # the lines are there
    for secret in (PASSWORD, token, console.cookies[COOKIE], csrf):
        assert secret not in log
