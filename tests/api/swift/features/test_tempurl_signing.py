"""Signature and expiry parsing, checked against what swiftclient itself generates."""

from __future__ import annotations

import base64
import hashlib
import hmac

from swiftclient.utils import generate_temp_url

from strato.api.swift.features.tempurl import parse_expires, parse_signature, sign


def test_hex_and_base64_forms_parse_to_the_same_digest() -> None:
    mac = hmac.new(b"k", b"GET\n1\n/v1/a/c/o", hashlib.sha512)
    b64 = base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
    assert parse_signature(mac.hexdigest()) == ("sha512", mac.hexdigest())
    assert parse_signature(f"sha512:{b64}") == ("sha512", mac.hexdigest())
    assert parse_signature("md5:abcd") is None and parse_signature("abc") is None
    assert parse_signature("z" * 40) is None


def test_matches_swiftclient_and_iso8601() -> None:
    for digest in ("sha1", "sha256", "sha512"):
        url = generate_temp_url("/v1/a/c/o", 1795312060, "k", "GET", absolute=True,
                                digest=digest)
        sig = url.split("temp_url_sig=")[1].split("&")[0]
        assert parse_signature(sig) == (digest, sign("k", digest, "GET", 1795312060,
                                                     "/v1/a/c/o"))
    assert parse_expires("2026-11-22T02:47:57Z") == 1795315677
    assert parse_expires("1795315677") == 1795315677
    assert parse_expires("tomorrow") is None
