"""Row shapes both metadata stores share: the column lists and the row-to-record mappers
whose SQL is the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from strato.stores.metadata.records import AccessRuleRecord, AppCredentialRecord

if TYPE_CHECKING:
    import asyncpg

APP_CRED_COLUMNS = ("id, name, user_id, project_id, secret_hash, role_ids, created_at, expires_at,"
                    " description, unrestricted, access_rules")


def app_cred(row: Sequence[Any] | asyncpg.Record) -> AppCredentialRecord:
    rules = None if row[10] is None else tuple(
        AccessRuleRecord(r["id"], r["service"], r["method"], r["path"])
        for r in orjson.loads(row[10]))
    return AppCredentialRecord(row[0], row[1], row[2], row[3], row[4],
                               tuple(orjson.loads(row[5])), row[6], row[7], row[8],
                               bool(row[9]), rules)


def app_cred_values(record: AppCredentialRecord) -> tuple[Any, ...]:
    """The values of APP_CRED_COLUMNS, in order."""
    rules = None if record.access_rules is None else orjson.dumps([
        {"id": r.id, "service": r.service, "method": r.method, "path": r.path}
        for r in record.access_rules]).decode()
    return (record.id, record.name, record.user_id, record.project_id, record.secret_hash,
            orjson.dumps(list(record.role_ids)).decode(), record.created_at,
            record.expires_at, record.description, record.unrestricted, rules)
