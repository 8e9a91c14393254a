"""System metadata never crosses the client boundary, in either direction."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from strato.api.http import Request, Response
from strato.api.swift.context import SwiftRequest
from strato.api.swift.features.gatekeeper import Gatekeeper

FORGED = {"X-Object-Sysmeta-Slo-Size": "999999", "X-Object-Sysmeta-Slo-Etag": "forged",
          "X-Object-Transient-Sysmeta-Crypto": "x", "X-Backend-Storage-Policy-Index": "7",
          "X-Container-Sysmeta-Versions": "x", "X-Account-Sysmeta-Quota": "x"}


def test_forged_sysmeta_is_ignored_and_never_returned(tester: tuple[str, str]) -> None:
    url, token = tester
    http = httpx.Client(headers={"X-Auth-Token": token}, timeout=30)
    container = f"gk-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}", headers=FORGED).status_code == 201
    put = http.put(f"{url}/{container}/o", content=b"data",
                   headers={**FORGED, "X-Object-Meta-Kept": "yes"})
    assert put.status_code == 201
    assert http.post(f"{url}/{container}/o", headers=FORGED).status_code == 202
    assert http.post(url, headers=FORGED).status_code == 204
    for response in (http.get(f"{url}/{container}/o"), http.head(f"{url}/{container}"),
                     http.head(url), http.get(f"{url}/{container}/o?multipart-manifest=get")):
        assert not [h for h in response.headers if "sysmeta" in h.lower()
                    or h.lower().startswith("x-backend")], response.headers
    got = http.get(f"{url}/{container}/o")
    assert got.content == b"data" and "X-Static-Large-Object" not in got.headers
    listing = http.get(f"{url}/{container}?format=json").json()
    assert listing[0]["bytes"] == 4 and "slo_etag" not in listing[0]


def test_gatekeeper_strips_reserved_headers_both_ways() -> None:
    """Unit: even a feature that leaked sysmeta into a response is cut off at the door."""
    seen: dict[str, str] = {}

    async def downstream(sr: SwiftRequest) -> Response:
        seen.update(sr.headers)
        return Response(200, {"X-Account-Sysmeta-Secret": "s", "X-Backend-Foo": "b",
                              "X-Object-Meta-Fine": "f"})

    headers = {k.lower(): v for k, v in FORGED.items()}
    headers.update({"x-object-meta-fine": "f", "x-timestamp": "1"})
    request = Request({}, None, "PUT", "/v1/AUTH_x/c/o", {}, headers, "tx")  # type: ignore[arg-type]
    sr = SwiftRequest(request, None, "AUTH_x", "c", "o", None)  # type: ignore[arg-type]
    response = asyncio.run(Gatekeeper(None).handle(sr, downstream))  # type: ignore[arg-type]
    assert seen == {"x-object-meta-fine": "f"}
    assert response.headers == {"X-Object-Meta-Fine": "f"}
