"""The conditional-request rules themselves, case by case, without a server: which status a
GET/HEAD answers instead of 200. The server-level tests (test_conditional.py) show the wiring;
these pin every comparison, so an off-by-one in a date or a lost precedence fails here."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from strato.api.swift.conditional import evaluate

ETAG = "0123456789abcdef0123456789abcdef"
T = 1_700_000_000.25  # stored with sub-second precision; HTTP dates are whole seconds
MODIFIED = 1_700_000_001  # what a Last-Modified header shows: the timestamp rounded up


def date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


@pytest.mark.parametrize(("headers", "status"), [
    ({}, None),
    ({"if-match": ETAG}, None),
    ({"if-match": f'"{ETAG}"'}, None),
    ({"if-match": f'W/"{ETAG}"'}, None),
    ({"if-match": f'"other", "{ETAG}"'}, None),
    ({"if-match": f'"other",{ETAG}'}, None),
    ({"if-match": "*"}, None),
    ({"if-match": '"other"'}, 412),
    ({"if-match": ""}, 412),  # an empty list matches nothing
    ({"if-none-match": ETAG}, 304),
    ({"if-none-match": f'"x", W/"{ETAG}"'}, 304),
    ({"if-none-match": f'"x",W/"{ETAG}"'}, 304),
    ({"if-none-match": "*"}, 304),
    ({"if-none-match": '"other"'}, None),
    ({"if-none-match": ""}, None),
    # If-Match is checked first: a failed one is 412 even when If-None-Match would be 304
    ({"if-match": '"other"', "if-none-match": ETAG}, 412),
    ({"if-modified-since": date(MODIFIED)}, 304),
    ({"if-modified-since": date(MODIFIED + 1)}, 304),
    ({"if-modified-since": date(MODIFIED - 1)}, None),
    ({"if-modified-since": "not a date"}, None),
    # If-None-Match present: If-Modified-Since is not looked at (RFC 9110 13.2.2)
    ({"if-none-match": '"other"', "if-modified-since": date(MODIFIED)}, None),
    ({"if-unmodified-since": date(MODIFIED)}, None),
    ({"if-unmodified-since": date(MODIFIED + 1)}, None),
    ({"if-unmodified-since": date(MODIFIED - 1)}, 412),
    ({"if-unmodified-since": "yesterday"}, None),
    ({"if-none-match": '"other"', "if-unmodified-since": date(MODIFIED - 1)}, 412),
    ({"if-modified-since": date(MODIFIED), "if-unmodified-since": date(MODIFIED - 1)}, 304),
])
def test_status_instead_of_200(headers: dict[str, str], status: int | None) -> None:
    assert evaluate(headers, ETAG, T) == status


def test_whole_second_timestamps_are_not_rounded_up() -> None:
    assert evaluate({"if-modified-since": date(1_700_000_000)}, ETAG, 1_700_000_000.0) == 304
    assert evaluate({"if-unmodified-since": date(1_700_000_000)}, ETAG,
                    1_700_000_000.0) is None
