"""An HTTP client that a test runs inside a network namespace (`ip netns exec NAME python
netns_client.py`), so that its requests leave from a host of their own: it reads one request
a line on stdin (JSON) and writes one answer a line on stdout (JSON).

Request: `{"method", "url", "headers", "body" (base64), "timeout"}`. Answer: `{"status",
"headers", "body" (base64), "seconds"}`, or `{"error", "seconds"}` when no answer came (refused,
reset, timed out). Each request goes on a fresh connection, as a client's first would.
Standard library only: it starts in a moment, whatever the test imports.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import time
import urllib.parse


def answer(request: dict[str, object]) -> dict[str, object]:
    url = urllib.parse.urlsplit(str(request["url"]))
    body = request.get("body")
    content = base64.b64decode(str(body)) if body is not None else None
    headers = request.get("headers") or {}
    assert isinstance(headers, dict)
    path = url.path + (f"?{url.query}" if url.query else "")
    started = time.monotonic()
    conn = http.client.HTTPConnection(url.hostname or "", url.port,
                                      timeout=float(str(request.get("timeout", 30))))
    try:
        conn.request(str(request["method"]), path, body=content, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - started}
    finally:
        conn.close()
    return {"status": resp.status, "headers": dict(resp.getheaders()),
            "body": base64.b64encode(data).decode(), "seconds": time.monotonic() - started}


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(answer(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
