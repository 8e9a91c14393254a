"""`GET /info`: the limits in force and the features present, as Swift's clients read them.

Each feature module registers its own section, so the document never claims a feature the
server does not have (openstacksdk and swiftclient choose their upload strategy from it).
"""

from __future__ import annotations

from typing import Any

from strato import __version__
from strato.api.swift import constraints as c
from strato.domain.policies import PolicySet

SWIFT_API_VERSION = "2.38.3"
"""The Swift release whose API Strato matches (its functional suite passes against Strato).
Clients parse `swift.version` as a dotted release number, so Strato's own version has a
section of its own."""


def policy_info(policies: PolicySet) -> list[dict[str, Any]]:
    """Swift's shape: name, every name comma-joined, `default` on the default only;
    deprecated policies are left out (clients must not pick them)."""
    entries = []
    for policy in policies:
        if policy.deprecated:
            continue
        entry: dict[str, Any] = {"name": policy.name, "aliases": ", ".join(policy.names)}
        if policy.default:
            entry["default"] = True
        entries.append(entry)
    return entries


class Capabilities:
    def __init__(self, max_file_size: int, policies: PolicySet) -> None:
        self._sections: dict[str, dict[str, Any]] = {
            "swift": {
                "version": SWIFT_API_VERSION,
                "max_file_size": max_file_size,
                "max_meta_name_length": c.MAX_META_NAME_LENGTH,
                "max_meta_value_length": c.MAX_META_VALUE_LENGTH,
                "max_meta_count": c.MAX_META_COUNT,
                "max_meta_overall_size": c.MAX_META_OVERALL_SIZE,
                "max_header_size": c.MAX_HEADER_SIZE,
                "extra_header_count": 0,
                "max_object_name_length": c.MAX_OBJECT_NAME_LENGTH,
                "max_container_name_length": c.MAX_CONTAINER_NAME_LENGTH,
                "max_account_name_length": c.MAX_ACCOUNT_NAME_LENGTH,
                "container_listing_limit": c.CONTAINER_LISTING_LIMIT,
                "account_listing_limit": c.ACCOUNT_LISTING_LIMIT,
                "account_autocreate": True,
                "allow_account_management": False,
                "valid_api_versions": ["v1"],
                "policies": policy_info(policies),
                "strict_cors_mode": True,
            },
            # Swift's functional suite and clients look for account ACL support here, where
            # tempauth (the v1.0 auth Strato also speaks) advertises it
            "tempauth": {"account_acls": True},
            "strato": {"version": __version__},
        }

    def register(self, name: str, section: dict[str, Any]) -> None:
        self._sections[name] = section

    def add_to(self, name: str, entries: dict[str, Any]) -> None:
        """Add keys to a section (`swift` holds proxy options such as allow_open_expired)."""
        self._sections.setdefault(name, {}).update(entries)

    def document(self) -> dict[str, Any]:
        return self._sections
