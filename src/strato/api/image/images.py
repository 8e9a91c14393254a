"""`/v2/images`: create, list, show, JSON-patch update, delete, tags, actions and members.

Request bodies are checked against the same schemas the server serves under /v2/schemas
(glanceclient validates its own requests with them), so a client sees one rule set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from strato.api.http import Response, json_response
from strato.api.image.context import ImageRequest, read_json
from strato.api.image.errors import MethodNotAllowed, error_response
from strato.api.image.schemas import (
    CREATE_ONLY_PROPERTIES,
    READ_ONLY_PROPERTIES,
    RESERVED_PREFIXES,
    RESERVED_PROPERTIES,
    SchemaError,
)
from strato.api.image.views import image_view, member_view
from strato.domain.images.model import BadRequest, Conflict, Forbidden, NotFound
from strato.domain.images.service import CREATE_ATTRIBUTES, UPDATABLE
from strato.stores.metadata.records import ImageFilter, ImageQuery

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
OPERATORS = ("in", "eq", "neq", "gt", "gte", "lt", "lte")
NUMBER_FILTERS = ("size", "virtual_size", "min_disk", "min_ram")
TIME_FILTERS = ("created_at", "updated_at")
BOOL_FILTERS = ("protected", "os_hidden")
BASE_FILTERS = ("name", "status", "owner", "checksum", "os_hash_value", "os_hash_algo",
                "container_format", "disk_format", "id", *NUMBER_FILTERS, *TIME_FILTERS,
                *BOOL_FILTERS)
LIST_CONTROLS = ("limit", "marker", "sort_key", "sort_dir", "sort", "visibility",
                 "member_status", "tag", "size_min", "size_max")


def check_writable(name: str, *, creating: bool) -> None:
    """Glance's 403 for attributes a client may not write (reserved ones, read-only ones,
    the server's own `os_glance*` notes); 400 for a name past Glance's 255 characters."""
    if len(name) > 255:
        raise BadRequest(f"Property name '{name[:32]}...' is longer than 255 characters")
    if name in RESERVED_PROPERTIES or name.startswith(RESERVED_PREFIXES):
        raise Forbidden(f"Attribute '{name}' is reserved.")
    if name in READ_ONLY_PROPERTIES and not (creating and name in CREATE_ONLY_PROPERTIES):
        raise Forbidden(f"Attribute '{name}' is read-only.")


def _validate(ir: ImageRequest, document: dict[str, Any]) -> None:
    try:
        ir.api.schemas.validate_image(document)
    except SchemaError as exc:
        raise BadRequest(str(exc)) from None


async def create(ir: ImageRequest) -> Response:
    body = await read_json(ir.request)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    for name in body:
        check_writable(name, creating=True)
    _validate(ir, body)
    attributes = {k: v for k, v in body.items() if k in CREATE_ATTRIBUTES}
    properties = {k: v for k, v in body.items() if k not in CREATE_ATTRIBUTES}
    image = await ir.api.images.create(ir.caller, attributes, properties)
    headers = {"Location": f"{ir.api.image_url}/v2/images/{image.id}"}
    headers.update(ir.api.import_headers())
    return json_response(201, image_view(image), headers)


async def show(ir: ImageRequest, image_id: str) -> Response:
    return json_response(200, image_view(await ir.api.images.get(ir.caller, image_id)))


def _filter(name: str, raw: str) -> ImageFilter:
    op, values = "eq", [raw]
    head, sep, rest = raw.partition(":")
    if sep and head in OPERATORS:
        op = head
        values = rest.split(",") if op == "in" else [rest]
    converted = [_convert(name, v) for v in values]
    attribute = name if name in BASE_FILTERS else f"properties.{name}"
    return ImageFilter(attribute, op, tuple(converted))


def _convert(name: str, value: str) -> Any:
    if name in NUMBER_FILTERS:
        try:
            return int(value)
        except ValueError:
            raise BadRequest(f"Invalid value for {name}: {value!r} is not an integer") \
                from None
    if name in TIME_FILTERS:
        from datetime import UTC, datetime
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"Invalid time format for {name}: {value!r}") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if name in BOOL_FILTERS:
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise BadRequest(f"Invalid value for {name}: {value!r} is not a boolean")
        return int(lowered in ("true", "1", "yes"))
    return value


def _sort(params: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    sort = [v for k, v in params if k == "sort"]
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    if sort and (keys or dirs):
        raise BadRequest("The 'sort' parameter can't be combined with sort_key/sort_dir.")
    pairs: list[tuple[str, str]] = []
    if sort:
        for item in ",".join(sort).split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Number of sort dirs does not match the number of sort keys")
        keys = keys or ["created_at"]  # Glance's default key takes a lone sort_dir
        for i, key in enumerate(keys):
            pairs.append((key, dirs[i] if i < len(dirs) else (dirs[0] if dirs else "desc")))
    for key, direction in pairs:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
        if key not in ("name", "status", "container_format", "disk_format", "size", "id",
                       "created_at", "updated_at"):
            raise BadRequest(f"Invalid sort key: {key}. It should be one of the following: "
                             "name, status, container_format, disk_format, size, id, "
                             "created_at, updated_at.")
    if not any(key == "created_at" for key, _ in pairs):
        pairs.append(("created_at", pairs[-1][1] if pairs else "desc"))
    return tuple(pairs)


async def index(ir: ImageRequest) -> Response:
    params = ir.params
    single = dict(params)
    try:
        limit = int(single.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise BadRequest("limit param must be positive")
    limit = min(limit, MAX_LIMIT)
    visibility = single.get("visibility")
    if visibility not in (None, "public", "private", "shared", "community", "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = single.get("member_status", "accepted")
    if member_status not in ("accepted", "pending", "rejected", "all"):
        raise BadRequest(f"Invalid status value: {member_status}")
    filters: list[ImageFilter] = []
    for key, value in params:
        if key in LIST_CONTROLS:
            continue
        filters.append(_filter(key, value))
    if "size_min" in single:
        filters.append(ImageFilter("size", "gte", (_convert("size", single["size_min"]),)))
    if "size_max" in single:
        filters.append(ImageFilter("size", "lte", (_convert("size", single["size_max"]),)))
    if "os_hidden" not in single:
        filters.append(ImageFilter("os_hidden", "eq", (0,)))
    marker = None
    if "marker" in single:
        try:
            marker = await ir.api.images.get(ir.caller, single["marker"])
        except NotFound:
            raise BadRequest(f"Invalid marker. Image {single['marker']} could not be "
                             "found.") from None
    query = ImageQuery(viewer=None, visibility=visibility, member_status=member_status,
                       filters=tuple(filters), tags=tuple(v for k, v in params if k == "tag"),
                       sort=_sort(params), marker=marker, limit=limit)
    images = await ir.api.images.list(ir.caller, query)
    doc: dict[str, Any] = {"images": [image_view(i) for i in images], "first": "/v2/images",
                           "schema": "/v2/schemas/images"}
    if images and len(images) == limit:
        rest = [(k, v) for k, v in params if k != "marker"]
        doc["next"] = "/v2/images?" + urlencode([*rest, ("marker", images[-1].id)])
    return json_response(200, doc)


def _pointer(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or (path.count("/") != 1 \
            and not path.startswith("/locations")):
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    name = path[1:].replace("~1", "/").replace("~0", "~")
    if not name:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return name


def _operations(ir: ImageRequest, body: Any, media_type: str) -> list[tuple[str, str, Any]]:
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    ops = []
    for raw in body:
        if not isinstance(raw, dict):
            raise BadRequest("Operations must be JSON objects.")
        if media_type == PATCH_V20:
            found = [k for k in ("add", "remove", "replace") if k in raw]
            if len(found) != 1:
                raise BadRequest("Operation objects must contain exactly one of \"add\", "
                                 "\"remove\", \"replace\".")
            op, path = found[0], raw[found[0]]
        else:
            op, path = str(raw.get("op")), raw.get("path")
            if op not in ("add", "remove", "replace"):
                raise BadRequest(f"Invalid operation: `{op}`: expected add, remove or "
                                 "replace.")
        if op != "remove" and "value" not in raw:
            raise BadRequest(f"Operation \"{op}\" requires a member named \"value\".")
        name = _pointer(path)
        ops.append((op, name, raw.get("value")))
    return ops


async def update(ir: ImageRequest, image_id: str) -> Response:
    media_type = (ir.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type not in (PATCH_V21, PATCH_V20):
        return _unsupported_media()
    ops = _operations(ir, await read_json(ir.request), media_type)
    image = await ir.api.images.get(ir.caller, image_id)
    attributes: dict[str, Any] = {}
    properties: dict[str, str] = {}
    removed: list[str] = []
    for op, name, value in ops:
        if name.startswith("locations") or name in ("location", "direct_url"):
            raise Forbidden(f"Attribute '{name.split('/')[0]}' is reserved.")
        check_writable(name, creating=False)
        if name in UPDATABLE:
            if op == "remove":
                raise Forbidden(f"Attribute '{name}' can't be removed.")
            _validate(ir, {name: value})
            attributes[name] = tuple(value) if name == "tags" else value
            continue
        if op == "remove":
            if name in properties:
                del properties[name]
            elif name in image.properties and name not in removed:
                removed.append(name)
            else:
                raise Conflict(f"Property {name} does not exist.")
            continue
        if op == "replace" and name not in image.properties and name not in properties:
            raise Conflict(f"Property {name} does not exist.")
        _validate(ir, {name: value})
        properties[name] = value
        if name in removed:
            removed.remove(name)
    updated = await ir.api.images.update(ir.caller, image_id, attributes, properties,
                                         removed)
    return json_response(200, image_view(updated))


def _unsupported_media() -> Response:
    return error_response(415, "Unsupported Content-Type: use "
                          f"{PATCH_V21}", {"Accept-Patch": f"{PATCH_V21}, {PATCH_V20}"})


async def delete(ir: ImageRequest, image_id: str) -> Response:
    await ir.api.images.delete(ir.caller, image_id)
    return Response(204)


async def tag(ir: ImageRequest, image_id: str, value: str) -> Response:
    if ir.request.method == "PUT":
        if len(value) > 255:
            raise BadRequest("Tag is too long: at most 255 characters")
        await ir.api.images.add_tag(ir.caller, image_id, value)
    elif ir.request.method == "DELETE":
        await ir.api.images.delete_tag(ir.caller, image_id, value)
    else:
        raise MethodNotAllowed("PUT, DELETE")
    return Response(204)


async def action(ir: ImageRequest, image_id: str, name: str) -> Response:
    if ir.request.method != "POST":
        raise MethodNotAllowed("POST")
    if name == "deactivate":
        await ir.api.images.deactivate(ir.caller, image_id)
    elif name == "reactivate":
        await ir.api.images.reactivate(ir.caller, image_id)
    else:
        raise NotFound(f"Unknown action {name}")
    return Response(204)


async def members(ir: ImageRequest, image_id: str, member: str | None) -> Response:
    method = ir.request.method
    service = ir.api.images
    if member is None:
        if method == "GET":
            records = await service.members(ir.caller, image_id)
            return json_response(200, {"members": [member_view(m) for m in records],
                                       "schema": "/v2/schemas/members"})
        if method == "POST":
            body = await read_json(ir.request)
            if not isinstance(body, dict) or not isinstance(body.get("member"), str) or \
                    not body["member"] or len(body["member"]) > 255:
                raise BadRequest("Member to be added not specified")
            record = await service.add_member(ir.caller, image_id, body["member"])
            return json_response(200, member_view(record))
        raise MethodNotAllowed("GET, POST")
    if method == "GET":
        return json_response(200, member_view(await service.member(ir.caller, image_id,
                                                                   member)))
    if method == "PUT":
        body = await read_json(ir.request)
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise BadRequest("Status not specified")
        record = await service.update_member(ir.caller, image_id, member, body["status"])
        return json_response(200, member_view(record))
    if method == "DELETE":
        await service.remove_member(ir.caller, image_id, member)
        return Response(204)
    raise MethodNotAllowed("GET, PUT, DELETE")
