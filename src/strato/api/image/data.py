"""Image data and import: `/file`, `/stage`, `/import`, `/v2/info/*`, `/v2/stores/*` and the
tasks API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from strato.api.bodies import blob_body
from strato.api.http import BadRequest as HttpBadRequest
from strato.api.http import ClientDisconnect, Response, is_digits, json_response
from strato.api.image.context import ImageRequest, read_json
from strato.api.image.errors import MethodNotAllowed
from strato.api.image.schemas import SchemaError
from strato.api.image.views import task_view
from strato.api.swift.ranges import Unsatisfiable, parse_range
from strato.domain.images.model import BadRequest, NotFound, RangeNotSatisfiable

OCTET_STREAM = "application/octet-stream"


def _declared_size(ir: ImageRequest) -> int | None:
    value = ir.request.headers.get("x-openstack-image-size")
    if value is None:
        return None
    if not is_digits(value.strip()):
        raise BadRequest(f"Invalid x-openstack-image-size: {value!r}")
    return int(value)


def _check_body_type(ir: ImageRequest) -> None:
    media = (ir.request.headers.get("content-type") or OCTET_STREAM).split(";")[0].strip()
    if media.lower() != OCTET_STREAM:
        raise UnsupportedMedia(f"Unsupported Content-Type {media}: image data must be "
                               f"{OCTET_STREAM}")


class UnsupportedMedia(BadRequest):
    status = 415


async def _body(ir: ImageRequest) -> Any:
    try:
        async for chunk in ir.request.stream():
            yield chunk
    except HttpBadRequest as exc:
        raise BadRequest(str(exc)) from None


async def file(ir: ImageRequest, image_id: str) -> Response:
    method = ir.request.method
    if method == "PUT":
        _check_body_type(ir)
        try:
            await ir.api.images.upload(ir.caller, image_id, _body(ir),
                                       declared_size=_declared_size(ir),
                                       store=ir.request.headers.get("x-image-meta-store"))
        except ClientDisconnect:
            return Response(499)
        return Response(204)
    if method in ("GET", "HEAD"):
        return await _download(ir, image_id)
    raise MethodNotAllowed("GET, HEAD, PUT")


async def _download(ir: ImageRequest, image_id: str) -> Response:
    prefer = ir.request.query.get("prefer")
    image, record, reader = await ir.api.images.download(
        ir.caller, image_id, [s.strip() for s in prefer.split(",")] if prefer else ())
    if record is None or reader is None:
        return Response(204)
    length = record.size
    headers = {"Content-Type": OCTET_STREAM}
    if image.checksum:
        headers["Content-MD5"] = image.checksum
    range_header = ir.request.headers.get("range")
    if range_header and "," in range_header:
        reader.close()
        raise BadRequest("Multiple ranges are not supported")
    try:
        ranges = parse_range(range_header, length)
    except Unsatisfiable:
        reader.close()
        raise RangeNotSatisfiable(f"Requested range {range_header} not satisfiable for an "
                                  f"image of {length} bytes") from None
    if not ranges:
        return Response(200, headers, blob_body(reader, 0, length), content_length=length)
    start, end = ranges[0]
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
    return Response(206, headers, blob_body(reader, start, end), content_length=end - start)


async def stage(ir: ImageRequest, image_id: str) -> Response:
    if ir.request.method != "PUT":
        raise MethodNotAllowed("PUT")
    _check_body_type(ir)
    try:
        await ir.api.images.stage(ir.caller, image_id, _body(ir),
                                  declared_size=_declared_size(ir))
    except ClientDisconnect:
        return Response(499)
    return Response(204)


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"'{key}' must be a boolean")
    return value


async def start_import(ir: ImageRequest, image_id: str) -> Response:
    if ir.request.method != "POST":
        raise MethodNotAllowed("POST")
    body = await read_json(ir.request)
    if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
        raise BadRequest("Import request requires a 'method' field.")
    stores = body.get("stores")
    header_store = ir.request.headers.get("x-image-meta-store")
    if stores is None and header_store:
        stores = [header_store]
    if stores is not None and (not isinstance(stores, list)
                               or not all(isinstance(s, str) for s in stores)):
        raise BadRequest("'stores' must be a list of store identifiers")
    all_stores = _bool(body, "all_stores", False)
    if all_stores and stores:
        raise BadRequest("All stores is set to true and stores are provided")
    await ir.api.imports.start_import(
        ir.caller, image_id, body["method"], stores, all_stores,
        _bool(body, "all_stores_must_succeed", True))
    return Response(202)


async def info(ir: ImageRequest, what: str) -> Response:
    if ir.request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed("GET")
    if what == "import":
        return json_response(200, {"import-methods": {
            "description": "Import methods available.", "type": "array",
            "value": list(ir.api.images.config.import_methods)}})
    if what == "stores":
        return json_response(200, {"stores": [
            {"id": name, "description": f"Strato storage policy {name}",
             **({"default": True} if default else {})}
            for name, default in ir.api.images.stores()]})
    raise NotFound(f"Unknown info {what}")


async def store_image(ir: ImageRequest, store: str, image_id: str) -> Response:
    if ir.request.method != "DELETE":
        raise MethodNotAllowed("DELETE")
    await ir.api.images.delete_from_store(ir.caller, image_id, store)
    return Response(204)


async def tasks(ir: ImageRequest, task_id: str | None) -> Response:
    if not ir.caller.admin and not ir.api.tasks_for_everyone:
        from strato.domain.images.model import Forbidden
        raise Forbidden("You are not authorized to complete tasks_api_access action.")
    method = ir.request.method
    if task_id is not None:
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed("GET")
        return json_response(200, task_view(await ir.api.imports.get_task(ir.caller,
                                                                          task_id)))
    if method == "POST":
        body = await read_json(ir.request)
        if not isinstance(body, dict) or not isinstance(body.get("type"), str) or \
                not isinstance(body.get("input"), dict):
            raise BadRequest("Task requires 'type' (a string) and 'input' (an object)")
        properties = body["input"].get("image_properties")
        if isinstance(properties, dict):
            try:
                ir.api.schemas.validate_image(properties)
            except SchemaError as exc:
                raise BadRequest(f"Invalid image_properties: {exc}") from None
        task = await ir.api.imports.create_task(ir.caller, body["type"], body["input"])
        return json_response(201, task_view(task),
                             {"Location": f"{ir.api.image_url}/v2/tasks/{task.id}"})
    if method in ("GET", "HEAD"):
        return await _task_list(ir)
    raise MethodNotAllowed("GET, POST")


async def _task_list(ir: ImageRequest) -> Response:
    single = dict(ir.params)
    try:
        limit = min(int(single.get("limit", 20)), 1000)
    except ValueError:
        raise BadRequest("limit param must be an integer") from None
    if limit < 0:  # SQLite reads a negative LIMIT as none at all
        raise BadRequest("limit param must be positive")
    marker = None
    if "marker" in single:
        marker = await ir.api.meta.get_task(single["marker"])
        if marker is None:
            raise BadRequest(f"Invalid marker. Task {single['marker']} could not be found.")
    try:
        records = await ir.api.meta.list_tasks(
            owner=None if ir.caller.admin else ir.caller.project_id,
            status=single.get("status"), type=single.get("type"),
            sort_key=single.get("sort_key", "created_at"),
            sort_dir=single.get("sort_dir", "desc"), marker=marker, limit=limit)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    doc: dict[str, Any] = {"tasks": [task_view(t, full=False) for t in records],
                           "first": "/v2/tasks", "schema": "/v2/schemas/tasks"}
    if records and len(records) == limit:
        rest = [(k, v) for k, v in ir.params if k != "marker"]
        doc["next"] = "/v2/tasks?" + urlencode([*rest, ("marker", records[-1].id)])
    return json_response(200, doc)


async def image_tasks(ir: ImageRequest, image_id: str) -> Response:
    if ir.request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed("GET")
    await ir.api.images.get(ir.caller, image_id)
    records = await ir.api.meta.list_tasks(owner=None, image_id=image_id, limit=1000)
    return json_response(200, {"tasks": [task_view(t) for t in records]})
