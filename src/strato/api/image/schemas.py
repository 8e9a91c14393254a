"""The JSON schemas served under /v2/schemas/..., shaped as Glance shapes them.

python-glanceclient downloads these documents and validates with them (warlock/jsonschema):
the body of an image-create, the POST /v2/images response, the current image merged with an
image-update, every task and member it reads. It also builds its CLI options from the image
schema. So each document is the same data Glance serves: nullable fields declared
``["null", ...]``, custom image properties as strings through ``additionalProperties``, the
``disk_format``/``container_format`` enums taken from configuration.

Glance serves two shapes. "raw" (image, images, metadefs/*) closes the object with
``additionalProperties`` and carries ``links``; "minimal" (member(s), task(s)) leaves both out.
A collection moves its item's ``definitions`` to the top level, as Glance's does.

Validation goes through the ``jsonschema`` library, with the validator class that
``jsonschema.validate`` (and so Glance and warlock) picks for a document without ``$schema``.
Glance's 400 for a bad body reads "Provided object does not match schema '<name>': <reason>";
``SchemaError`` carries that message.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

DISK_FORMATS: tuple[str, ...] = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
)
CONTAINER_FORMATS: tuple[str, ...] = (
    "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed",
)
IMAGE_STATUSES: tuple[str, ...] = (
    "queued", "saving", "active", "killed", "deleted", "uploading", "importing",
    "pending_delete", "deactivated",
)
# Glance's order in the served enum.
VISIBILITIES: tuple[str, ...] = ("community", "public", "private", "shared")
MEMBER_STATUSES: tuple[str, ...] = ("pending", "accepted", "rejected")
TASK_STATUSES: tuple[str, ...] = ("pending", "processing", "success", "failure")
TASK_TYPES: tuple[str, ...] = ("import", "api_image_import", "location_import")

# Names a client may never set on an image (403 "Attribute '<name>' is reserved.").
# `locations` is reserved because locations stay hidden (Glance's default
# show_multiple_locations=False answers 403 for it on create and on PATCH alike).
RESERVED_PROPERTIES: frozenset[str] = frozenset({"location", "locations", "deleted", "deleted_at"})
# Names a client may not write (403 "Attribute '<name>' is read-only."). On create,
# CREATE_ONLY_PROPERTIES are allowed: a client may choose the id of a new image.
READ_ONLY_PROPERTIES: frozenset[str] = frozenset({
    "created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url",
    "self", "file", "schema", "id", "os_hash_algo", "os_hash_value", "stores",
})
CREATE_ONLY_PROPERTIES: frozenset[str] = frozenset({"id"})
# A property name starting with one of these is reserved (403), e.g. os_glance_import_task.
RESERVED_PREFIXES: tuple[str, ...] = ("os_glance",)

UUID_PATTERN = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
_PROPERTY_KEYS_DOC = "https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"

# The custom properties Glance ships in etc/schema-image.json, which packaged and devstack
# deployments install: they give glanceclient its --architecture, --os-distro, ... options.
DEFAULT_CUSTOM_PROPERTIES: Mapping[str, Mapping[str, Any]] = {
    "kernel_id": {
        "type": ["null", "string"],
        "pattern": UUID_PATTERN,
        "description": "ID of image stored in Glance that should be used as the kernel when "
                       "booting an AMI-style image.",
    },
    "ramdisk_id": {
        "type": ["null", "string"],
        "pattern": UUID_PATTERN,
        "description": "ID of image stored in Glance that should be used as the ramdisk when "
                       "booting an AMI-style image.",
    },
    "instance_uuid": {
        "type": "string",
        "description": "Metadata which can be used to record which instance this image is "
                       "associated with. (Informational only, does not create an instance "
                       "snapshot.)",
    },
    "architecture": {
        "description": f"Operating system architecture as specified in {_PROPERTY_KEYS_DOC}",
        "type": "string",
    },
    "os_distro": {
        "description": "Common name of operating system distribution as specified in "
                       f"{_PROPERTY_KEYS_DOC}",
        "type": "string",
    },
    "os_version": {
        "description": "Operating system version as specified by the distributor.",
        "type": "string",
    },
    "description": {
        "description": "A human-readable string describing this image.",
        "type": "string",
    },
}


class SchemaError(ValueError):
    """A document does not match a schema; str() is Glance's 400 explanation."""

    def __init__(self, message: str, *, schema: str, reason: str,
                 path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.schema = schema
        self.reason = reason
        self.path = path

    @property
    def attribute(self) -> str | None:
        """The top-level property at fault (None when the document itself is)."""
        return str(self.path[0]) if self.path else None


def _image_base_properties(disk_formats: Sequence[str], container_formats: Sequence[str],
                           multi_store: bool) -> dict[str, Any]:
    """The image's base properties; every image response carries each (null when unset)."""
    properties: dict[str, Any] = {
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image",
                 "maxLength": 255},
        "status": {"type": "string", "readOnly": True, "description": "Status of the image",
                   "enum": list(IMAGE_STATUSES)},
        "visibility": {"type": "string", "description": "Scope of image accessibility",
                       "enum": list(VISIBILITIES)},
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image list "
                                     "response."},
        "checksum": {"type": ["null", "string"], "readOnly": True,
                     "description": "md5 hash of image contents.", "maxLength": 32},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": True,
                         "description": "Algorithm to calculate the os_hash_value",
                         "maxLength": 64},
        "os_hash_value": {"type": ["null", "string"], "readOnly": True,
                          "description": "Hexdigest of the image contents using the algorithm "
                                         "specified by the os_hash_algo",
                          "maxLength": 128},
        "owner": {"type": ["null", "string"], "description": "Owner of the image",
                  "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": True,
                 "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                         "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "description": "Format of the container",
                             "enum": [None, *container_formats]},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
                        "enum": [None, *disk_formats]},
        "created_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": True,
                       "description": "URL to access the image file kept in external store"},
        "min_ram": {"type": "integer",
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": True, "description": "An image self url"},
        "file": {"type": "string", "readOnly": True, "description": "An image file url"},
        "stores": {"type": "string", "readOnly": True,
                   "description": "Store in which image data resides.  Only present when the "
                                  "operator has enabled multiple stores.  May be a "
                                  "comma-separated list of store identifiers."},
        "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                    "validation_data": {
                        "description": "Values to be used to populate the corresponding "
                                       "image properties. If the image status is not "
                                       "'queued', values must exactly match those already "
                                       "contained in the image properties.",
                        "type": "object",
                        "writeOnly": True,
                        "additionalProperties": False,
                        "properties": {
                            "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                            "os_hash_algo": {"type": "string", "maxLength": 64},
                            "os_hash_value": {"type": "string", "maxLength": 128},
                        },
                        "required": ["os_hash_algo", "os_hash_value"],
                    },
                },
                "required": ["url", "metadata"],
            },
            "description": "A set of URLs to access the image file kept in external store",
        },
    }
    if not multi_store:
        del properties["stores"]
    return properties


BASE_PROPERTIES: frozenset[str] = frozenset(
    _image_base_properties(DISK_FORMATS, CONTAINER_FORMATS, True))

_IMAGE_LINKS: list[dict[str, str]] = [
    {"rel": "self", "href": "{self}"},
    {"rel": "enclosure", "href": "{file}"},
    {"rel": "describedby", "href": "{schema}"},
]
_COLLECTION_LINKS: list[dict[str, str]] = [
    {"rel": "first", "href": "{first}"},
    {"rel": "next", "href": "{next}"},
    {"rel": "describedby", "href": "{schema}"},
]


def _raw(name: str, properties: dict[str, Any], *, additional: Any = False,
         required: list[str] | None = None, definitions: dict[str, Any] | None = None,
         links: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A closed object schema: Glance's Schema.raw()."""
    doc: dict[str, Any] = {"name": name, "properties": properties,
                           "additionalProperties": additional}
    if definitions:
        doc["definitions"] = definitions
    if required:
        doc["required"] = required
    if links:
        doc["links"] = links
    return doc


def _minimal(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """An open object schema without links: Glance's Schema.minimal()."""
    return {"name": name, "properties": properties}


def _collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A paged list of `item`; the item's definitions move to the top so $refs resolve."""
    item = copy.deepcopy(item)
    definitions = item.pop("definitions", None)
    doc: dict[str, Any] = {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": copy.deepcopy(_COLLECTION_LINKS),
    }
    if definitions:
        doc["definitions"] = definitions
    return doc


def _minimal_collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """An unpaged list of `item`, as members and tasks are served."""
    return {
        "name": name,
        "properties": {name: {"type": "array", "items": copy.deepcopy(item)},
                       "schema": {"type": "string"}},
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }


# --- members and tasks ---------------------------------------------------------------------

def _member_properties() -> dict[str, Any]:
    return {
        "member_id": {"type": "string",
                      "description": "An identifier for the image member (tenantId)"},
        "image_id": {"type": "string", "description": "An identifier for the image",
                     "pattern": UUID_PATTERN},
        "created_at": {"type": "string",
                       "description": "Date and time of image member creation"},
        "updated_at": {"type": "string",
                       "description": "Date and time of last modification of image member"},
        "status": {"type": "string", "description": "The status of this image member",
                   "enum": list(MEMBER_STATUSES)},
        "schema": {"readOnly": True, "type": "string"},
    }


def _task_properties() -> dict[str, Any]:
    """A task as GET /v2/tasks/{id} shows it.

    `message` is a plain string: Glance turns an empty message into "" (never null), so a
    server must send "" too or glanceclient rejects the task.
    """
    return {
        "id": {"description": "An identifier for the task", "pattern": UUID_PATTERN,
               "type": "string"},
        "type": {"description": "The type of task represented by this content",
                 "enum": list(TASK_TYPES), "type": "string"},
        "status": {"description": "The current status of this task",
                   "enum": list(TASK_STATUSES), "type": "string"},
        "input": {"description": "The parameters required by task, JSON blob",
                  "type": ["null", "object"]},
        "result": {"description": "The result of current task, JSON blob",
                   "type": ["null", "object"]},
        "owner": {"description": "An identifier for the owner of this task", "type": "string"},
        "message": {"description": "Human-readable informative message only included when "
                                   "appropriate (usually on failure)",
                    "type": "string"},
        "image_id": {"description": "Image associated with the task", "type": "string"},
        "request_id": {"description": "Human-readable informative request-id",
                       "type": "string"},
        "user_id": {"description": "User associated with the task", "type": "string"},
        "expires_at": {"description": "Datetime when this resource would be subject to removal",
                       "type": ["null", "string"]},
        "created_at": {"description": "Datetime when this resource was created",
                       "type": "string"},
        "updated_at": {"description": "Datetime when this resource was updated",
                       "type": "string"},
        "self": {"readOnly": True, "type": "string"},
        "schema": {"readOnly": True, "type": "string"},
    }


# --- metadata definitions ------------------------------------------------------------------

_METADEF_TYPES: list[str | None] = [
    "array", "boolean", "integer", "number", "object", "string", None,
]


def _metadef_property_fields() -> dict[str, Any]:
    """What one property definition of a namespace or object may say."""
    return {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": list(_METADEF_TYPES)},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": list(_METADEF_TYPES)},
                "enum": {"type": "array"},
            },
        },
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }


def _metadef_number_definitions(*, string_array_min_items: bool) -> dict[str, Any]:
    string_array: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if string_array_min_items:
        string_array["minItems"] = 1
    string_array["uniqueItems"] = True
    return {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {
            "allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}],
        },
        "stringArray": string_array,
    }


def _metadef_definitions() -> dict[str, Any]:
    """Shared by namespace and object: a map of property definitions under `property`."""
    definitions = _metadef_number_definitions(string_array_min_items=False)
    definitions["property"] = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": _metadef_property_fields(),
        },
    }
    return definitions


def _timestamps(what: str) -> dict[str, Any]:
    return {
        "created_at": {"type": "string", "readOnly": True,
                       "description": f"Date and time of {what} creation",
                       "format": "date-time"},
        "updated_at": {"type": "string", "readOnly": True,
                       "description": f"Date and time of the last {what} modification",
                       "format": "date-time"},
    }


def _namespace() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "namespace": {"type": "string", "description": "The unique namespace text.",
                      "maxLength": 80},
        "display_name": {"type": "string",
                         "description": "The user friendly name for the namespace. Used by UI "
                                        "if available.",
                         "maxLength": 80},
        "description": {"type": "string",
                        "description": "Provides a user friendly description of the namespace.",
                        "maxLength": 500},
        "visibility": {"type": "string", "description": "Scope of namespace accessibility.",
                       "enum": ["public", "private"]},
        "protected": {"type": "boolean",
                      "description": "If true, namespace will not be deletable."},
        "owner": {"type": "string", "description": "Owner of the namespace.", "maxLength": 255},
        **_timestamps("namespace"),
        "schema": {"readOnly": True, "type": "string"},
        "self": {"readOnly": True, "type": "string"},
        "resource_type_associations": {
            "type": "array",
            "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "prefix": {"type": "string"},
                "properties_target": {"type": "string"},
            }},
        },
        "properties": {"$ref": "#/definitions/property"},
        "objects": {
            "type": "array",
            "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "required": {"$ref": "#/definitions/stringArray"},
                "properties": {"$ref": "#/definitions/property"},
            }},
        },
        "tags": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    }
    return _raw("namespace", properties, required=["namespace"],
                definitions=_metadef_definitions())


def _resource_type() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": {"type": "string",
                 "description": "Resource type names should be aligned with Heat resource "
                                "types whenever possible: https://docs.openstack.org/heat/"
                                "latest/template_guide/openstack.html",
                 "maxLength": 80},
        "prefix": {"type": "string",
                   "description": "Specifies the prefix to use for the given resource type. "
                                  "Any properties in the namespace should be prefixed with "
                                  "this prefix when being applied to the specified resource "
                                  "type. Must include prefix separator (e.g. a colon :).",
                   "maxLength": 80},
        "properties_target": {"type": "string",
                              "description": "Some resource types allow more than one key / "
                                             "value pair per instance.  For example, Cinder "
                                             "allows user and image metadata on volumes. Only "
                                             "the image properties metadata is evaluated by "
                                             "Nova (scheduling or drivers). This property "
                                             "allows a namespace target to remove the "
                                             "ambiguity.",
                              "maxLength": 80},
        "created_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of resource type association",
                       "format": "date-time"},
        "updated_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of the last resource type association "
                                      "modification",
                       "format": "date-time"},
    }
    return _raw("resource_type_association", properties, required=["name"])


def _object() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": {"type": "string", "maxLength": 255},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": {"readOnly": True, "type": "string"},
        "self": {"readOnly": True, "type": "string"},
        **_timestamps("object"),
    }
    return _raw("object", properties, required=["name"], definitions=_metadef_definitions())


def _property(*, require_name: bool) -> dict[str, Any]:
    """One property definition; inside a properties map its name is the key, not a field."""
    required = ["type", "title", "name"] if require_name else ["type", "title"]
    return _raw("property", _metadef_property_fields(), required=required,
                definitions=_metadef_number_definitions(string_array_min_items=True))


def _properties() -> dict[str, Any]:
    item = _property(require_name=False)
    definitions = item.pop("definitions")
    return {
        "name": "properties",
        "properties": {
            "properties": {"type": "object", "additionalProperties": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": copy.deepcopy(_COLLECTION_LINKS),
        "definitions": definitions,
    }


def _tag() -> dict[str, Any]:
    properties: dict[str, Any] = {"name": {"type": "string", "maxLength": 255},
                                  **_timestamps("tag")}
    return _raw("tag", properties, required=["name"])


# --- the served set ------------------------------------------------------------------------

class Schemas:
    """Every document of /v2/schemas, for one configuration; built once, then shared."""

    def __init__(self, disk_formats: Sequence[str] = DISK_FORMATS,
                 container_formats: Sequence[str] = CONTAINER_FORMATS, *,
                 multi_store: bool = True,
                 custom_properties: Mapping[str, Mapping[str, Any]] | None = None,
                 additional_properties: bool = True) -> None:
        """`custom_properties` plays Glance's schema-image.json (None: the file Glance ships,
        {}: none). `multi_store=False` leaves out `stores`, which only multi-store fills.
        `additional_properties=False` is Glance's strict image schema: only the properties
        the schema names are accepted (400 for any other)."""
        self.additional_properties = additional_properties
        self.disk_formats = tuple(disk_formats)
        self.container_formats = tuple(container_formats)
        self.multi_store = multi_store
        chosen = DEFAULT_CUSTOM_PROPERTIES if custom_properties is None else custom_properties
        self.custom_properties: dict[str, dict[str, Any]] = {
            name: copy.deepcopy(dict(spec)) for name, spec in chosen.items()}
        self._documents: dict[str, dict[str, Any]] | None = None
        self._validators: dict[str, Any] = {}

    # Documents -------------------------------------------------------------------------

    def image_properties(self) -> dict[str, Any]:
        """Base properties merged with the custom ones (marked `is_base: false`)."""
        properties = _image_base_properties(self.disk_formats, self.container_formats,
                                            self.multi_store)
        for name, definition in self.custom_properties.items():
            if name in properties:
                # As Glance refuses to load a schema-image.json that redefines a base property.
                raise ValueError(f"custom property {name!r} conflicts with a base property")
            properties[name] = {**copy.deepcopy(dict(definition)), "is_base": False}
        return properties

    def _build(self) -> dict[str, dict[str, Any]]:
        image = _raw("image", self.image_properties(),
                     additional={"type": "string"} if self.additional_properties else False,
                     links=copy.deepcopy(_IMAGE_LINKS))
        member = _minimal("member", _member_properties())
        task = _minimal("task", _task_properties())
        # The list view of tasks leaves out input, result and message.
        task_stub = _minimal("task", {k: v for k, v in _task_properties().items()
                                      if k not in ("input", "result", "message")})
        namespace = _namespace()
        resource_type = _resource_type()
        metadef_object = _object()
        tag = _tag()
        return {
            "image": image,
            "images": _collection("images", image),
            "member": member,
            "members": _minimal_collection("members", member),
            "task": task,
            "tasks": _minimal_collection("tasks", task_stub),
            "metadefs/namespace": namespace,
            "metadefs/namespaces": _collection("namespaces", namespace),
            "metadefs/resource_type": resource_type,
            "metadefs/resource_types": _collection("resource_type_associations",
                                                   resource_type),
            "metadefs/object": metadef_object,
            "metadefs/objects": _collection("objects", metadef_object),
            "metadefs/property": _property(require_name=True),
            "metadefs/properties": _properties(),
            "metadefs/tag": tag,
            "metadefs/tags": _collection("tags", tag),
        }

    @property
    def names(self) -> tuple[str, ...]:
        """The names served, as in /v2/schemas/<name>."""
        return tuple(self._all())

    def _all(self) -> dict[str, dict[str, Any]]:
        if self._documents is None:
            self._documents = self._build()
        return self._documents

    def document(self, name: str) -> dict[str, Any] | None:
        """The schema served at /v2/schemas/<name>; None if unknown.

        The dict is shared between calls: serialise it, do not change it.
        """
        return self._all().get(name)

    # Validation ------------------------------------------------------------------------

    def _validator(self, name: str) -> Any:
        validator = self._validators.get(name)
        if validator is None:
            doc = self.document(name)
            if doc is None:
                raise KeyError(name)
            cls = jsonschema.validators.validator_for(doc)
            validator = self._validators[name] = cls(doc)
        return validator

    def validate(self, name: str, document: Any) -> None:
        """Check `document` against schema `name` as Glance's Schema.validate does.

        Raises SchemaError with the most relevant violation (jsonschema's best_match, the
        error jsonschema.validate raises); KeyError for an unknown schema name.
        """
        validator = self._validator(name)
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if error is None:
            return
        schema_name = str(validator.schema.get("name", name))
        path = tuple(error.absolute_path)
        reason = error.message
        if path:
            reason += " (on instance" + "".join(f"[{p!r}]" for p in path) + ")"
        raise SchemaError(f"Provided object does not match schema '{schema_name}': {reason}",
                          schema=schema_name, reason=reason, path=path)

    def validate_image(self, document: Mapping[str, Any]) -> None:
        """Check an image body (a create body, or {name: value} for one PATCH change):
        base-property types, enums, lengths, and string values for custom properties."""
        self.validate("image", dict(document))
