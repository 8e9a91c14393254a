"""Sharing from the console: temp URLs (for one object, or every object under a prefix)
and form POST uploads, signed with the account's temp URL key.

The key is read (or, the first time, set to a fresh random one) through the Swift API with
the signed-in user's own token, so only users Swift shows the key to can sign anything; the
signing itself is `strato.domain.signatures`, the same code the Swift front-end checks with.

- `POST /console/tempurl` `{container, object | prefix, method, seconds}` → `{url, expires,
  method}`. With `prefix` the URL names the prefix and carries `temp_url_prefix`: append any
  object name under it to the path (Swift signs `prefix:/v1/<account>/<container>/<prefix>`).
- `POST /console/formpost` `{container, prefix, seconds, max_file_size, max_file_count,
  redirect}` → the form's fields and its `url`. The console links them to `/console/upload`
  (a page that needs no sign-in) in the URL's fragment, which browsers never send to a
  server nor put in a `Referer`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from strato.api.http import Response
from strato.domain.signatures import form_signature, sign

TEMPURL_KEY = "x-account-meta-temp-url-key"
OBJECT_METHODS = ("GET", "PUT", "HEAD")
PREFIX_METHODS = ("GET", "HEAD", "PUT")
MAX_SECONDS = 366 * 86400
MAX_FILE_SIZE = 5 * 2**30
MAX_FILE_COUNT = 1000
DIGEST = "sha256"

SwiftCall = Callable[[str, str, dict[str, str]], Awaitable[Response]]
"""(method, path, headers) → the Swift front-end's answer, as the signed-in user."""


class Refused(Exception):
    """A request the console answers with `status` and the sentence in the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(form: dict[str, Any], name: str, default: int, low: int, high: int,
            message: str) -> int:
    value = form.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Refused(400, message)
    try:
        number = int(value)
    except ValueError:
        raise Refused(400, message) from None
    if not low <= number <= high:
        raise Refused(400, message)
    return number


async def account_key(call: SwiftCall, account_path: str) -> str:
    """The account's temp URL key; a fresh random one is set if it has none."""
    head = await call("HEAD", account_path, {})
    if head.status >= 300:
        raise Refused(head.status, "You may not read this account's temp URL key.")
    key = {k.lower(): v for k, v in head.headers.items()}.get(TEMPURL_KEY)
    if key:
        return key
    key = secrets.token_urlsafe(32)
    post = await call("POST", account_path, {TEMPURL_KEY: key})
    if post.status >= 300:
        raise Refused(post.status, "Could not set a temp URL key on the account.")
    return key


async def temp_url(call: SwiftCall, account_path: str, form: dict[str, Any]
                   ) -> dict[str, Any]:
    container, obj = _text(form, "container"), _text(form, "object")
    raw_prefix = form.get("prefix")
    prefix = raw_prefix if isinstance(raw_prefix, str) else None
    method = _text(form, "method") or "GET"
    methods = PREFIX_METHODS if prefix is not None else OBJECT_METHODS
    seconds = _number(form, "seconds", 3600, 1, MAX_SECONDS,
                      "The lifetime must be 1 s to 366 days.")
    if not container or (prefix is None and not obj) or method not in methods:
        raise Refused(400, "Give a container, an object or a prefix, and a method "
                      f"({', '.join(methods)}).")
    key = await account_key(call, account_path)
    expires = int(time.time()) + seconds
    if prefix is not None:
        path = f"{account_path}/{container}/{prefix}"
        signature = sign(key, DIGEST, method, expires, f"prefix:{path}")
        query = {"temp_url_sig": signature, "temp_url_expires": expires,
                 "temp_url_prefix": prefix}
    else:
        path = f"{account_path}/{container}/{obj}"
        signature = sign(key, DIGEST, method, expires, path)
        query = {"temp_url_sig": signature, "temp_url_expires": expires}
    return {"url": quote(path) + "?" + urlencode(query), "expires": expires,
            "method": method, "prefix": prefix}


async def form_post(call: SwiftCall, account_path: str, form: dict[str, Any]
                    ) -> dict[str, Any]:
    container = _text(form, "container")
    raw_prefix = form.get("prefix", "")
    prefix = raw_prefix if isinstance(raw_prefix, str) else ""
    redirect = _text(form, "redirect")
    seconds = _number(form, "seconds", 86400, 1, MAX_SECONDS,
                      "The lifetime must be 1 s to 366 days.")
    size = _number(form, "max_file_size", 100 * 2**20, 1, MAX_FILE_SIZE,
                   "The largest file must be 1 byte to 5 GiB.")
    count = _number(form, "max_file_count", 10, 1, MAX_FILE_COUNT,
                    f"The number of files must be 1 to {MAX_FILE_COUNT}.")
    if not container:
        raise Refused(400, "Give a container.")
    if redirect and (urlsplit(redirect).scheme not in ("http", "https")
                     or not urlsplit(redirect).netloc or "\n" in redirect):
        raise Refused(400, "The redirect must be an http or https URL, or empty.")
    key = await account_key(call, account_path)
    expires = int(time.time()) + seconds
    path = f"{account_path}/{container}" + (f"/{prefix}" if prefix else "")
    signature = form_signature(key, DIGEST, path, redirect, str(size), str(count),
                               str(expires))
    return {"url": quote(path), "container": container, "prefix": prefix,
            "redirect": redirect, "max_file_size": size, "max_file_count": count,
            "expires": expires, "signature": signature}
