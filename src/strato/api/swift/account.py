"""Account requests: HEAD, GET (container listing), POST (metadata)."""

from __future__ import annotations

import time
from dataclasses import replace

from strato.api.http import Response
from strato.api.swift.acl import ACCOUNT_ACL_HEADER, OWNER_HEADERS, clean_account_acl
from strato.api.swift.constraints import (
    ACCOUNT_LISTING_LIMIT,
    check_metadata,
    check_stored_metadata,
)
from strato.api.swift.context import SwiftRequest, account_domain
from strato.api.swift.errors import SwiftError
from strato.api.swift.headers import pick, removals, title_case, x_timestamp
from strato.api.swift.listing import (
    container_entry,
    listing_content_type,
    listing_format,
    listing_query,
    render,
)

META_PREFIXES = ("x-account-meta-",)
ACCOUNT_SYSMETA = "account_sysmeta"
"""`sr.state` key: dict of `x-account-sysmeta-*` a feature wants stored with a POST ("" removes
one)."""
RESERVED_END = "\x00\U0010ffff"
"""Every reserved (NUL-prefixed) container name sorts below this."""
LISTING_HOOKS = "account_listing_hooks"
"""`sr.state` key: list of `async hook(records, entries)` that adjust container listing
entries (`records` are the store's, in the same order as `entries`)."""


async def account_headers(sr: SwiftRequest) -> dict[str, str]:
    storage = sr.services.storage
    record = await storage.get_account(sr.account)
    stats = await storage.account_stats(sr.account)
    headers = {
        "X-Account-Container-Count": str(stats.container_count),
        "X-Account-Object-Count": str(stats.object_count),
        "X-Account-Bytes-Used": str(stats.bytes_used),
        "Accept-Ranges": "bytes",
    }
    for name, part in stats.per_policy.items():  # policies with containers, now or before
        prefix = f"X-Account-Storage-Policy-{name}"
        headers[f"{prefix}-Container-Count"] = str(part.container_count)
        headers[f"{prefix}-Object-Count"] = str(part.object_count)
        headers[f"{prefix}-Bytes-Used"] = str(part.bytes_used)
    # an account without a row yet exists implicitly (Swift's account_autocreate answers
    # with the current time too)
    domain = await account_domain(sr.services, sr.account)
    if domain is not None:  # as keystoneauth records it for the account's project
        headers["X-Account-Project-Domain-Id"] = domain
    created = record.created_at if record is not None else time.time()
    headers["X-Timestamp"] = x_timestamp(created)
    headers["X-Put-Timestamp"] = x_timestamp(created)
    if record is not None:
        for key, value in record.meta.items():
            if key in OWNER_HEADERS and not sr.is_owner:
                continue
            headers[title_case(key)] = value
    return headers


async def handle_account(sr: SwiftRequest) -> Response:
    method = sr.request.method
    if not sr.is_owner and not (sr.account_reader and method in ("HEAD", "GET")):
        raise sr.services.authorizer.deny(sr.auth)
    if method in ("HEAD", "GET"):
        headers = await account_headers(sr)
        if method == "HEAD":
            headers["Content-Type"] = listing_content_type(listing_format(sr.request))
            headers["Content-Length"] = "0"
            return Response(204, headers)
        fmt = listing_format(sr.request)
        query = listing_query(sr.request, ACCOUNT_LISTING_LIMIT)
        # names starting with NUL are reserved for features (hidden containers)
        if query.reverse:
            query = replace(query, end_marker=max(query.end_marker, RESERVED_END))
        else:
            query = replace(query, marker=max(query.marker, RESERVED_END))
        entries = await sr.services.storage.list_containers(sr.account, query)
        policy_of = sr.services.storage.policy_of
        rows = [container_entry(e, policy_of) for e in entries]
        for hook in sr.state.get(LISTING_HOOKS, ()):
            await hook(entries, rows)
        return render(fmt, "account", sr.account, rows, headers)
    if method == "POST":
        check_metadata(sr.headers, "account")
        set_meta = pick(sr.headers, META_PREFIXES)
        if ACCOUNT_ACL_HEADER in sr.headers:
            set_meta[ACCOUNT_ACL_HEADER] = clean_account_acl(sr.headers[ACCOUNT_ACL_HEADER])
        remove = removals(sr.headers, "account")
        set_meta.update(sr.state.get(ACCOUNT_SYSMETA, {}))
        current = await sr.services.storage.get_account(sr.account)
        merged = {**(current.meta if current else {}), **set_meta}
        check_stored_metadata({k: v for k, v in merged.items() if v and k not in remove},
                              "account")
        await sr.services.storage.update_account(sr.account, set_meta, remove)
        headers = await account_headers(sr)
        headers["Content-Type"] = "text/html; charset=UTF-8"
        return Response(204, headers)
    raise SwiftError(405, headers={"Allow": "HEAD, GET, POST"})
