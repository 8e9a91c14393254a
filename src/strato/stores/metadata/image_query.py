"""Image listings for every SQL backend: Glance's visibility rules, filters and tags, and
keyset pages on the sort keys plus `id` as the last tie-break, each compared through the
same NULL-free expression in ORDER BY and in the marker condition, so a page costs an index
walk from the marker whatever the page number. Backends differ only in how they open the
JSON columns (`Dialect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strato.stores.metadata.records import ImageFilter, ImageQuery, ImageRecord


@dataclass(frozen=True, slots=True)
class Dialect:
    properties: str
    """A FROM item `p` with `key` and `value` rows of an image's properties."""
    tags: str
    """A FROM item `t` with a `value` row per tag of an image."""
    true: str
    """A condition that always holds."""


SQLITE = Dialect("json_each(images.properties) p", "json_each(images.tags) t", "1")
POSTGRESQL = Dialect("json_each_text(images.properties::json) p",
                     "json_array_elements_text(images.tags::json) t(value)", "TRUE")

IMAGE_COLUMNS = ("id, status, visibility, owner, created_at, updated_at, name, protected,"
                 " os_hidden, disk_format, container_format, size, virtual_size, checksum,"
                 " os_hash_algo, os_hash_value, min_disk, min_ram, properties, tags, stores,"
                 " deleted_at, staged_size")
TEXT_ATTRIBUTES = ("name", "status", "visibility", "owner", "disk_format", "container_format",
                   "checksum", "os_hash_algo", "os_hash_value", "id")
NUMBER_ATTRIBUTES = ("size", "virtual_size", "min_disk", "min_ram", "created_at",
                     "updated_at", "protected", "os_hidden")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at", "visibility", "owner", "min_disk", "min_ram", "virtual_size")
OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
HIDDEN_STATUSES = ("deleted", "pending_delete")


def _sort_expression(key: str) -> str:
    """The column as ORDER BY and the marker condition compare it: NULLs as the lowest value
    of the column's kind, so keyset comparisons never meet a NULL."""
    if key in NUMBER_ATTRIBUTES:
        return f"coalesce({key}, -1)"
    return f"coalesce({key}, '')"


def _sort_value(record: ImageRecord, key: str) -> Any:
    value = getattr(record, key)
    if value is None:
        return -1 if key in NUMBER_ATTRIBUTES else ""
    return int(value) if isinstance(value, bool) else value


def _visibility_clause(query: ImageQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """Glance's rules for who sees what (admins see everything a visibility asks for)."""
    member_statuses = (("accepted", "pending", "rejected") if query.member_status == "all"
                       else (query.member_status,))
    marks = ", ".join("?" * len(member_statuses))
    shared_to_viewer = ("(visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m"
                        " WHERE m.image_id = images.id AND m.member = ?"
                        f" AND m.status IN ({marks})))")
    shared_params: list[Any] = [query.viewer, *member_statuses]
    vis = query.visibility
    if vis in ("public", "community"):
        return "visibility = ?", [vis]
    if query.admin:
        if vis in ("private", "shared"):
            return "visibility = ?", [vis]
        return dialect.true, []
    if vis == "private":
        return "visibility = 'private' AND owner = ?", [query.viewer]
    if vis == "shared":
        return (f"((visibility = 'shared' AND owner = ?) OR {shared_to_viewer})",
                [query.viewer, *shared_params])
    if vis == "all":
        return (f"(visibility IN ('public', 'community') OR owner = ? OR {shared_to_viewer})",
                [query.viewer, *shared_params])
    return (f"(visibility = 'public' OR owner = ? OR {shared_to_viewer})",
            [query.viewer, *shared_params])


def _filter_clause(item: ImageFilter, dialect: Dialect) -> tuple[str, list[Any]]:
    if item.attribute.startswith("properties."):
        name = item.attribute[len("properties."):]
        if item.op not in ("eq", "neq", "in"):
            raise ValueError(f"operator {item.op!r} does not apply to property {name!r}")
        marks = ", ".join("?" * len(item.values))
        exists = (f"EXISTS (SELECT 1 FROM {dialect.properties} WHERE p.key = ?"
                  f" AND p.value IN ({marks}))")
        clause = f"NOT {exists}" if item.op == "neq" else exists
        return clause, [name, *item.values]
    if item.attribute not in TEXT_ATTRIBUTES and item.attribute not in NUMBER_ATTRIBUTES:
        raise ValueError(f"unknown attribute {item.attribute!r}")
    column = item.attribute
    if item.op == "in":
        return f"{column} IN ({', '.join('?' * len(item.values))})", list(item.values)
    if item.op not in OPS:
        raise ValueError(f"unknown operator {item.op!r}")
    if item.values[0] is None:
        return (f"{column} IS NULL" if item.op == "eq" else f"{column} IS NOT NULL"), []
    return f"{column} {OPS[item.op]} ?", [item.values[0]]


def list_images_sql(query: ImageQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """The statement and its parameters (`?` placeholders) for one listing page."""
    where, params = _visibility_clause(query, dialect)
    clauses = [where, f"status NOT IN {HIDDEN_STATUSES!r}"]
    for item in query.filters:
        clause, values = _filter_clause(item, dialect)
        clauses.append(clause)
        params.extend(values)
    for tag in query.tags:
        clauses.append(f"EXISTS (SELECT 1 FROM {dialect.tags} WHERE t.value = ?)")
        params.append(tag)
    keys = [(key, direction) for key, direction in query.sort if key != "id"]
    for key, direction in keys:
        if key not in SORT_KEYS or direction not in ("asc", "desc"):
            raise ValueError(f"invalid sort {key}:{direction}")
    last_dir = keys[-1][1] if keys else "desc"
    keys.append(("id", last_dir))
    if query.marker is not None:
        # (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...: each with its own direction
        alternatives = []
        for i, (key, direction) in enumerate(keys):
            terms = [f"{_sort_expression(k)} = ?" for k, _ in keys[:i]]
            terms.append(f"{_sort_expression(key)} {'>' if direction == 'asc' else '<'} ?")
            alternatives.append("(" + " AND ".join(terms) + ")")
            params.extend(_sort_value(query.marker, k) for k, _ in keys[:i + 1])
        clauses.append("(" + " OR ".join(alternatives) + ")")
    order = ", ".join(f"{_sort_expression(k)} {d.upper()}" for k, d in keys)
    sql = (f"SELECT {IMAGE_COLUMNS} FROM images WHERE {' AND '.join(clauses)}"
           f" ORDER BY {order} LIMIT ?")
    params.append(query.limit)
    return sql, params
