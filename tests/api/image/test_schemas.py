"""The /v2/schemas documents: valid JSON Schema, accepting what Glance returns, usable by
glanceclient (warlock models, CLI options), and rejecting bad image bodies as Glance does."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from strato.api.image.schemas import (
    BASE_PROPERTIES,
    CONTAINER_FORMATS,
    CREATE_ONLY_PROPERTIES,
    DISK_FORMATS,
    IMAGE_STATUSES,
    READ_ONLY_PROPERTIES,
    RESERVED_PREFIXES,
    RESERVED_PROPERTIES,
    VISIBILITIES,
    SchemaError,
    Schemas,
)

NAMES = (
    "image", "images", "member", "members", "task", "tasks",
    "metadefs/namespace", "metadefs/namespaces", "metadefs/resource_type",
    "metadefs/resource_types", "metadefs/object", "metadefs/objects", "metadefs/property",
    "metadefs/properties", "metadefs/tag", "metadefs/tags",
)
IMAGE_ID = "1bea47ed-f6a9-463b-b423-14b9cca9ad27"
TASK_ID = "bb480de2-7077-4ea9-bbe9-be1891290d3e"


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas()


def glance_image(**changes: Any) -> dict[str, Any]:
    """An image as Glance's GET/POST returns it: every base field, nulls where unset."""
    image: dict[str, Any] = {
        "id": IMAGE_ID, "name": "cirros", "status": "queued", "visibility": "shared",
        "protected": False, "os_hidden": False, "checksum": None, "os_hash_algo": None,
        "os_hash_value": None, "owner": "5ef70662f8b34079a6eddb8da9d75fe8", "size": None,
        "virtual_size": None, "min_ram": 0, "min_disk": 0, "disk_format": "qcow2",
        "container_format": "bare", "created_at": "2026-11-22T01:50:21Z",
        "updated_at": "2026-11-22T01:50:21Z", "tags": [],
        "self": f"/v2/images/{IMAGE_ID}", "file": f"/v2/images/{IMAGE_ID}/file",
        "schema": "/v2/schemas/image",
        "owner_specified.openstack.md5": "",
    }
    image.update(changes)
    return image


def active_image() -> dict[str, Any]:
    return glance_image(
        status="active", size=16338944, virtual_size=117440512,
        checksum="443b7623e27ecf03dc9e01ee93f67afe", os_hash_algo="sha512",
        os_hash_value="6513f21e44aa3da349f248188a44bc304a3653a04122d8fb4535423c8e1d14cd6a153f7"
                      "35bb0982e2161b5b5186106570c17a9e58b64dd39390617cd5a350f78",
        stores="swift", tags=["test"], os_distro="cirros")


def pending_task(**changes: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": TASK_ID, "type": "import", "status": "pending",
        "input": {"import_from": "images/cirros.img", "import_from_format": "qcow2",
                  "image_properties": {"name": "cirros", "disk_format": "qcow2",
                                       "container_format": "bare"}},
        "result": None, "owner": "5ef70662f8b34079a6eddb8da9d75fe8", "message": "",
        "expires_at": None, "created_at": "2026-11-22T01:50:21Z",
        "updated_at": "2026-11-22T01:50:21Z", "self": f"/v2/tasks/{TASK_ID}",
        "schema": "/v2/schemas/task",
    }
    task.update(changes)
    return task


def success_task() -> dict[str, Any]:
    return pending_task(status="success", result={"image_id": IMAGE_ID},
                        expires_at="2026-11-24T01:50:40Z", updated_at="2026-11-22T01:50:40Z",
                        image_id=IMAGE_ID, request_id="req-1", user_id="u1")


def errors(doc: dict[str, Any], instance: Any) -> list[str]:
    """Messages of every violation, with the validator class jsonschema.validate would use."""
    cls = jsonschema.validators.validator_for(doc)
    return [e.message for e in cls(doc).iter_errors(instance)]


# --- the documents as JSON Schema ---------------------------------------------------------

def test_the_served_names(schemas: Schemas) -> None:
    assert sorted(schemas.names) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_document_is_a_draft4_schema(schemas: Schemas, name: str) -> None:
    doc = schemas.document(name)
    assert doc is not None
    jsonschema.Draft4Validator.check_schema(doc)
    # Glance names the resource-type schemas after the association they describe.
    expected = {"metadefs/resource_type": "resource_type_association",
                "metadefs/resource_types": "resource_type_associations"}
    assert doc["name"] == expected.get(name, name.removeprefix("metadefs/"))


@pytest.mark.parametrize("name", ["imagez", "", "image/", "schemas/image", "location",
                                  "metadefs", "metadefs/images", "Image"])
def test_unknown_name_is_none(schemas: Schemas, name: str) -> None:
    assert schemas.document(name) is None


def test_documents_are_built_once(schemas: Schemas) -> None:
    assert schemas.document("image") is schemas.document("image")
    assert schemas.document("metadefs/tags") is schemas.document("metadefs/tags")


def test_collections_carry_their_item_schema(schemas: Schemas) -> None:
    images = schemas.document("images")
    assert images is not None
    assert images["properties"]["images"] == {"type": "array",
                                              "items": schemas.document("image")}
    assert set(images["properties"]) == {"images", "first", "next", "schema"}
    assert [link["rel"] for link in images["links"]] == ["first", "next", "describedby"]
    namespaces = schemas.document("metadefs/namespaces")
    assert namespaces is not None
    assert "definitions" in namespaces
    assert "definitions" not in namespaces["properties"]["namespaces"]["items"]


# --- the image schema ---------------------------------------------------------------------

def test_image_schema_has_what_glanceclient_needs(schemas: Schemas) -> None:
    doc = schemas.document("image")
    assert doc is not None
    props = doc["properties"]
    assert doc["additionalProperties"] == {"type": "string"}
    assert doc["links"] == [{"rel": "self", "href": "{self}"},
                            {"rel": "enclosure", "href": "{file}"},
                            {"rel": "describedby", "href": "{schema}"}]
    assert props["status"]["enum"] == list(IMAGE_STATUSES)
    assert len(IMAGE_STATUSES) == 9
    assert set(props["visibility"]["enum"]) == {"public", "community", "shared", "private"}
    assert set(VISIBILITIES) == set(props["visibility"]["enum"])
    assert props["disk_format"] == {"type": ["null", "string"], "description": "Format of the disk",
                                    "enum": [None, *DISK_FORMATS]}
    assert props["container_format"]["enum"] == [None, *CONTAINER_FORMATS]
    for name in ("name", "checksum", "os_hash_algo", "os_hash_value", "owner"):
        assert props[name]["type"] == ["null", "string"], name
    for name in ("size", "virtual_size"):
        assert props[name]["type"] == ["null", "integer"], name
    assert props["os_hidden"]["type"] == "boolean"
    assert props["stores"] == {**props["stores"], "type": "string", "readOnly": True}
    assert (props["name"]["maxLength"], props["os_hash_value"]["maxLength"]) == (255, 128)
    assert props["os_distro"]["is_base"] is False
    assert "is_base" not in props["name"]


def test_image_schema_follows_configuration() -> None:
    doc = Schemas(["raw", "qcow2"], ["bare"], multi_store=False, custom_properties={}) \
        .document("image")
    assert doc is not None
    assert doc["properties"]["disk_format"]["enum"] == [None, "raw", "qcow2"]
    assert doc["properties"]["container_format"]["enum"] == [None, "bare"]
    assert "stores" not in doc["properties"]
    assert set(doc["properties"]) == BASE_PROPERTIES - {"stores"}


def test_custom_properties_cannot_redefine_base_ones() -> None:
    schemas = Schemas(custom_properties={"name": {"type": "string"}})
    with pytest.raises(ValueError, match="'name'"):
        schemas.document("image")


def test_read_only_and_reserved_names(schemas: Schemas) -> None:
    doc = schemas.document("image")
    assert doc is not None
    read_only_in_schema = {k for k, v in doc["properties"].items() if v.get("readOnly")}
    assert read_only_in_schema <= READ_ONLY_PROPERTIES
    assert READ_ONLY_PROPERTIES - read_only_in_schema == {"id"}
    assert {"id"} == CREATE_ONLY_PROPERTIES
    assert {"location", "deleted", "deleted_at"} <= RESERVED_PROPERTIES
    assert not RESERVED_PROPERTIES & READ_ONLY_PROPERTIES
    assert "os_glance_import_task".startswith(RESERVED_PREFIXES)
    assert not any(name.startswith(RESERVED_PREFIXES) for name in BASE_PROPERTIES)


@pytest.mark.parametrize("image", [glance_image(), active_image(),
                                   glance_image(name=None, disk_format=None,
                                                container_format=None)],
                         ids=["queued", "active", "nulls"])
def test_glance_shaped_image_validates(schemas: Schemas, image: dict[str, Any]) -> None:
    doc = schemas.document("image")
    assert doc is not None
    assert errors(doc, image) == []
    jsonschema.Draft4Validator(doc).validate(image)
    schemas.validate_image(image)


def test_image_list_validates(schemas: Schemas) -> None:
    doc = schemas.document("images")
    assert doc is not None
    body = {"images": [active_image(), glance_image()], "first": "/v2/images?limit=2",
            "next": f"/v2/images?limit=2&marker={IMAGE_ID}", "schema": "/v2/schemas/images"}
    assert errors(doc, body) == []
    body["images"].append(glance_image(size="12"))
    assert errors(doc, body) == ["'12' is not of type 'null', 'integer'"]


# --- validate_image: Glance's 400s --------------------------------------------------------

def test_too_long_name_is_refused(schemas: Schemas) -> None:
    with pytest.raises(SchemaError) as caught:
        schemas.validate_image({"name": "x" * 256, "disk_format": "raw"})
    message = str(caught.value)
    assert message.startswith("Provided object does not match schema 'image': ")
    assert f"'{'x' * 256}' is too long" in message
    assert "['name']" in message
    assert caught.value.attribute == "name"
    schemas.validate_image({"name": "x" * 255})


def test_unknown_disk_format_is_refused(schemas: Schemas) -> None:
    with pytest.raises(SchemaError) as caught:
        schemas.validate_image({"name": "n", "disk_format": "foo"})
    assert caught.value.attribute == "disk_format"
    assert "'foo' is not one of [None, 'ami', 'ari', 'aki', 'vhd'" in str(caught.value)
    assert caught.value.schema == "image"


def test_non_string_custom_property_is_refused(schemas: Schemas) -> None:
    with pytest.raises(SchemaError) as caught:
        schemas.validate_image({"name": "n", "hw_cpu_cores": 4})
    assert str(caught.value) == ("Provided object does not match schema 'image': "
                                 "4 is not of type 'string' (on instance['hw_cpu_cores'])")
    schemas.validate_image({"name": "n", "hw_cpu_cores": "4"})


def test_strict_schema_refuses_unknown_properties() -> None:
    strict = Schemas(additional_properties=False)
    assert strict.document("image")["additionalProperties"] is False  # type: ignore[index]
    with pytest.raises(SchemaError) as caught:
        strict.validate_image({"name": "n", "hw_cpu_cores": "4"})
    assert "Additional properties are not allowed" in str(caught.value)
    assert "hw_cpu_cores" in str(caught.value)
    strict.validate_image({"name": "n", "os_distro": "debian"})  # named by the schema


@pytest.mark.parametrize("body, fault", [
    ({"tags": ["t" * 256]}, "tags"),
    ({"min_ram": "512"}, "min_ram"),
    ({"protected": "True"}, "protected"),
    ({"visibility": "everyone"}, "visibility"),
    ({"id": "not-a-uuid"}, "id"),
    ({"kernel_id": "not-a-uuid"}, "kernel_id"),
])
def test_other_bad_values_are_refused(schemas: Schemas, body: dict[str, Any],
                                      fault: str) -> None:
    with pytest.raises(SchemaError) as caught:
        schemas.validate_image(body)
    assert caught.value.attribute == fault


def test_validate_any_schema_by_name(schemas: Schemas) -> None:
    schemas.validate("metadefs/tag", {"name": "ssd"})
    with pytest.raises(SchemaError, match=r"^Provided object does not match schema 'tag': "):
        schemas.validate("metadefs/tag", {"name": "ssd", "colour": "red"})
    with pytest.raises(KeyError):
        schemas.validate("nope", {})


# --- tasks, members, metadefs ------------------------------------------------------------

@pytest.mark.parametrize("task", [pending_task(), success_task(),
                                  {k: v for k, v in pending_task().items() if k != "expires_at"},
                                  pending_task(status="failure", message="404 Not Found",
                                               expires_at="2026-11-24T01:50:40Z")],
                         ids=["pending", "success", "pending-without-expiry", "failure"])
def test_glance_shaped_task_validates(schemas: Schemas, task: dict[str, Any]) -> None:
    doc = schemas.document("task")
    assert doc is not None
    assert errors(doc, task) == []


def test_task_schema_refuses_what_glance_would_not_send(schemas: Schemas) -> None:
    doc = schemas.document("task")
    assert doc is not None
    assert errors(doc, pending_task(status="done")) != []
    assert errors(doc, pending_task(result="ok")) != []
    assert errors(doc, pending_task(message=None)) != []


def test_task_list_hides_input_result_and_message(schemas: Schemas) -> None:
    doc = schemas.document("tasks")
    assert doc is not None
    item = doc["properties"]["tasks"]["items"]["properties"]
    assert not {"input", "result", "message"} & set(item)
    stub = {k: v for k, v in success_task().items() if k not in ("input", "result", "message")}
    assert errors(doc, {"tasks": [stub], "schema": "/v2/schemas/tasks"}) == []


def test_member_validates(schemas: Schemas) -> None:
    doc = schemas.document("member")
    assert doc is not None
    member = {"member_id": "p2", "image_id": IMAGE_ID, "status": "pending",
              "created_at": "2026-11-22T01:50:21Z", "updated_at": "2026-11-22T01:50:21Z",
              "schema": "/v2/schemas/member"}
    assert errors(doc, member) == []
    assert errors(doc, {**member, "status": "maybe"}) != []
    members = schemas.document("members")
    assert members is not None
    assert errors(members, {"members": [member], "schema": "/v2/schemas/members"}) == []


def test_metadef_documents_validate_catalogue_entries(schemas: Schemas) -> None:
    prop = {"name": "hw_rng_model", "title": "Random Number Generator Model", "type": "string",
            "enum": ["virtio"], "description": "Adds a random-number generator device"}
    namespace = {"namespace": "OS::Compute::Libvirt", "display_name": "Libvirt Driver Options",
                 "visibility": "public", "protected": True,
                 "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
                 "properties": {"hw_rng_model": {k: v for k, v in prop.items() if k != "name"}},
                 "objects": [{"name": "CPU", "required": ["cores"], "properties": {}}],
                 "tags": [{"name": "gpu"}]}
    checks = {
        "metadefs/namespace": namespace,
        "metadefs/namespaces": {"namespaces": [namespace], "first": "/v2/metadefs/namespaces",
                                "schema": "/v2/schemas/metadefs/namespaces"},
        "metadefs/property": prop,
        "metadefs/properties": {"properties": {"hw_rng_model": prop}},
        "metadefs/object": {"name": "CPU", "required": ["cores"],
                            "properties": {"cores": {"title": "Cores", "type": "integer",
                                                     "minimum": 1}}},
        "metadefs/resource_type": {"name": "OS::Glance::Image", "prefix": "hw_"},
        "metadefs/tags": {"tags": [{"name": "gpu", "created_at": "2026-11-22T01:50:21Z"}]},
    }
    for name, instance in checks.items():
        doc = schemas.document(name)
        assert doc is not None
        assert errors(doc, instance) == [], name
    prop_doc = schemas.document("metadefs/property")
    assert prop_doc is not None
    assert errors(prop_doc, {"name": "x", "type": "string"}) == ["'title' is a required property"]
    ns_doc = schemas.document("metadefs/namespace")
    assert ns_doc is not None
    bad = copy.deepcopy(namespace)
    bad["properties"]["hw_rng_model"]["type"] = "text"
    assert len(errors(ns_doc, bad)) == 1


# --- glanceclient -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def glanceclient_schemas() -> Any:
    pytest.importorskip("warlock")
    return pytest.importorskip("glanceclient.v2.schemas")


def model(gc_schemas: Any, doc: dict[str, Any] | None) -> Any:
    """A model class built the way glanceclient's controllers build one; like them, it drops
    a response's `self` (it would clash with the constructor's own argument)."""
    import warlock

    assert doc is not None
    raw = gc_schemas.Schema(doc).raw()
    cls = warlock.model_factory(raw, base_class=gc_schemas.SchemaBasedModel)

    def build(**body: Any) -> Any:
        body.pop("self", None)
        return cls(**body)

    return build


def test_glanceclient_image_model(schemas: Schemas, glanceclient_schemas: Any) -> None:
    image_model = model(glanceclient_schemas, schemas.document("image"))
    image = image_model(**active_image())
    assert image.os_distro == "cirros"
    image["name"] = "renamed"
    image["hw_qemu_guest_agent"] = "yes"
    patch = image.patch
    assert '"op": "replace", "path": "/name", "value": "renamed"' in patch
    assert '"op": "add", "path": "/hw_qemu_guest_agent"' in patch
    with pytest.raises(ValueError, match="is too long"):
        image_model(**glance_image(name="x" * 256))
    with pytest.raises(ValueError, match="is not of type 'string'"):
        image_model(**glance_image(architecture=64))
    empty = image_model()
    with pytest.raises(warlock_error()):
        empty["disk_format"] = "floppy"


def warlock_error() -> type[Exception]:
    import warlock.exceptions

    return warlock.exceptions.InvalidOperation


def test_glanceclient_task_and_member_models(schemas: Schemas,
                                             glanceclient_schemas: Any) -> None:
    task_model = model(glanceclient_schemas, schemas.document("task"))
    assert task_model(**pending_task()).result is None
    assert task_model(**success_task()).result == {"image_id": IMAGE_ID}
    with pytest.raises(ValueError):
        task_model(**pending_task(status="queued"))
    member_model = model(glanceclient_schemas, schemas.document("member"))
    assert member_model(member_id="p2", image_id=IMAGE_ID, status="accepted").status == \
        "accepted"


def test_glanceclient_cli_options(schemas: Schemas, glanceclient_schemas: Any) -> None:
    from glanceclient.common import utils

    def image_create() -> None:
        """Stands for glanceclient's image-create."""

    utils.schema_args(lambda: schemas.document("image"), omit=["locations", "os_hidden"])(
        image_create)
    options = {args[0]: kwargs for args, kwargs in image_create.arguments}  # type: ignore
    assert "Valid values: None, ami, ari" in options["--disk-format"]["help"]
    assert options["--min-ram"]["type"] is int
    assert options["--tags"]["nargs"] == "+"
    assert {"--os-distro", "--kernel-id", "--name", "--visibility"} <= set(options)
    assert not {"--status", "--checksum", "--stores", "--self"} & set(options)
