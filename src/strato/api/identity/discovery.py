"""Version discovery, as keystoneauth reads it: absolute self links, only v3 advertised.

Listing v2.0 at the root would make keystoneauth pick v2.0 for clouds without domain keys,
so the root lists v3 only; `/identity/v2.0` still answers for clients that call it directly.
"""

from __future__ import annotations

from typing import Any

V3_ID = "v3.14"
V3_UPDATED = "2020-04-07T00:00:00Z"
V3_MEDIA = [{"base": "application/json",
             "type": "application/vnd.openstack.identity-v3+json"}]
V2_MEDIA = [{"base": "application/json",
             "type": "application/vnd.openstack.identity-v2.0+json"}]


def v3_version(identity_url: str) -> dict[str, Any]:
    return {"id": V3_ID, "status": "stable", "updated": V3_UPDATED,
            "links": [{"rel": "self", "href": f"{identity_url}/v3/"}], "media-types": V3_MEDIA}


def v2_version(identity_url: str) -> dict[str, Any]:
    return {"id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
            "links": [{"rel": "self", "href": f"{identity_url}/v2.0/"}],
            "media-types": V2_MEDIA}


def root_document(identity_url: str) -> dict[str, Any]:
    return {"versions": {"values": [v3_version(identity_url)]}}
