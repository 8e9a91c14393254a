"""Temp URL and form POST signatures and expiry parsing, checked against what swiftclient
itself generates."""

from __future__ import annotations

import base64
import hashlib
import hmac

from swiftclient.utils import generate_temp_url

from strato.domain.signatures import (
    MAX_EXPIRES,
    form_signature,
    key_bytes,
    parse_expires,
    parse_signature,
    sign,
)


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


def test_expiry_bound_is_the_last_representable_second() -> None:
    assert parse_expires(str(MAX_EXPIRES)) == MAX_EXPIRES
    assert parse_expires(str(MAX_EXPIRES + 1)) is None
    assert parse_expires("9999-12-31T23:59:59Z") == MAX_EXPIRES
    # before the epoch: long expired and no HTTP date (the fuzzer's find), so refused
    assert parse_expires("0") == 0
    assert parse_expires("-1") is None
    assert parse_expires("-77777777777777") is None


def test_ip_range_is_signed_and_keys_beyond_latin1_are_utf8() -> None:
    expected = hmac.new(b"k", b"ip=127.0.0.1\nGET\n1\n/v1/a/c/o", hashlib.sha256).hexdigest()
    assert sign("k", "sha256", "GET", 1, "/v1/a/c/o", "127.0.0.1") == expected
    assert sign("k", "sha256", "GET", 1, "/v1/a/c/o") != expected
    assert key_bytes("clé") == "clé".encode("latin-1")  # a header value's raw bytes
    assert key_bytes("ключ") == "ключ".encode()


def test_form_post_signs_its_fields_in_swifts_order() -> None:
    expected = hmac.new(b"k", b"/v1/a/c/p/\n\n1024\n3\n1795312060", hashlib.sha512).hexdigest()
    assert form_signature("k", "sha512", "/v1/a/c/p/", "", "1024", "3",
                          "1795312060") == expected
