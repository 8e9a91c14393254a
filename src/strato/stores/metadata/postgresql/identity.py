"""The identity half of the PostgreSQL backend.

`change_mark` stays None (the base class's): no shared memory spans nodes, so a worker
validates every token against the database instead of reusing an earlier validation.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson

from strato.stores.metadata.base import Conflict, IdentityStore
from strato.stores.metadata.postgresql.db import Database, affected
from strato.stores.metadata.records import (
    AppCredentialRecord,
    AssignmentRecord,
    DomainRecord,
    GroupRecord,
    LoginFailures,
    ProjectRecord,
    RoleRecord,
    TokenRecord,
    TokenView,
    UserRecord,
)
from strato.stores.metadata.rows import APP_CRED_COLUMNS, app_cred, app_cred_values

USER_COLUMNS = "id, name, domain_id, password_hash, enabled, default_project_id, extra"
TOKEN_COLUMNS = ("token_hash, user_id, project_id, domain_id, issued_at, expires_at, methods,"  # nosec B105  # column names
                 " audit_id, extra")

_TOKEN_TARGET = ("CASE WHEN t.project_id IS NOT NULL AND t.project_id <> ''"  # nosec B105  # SQL text
                 " THEN 'project:' || t.project_id ELSE 'domain:' || t.domain_id END")
TOKEN_VIEW_SQL = (
    "SELECT t.token_hash, t.user_id, t.project_id, t.domain_id, t.issued_at, t.expires_at,"
    " t.methods, t.audit_id, t.extra,"
    " u.id, u.name, u.domain_id, u.password_hash, u.enabled, u.default_project_id, u.extra,"
    " p.id, p.name, p.domain_id, p.enabled, p.description,"
    " ARRAY(SELECT ARRAY[r.id, r.name] FROM roles r WHERE r.id IN ("
    " SELECT a.role_id FROM assignments a"
    f" WHERE a.user_id = t.user_id AND a.target = {_TOKEN_TARGET}"
    "   UNION SELECT ga.role_id FROM group_assignments ga JOIN group_members gm"
    " ON gm.group_id = ga.group_id"
    f" WHERE gm.user_id = t.user_id AND ga.target = {_TOKEN_TARGET}))"
    " FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN projects p ON p.id = t.project_id"
    " WHERE t.token_hash = $1")
"""One statement for `token_view`: the roles come back as an array of [id, name]."""

COUNT_FAILURE_SQL = (
    "INSERT INTO login_failures AS f (key, failures, first_at, locked_until)"
    " VALUES ($1, 1, $2::float8, CASE WHEN $4::int <= 1 THEN $2::float8 + $3::float8 ELSE 0"
    " END) ON CONFLICT (key) DO UPDATE SET"
    " failures = CASE WHEN f.first_at < $2::float8 - $3::float8 THEN 1 ELSE f.failures + 1 END,"
    " locked_until = CASE WHEN (CASE WHEN f.first_at < $2::float8 - $3::float8 THEN 1"
    " ELSE f.failures + 1 END) >= $4::int THEN $2::float8 + $3::float8"
    " WHEN f.first_at < $2::float8 - $3::float8 THEN 0 ELSE f.locked_until END,"
    " first_at = CASE WHEN f.first_at < $2::float8 - $3::float8 THEN $2::float8"
    " ELSE f.first_at END")
"""One more failure under a key ($1 key, $2 now, $3 window, $4 limit), in one statement:
every SET expression sees the row as it was."""

LOGIN_FAILURE_MEMORY = 3600.0
"""Seconds a failure counter outlives its window before the purge drops it."""


def _where(**filters: Any) -> tuple[str, tuple[Any, ...]]:
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", ()
    return (" WHERE " + " AND ".join(f"{k} = ${i}" for i, k in enumerate(used, start=1)),
            tuple(used.values()))


def _user(row: Any) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]))


def _token(row: Any) -> TokenRecord:
    return TokenRecord(row[0], row[1], row[2], row[3], row[4], row[5],
                       tuple(orjson.loads(row[6])), row[7], orjson.loads(row[8]))


def _project(row: Any) -> ProjectRecord:
    return ProjectRecord(row[0], row[1], row[2], row[3], row[4])


def _target(project_id: str | None, domain_id: str | None) -> str:
    return f"project:{project_id}" if project_id else f"domain:{domain_id}"


class PostgresIdentityStore(IdentityStore):
    db: Database

    async def _insert(self, sql: str, *params: Any, marked: bool = True) -> None:
        """One statement; `marked` (a write that could change a validated token) also
        changes this host's mark at once (other nodes learn of it by NOTIFY)."""
        try:
            await self.db.execute(sql, *params)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        finally:
            if marked:
                self.db.changed()

    async def _write(self, sql: str, *params: Any) -> int:
        """One marked statement; returns the rows it changed."""
        try:
            return await self.db.execute(sql, *params)
        finally:
            self.db.changed()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A marked transaction."""
        try:
            async with self.db.transaction() as conn:
                yield conn
        finally:
            self.db.changed()

    async def _statements(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Several statements in one transaction; a constraint they break is a Conflict."""
        try:
            async with self.db.transaction() as conn:
                for sql, params in statements:
                    await conn.execute(sql, *params)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        finally:
            self.db.changed()

    # domains --------------------------------------------------------------------------
    async def get_domain(self, *, id: str | None = None, name: str | None = None
                         ) -> DomainRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name)
        row = await self.db.fetchrow(
            f"SELECT id, name, enabled, description FROM domains{where}", *params)
        return DomainRecord(row[0], row[1], row[2], row[3]) if row else None

    async def create_domain(self, record: DomainRecord) -> DomainRecord:
        await self._insert("INSERT INTO domains VALUES ($1, $2, $3, $4)",
                           record.id, record.name, record.enabled, record.description)
        return record

    async def list_domains(self) -> list[DomainRecord]:
        rows = await self.db.fetch(
            "SELECT id, name, enabled, description FROM domains ORDER BY name")
        return [DomainRecord(r[0], r[1], r[2], r[3]) for r in rows]

    # projects -------------------------------------------------------------------------
    async def get_project(self, *, id: str | None = None, name: str | None = None,
                          domain_id: str | None = None) -> ProjectRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, domain_id=domain_id)
        row = await self.db.fetchrow(
            f"SELECT id, name, domain_id, enabled, description FROM projects{where}", *params)
        return _project(row) if row else None

    async def create_project(self, record: ProjectRecord) -> ProjectRecord:
        await self._insert("INSERT INTO projects VALUES ($1, $2, $3, $4, $5)",
                           record.id, record.name, record.domain_id, record.enabled,
                           record.description)
        return record

    async def list_projects(self, domain_id: str | None = None) -> list[ProjectRecord]:
        where, params = _where(domain_id=domain_id)
        rows = await self.db.fetch(
            f"SELECT id, name, domain_id, enabled, description FROM projects{where}"
            " ORDER BY name", *params)
        return [_project(r) for r in rows]

    async def delete_project(self, project_id: str) -> None:
        target = (f"project:{project_id}",)
        await self._statements(
            ("DELETE FROM assignments WHERE target = $1", target),
            ("DELETE FROM tokens WHERE project_id = $1", (project_id,)),
            ("DELETE FROM app_credentials WHERE project_id = $1", (project_id,)),
            ("DELETE FROM group_assignments WHERE target = $1", target),
            ("DELETE FROM projects WHERE id = $1", (project_id,)))

    # users ----------------------------------------------------------------------------
    async def get_user(self, *, id: str | None = None, name: str | None = None,
                       domain_id: str | None = None) -> UserRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, domain_id=domain_id)
        row = await self.db.fetchrow(f"SELECT {USER_COLUMNS} FROM users{where}", *params)
        return _user(row) if row else None

    async def create_user(self, record: UserRecord) -> UserRecord:
        await self._insert(
            f"INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            record.id, record.name, record.domain_id, record.password_hash, record.enabled,
            record.default_project_id, orjson.dumps(record.extra).decode())
        return record

    async def update_user(self, record: UserRecord) -> UserRecord:
        await self._insert(
            "UPDATE users SET name = $2, password_hash = $3, enabled = $4,"
            " default_project_id = $5, extra = $6 WHERE id = $1",
            record.id, record.name, record.password_hash, record.enabled,
            record.default_project_id, orjson.dumps(record.extra).decode())
        return record

    async def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        where, params = _where(domain_id=domain_id)
        rows = await self.db.fetch(f"SELECT {USER_COLUMNS} FROM users{where} ORDER BY name",
                                   *params)
        return [_user(r) for r in rows]

    async def delete_user(self, user_id: str) -> None:
        await self._statements(
            ("DELETE FROM assignments WHERE user_id = $1", (user_id,)),
            ("DELETE FROM tokens WHERE user_id = $1", (user_id,)),
            ("DELETE FROM users WHERE id = $1", (user_id,)))

    # roles ----------------------------------------------------------------------------
    async def get_role(self, *, id: str | None = None, name: str | None = None
                       ) -> RoleRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name)
        row = await self.db.fetchrow(f"SELECT id, name FROM roles{where}", *params)
        return RoleRecord(row[0], row[1]) if row else None

    async def create_role(self, record: RoleRecord) -> RoleRecord:
        await self._insert("INSERT INTO roles VALUES ($1, $2)", record.id, record.name)
        return record

    async def list_roles(self) -> list[RoleRecord]:
        return [RoleRecord(r[0], r[1])
                for r in await self.db.fetch("SELECT id, name FROM roles ORDER BY name")]

    async def assign_role(self, role_id: str, user_id: str, *, project_id: str | None = None,
                          domain_id: str | None = None) -> None:
        await self._insert("INSERT INTO assignments VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                           role_id, user_id, _target(project_id, domain_id))

    async def unassign_role(self, role_id: str, user_id: str, *, project_id: str | None = None,
                            domain_id: str | None = None) -> None:
        await self._write(
            "DELETE FROM assignments WHERE role_id = $1 AND user_id = $2 AND target = $3",
            role_id, user_id, _target(project_id, domain_id))

    async def user_roles(self, user_id: str, *, project_id: str | None = None,
                         domain_id: str | None = None) -> list[RoleRecord]:
        rows = await self.db.fetch(
            "SELECT r.id, r.name FROM roles r WHERE r.id IN ("
            " SELECT role_id FROM assignments WHERE user_id = $1 AND target = $2"
            " UNION SELECT ga.role_id FROM group_assignments ga JOIN group_members gm"
            " ON gm.group_id = ga.group_id WHERE gm.user_id = $1 AND ga.target = $2)"
            " ORDER BY r.name", user_id, _target(project_id, domain_id))
        return [RoleRecord(r[0], r[1]) for r in rows]

    async def user_projects(self, user_id: str) -> list[ProjectRecord]:
        rows = await self.db.fetch(
            "SELECT DISTINCT p.id, p.name, p.domain_id, p.enabled, p.description FROM projects p"
            " WHERE 'project:' || p.id IN (SELECT target FROM assignments WHERE user_id = $1"
            " UNION SELECT ga.target FROM group_assignments ga JOIN group_members gm"
            " ON gm.group_id = ga.group_id WHERE gm.user_id = $1)"
            " ORDER BY p.name", user_id)
        return [_project(r) for r in rows]

    # tokens ---------------------------------------------------------------------------
    async def save_token(self, token: TokenRecord) -> None:
        await self._insert(
            f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            token.token_hash, token.user_id, token.project_id, token.domain_id,
            token.issued_at, token.expires_at, orjson.dumps(list(token.methods)).decode(),
            token.audit_id, orjson.dumps(token.extra).decode(), marked=False)

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1", token_hash)
        return _token(row) if row else None

    async def token_view(self, token_hash: str) -> TokenView | None:
        record = await self.db.fetchrow(TOKEN_VIEW_SQL, token_hash)
        if record is None:
            return None
        row = tuple(record)
        project = _project(row[16:21]) if row[16] is not None else None
        roles = sorted((RoleRecord(i, n) for i, n in row[21]), key=lambda r: r.name)
        return TokenView(_token(row[:9]), _user(row[9:16]), project, tuple(roles))

    async def revoke_token(self, token_hash: str) -> bool:
        return await self._write("DELETE FROM tokens WHERE token_hash = $1",
                                     token_hash) > 0

    async def purge_tokens(self, now: float) -> int:
        """Also forgets failed-login counters whose lockout has passed, so the table stays
        small whatever names and addresses an attacker tries."""
        async with self._transaction() as conn:
            await conn.execute(
                "DELETE FROM login_failures WHERE locked_until < $1 AND first_at < $2",
                now, now - LOGIN_FAILURE_MEMORY)
            return affected(await conn.execute("DELETE FROM tokens WHERE expires_at < $1",
                                               now))

    # Keystone administration ----------------------------------------------------------
    async def update_domain(self, record: DomainRecord) -> DomainRecord:
        await self._insert("UPDATE domains SET name = $2, enabled = $3, description = $4"
                           " WHERE id = $1", record.id, record.name, record.enabled,
                           record.description)
        return record

    async def delete_domain(self, domain_id: str) -> None:
        target = (f"domain:{domain_id}",)
        async with self._transaction() as conn:
            for table in ("projects", "users", "groups"):
                if await conn.fetchval(f"SELECT 1 FROM {table} WHERE domain_id = $1 LIMIT 1",
                                       domain_id):
                    raise Conflict(f"domain still holds {table}")
            await conn.execute("DELETE FROM assignments WHERE target = $1", *target)
            await conn.execute("DELETE FROM group_assignments WHERE target = $1", *target)
            await conn.execute("DELETE FROM tokens WHERE domain_id = $1", domain_id)
            await conn.execute("DELETE FROM domains WHERE id = $1", domain_id)

    async def update_project(self, record: ProjectRecord) -> ProjectRecord:
        await self._insert("UPDATE projects SET name = $2, enabled = $3, description = $4"
                           " WHERE id = $1", record.id, record.name, record.enabled,
                           record.description)
        return record

    async def update_role(self, record: RoleRecord) -> RoleRecord:
        await self._insert("UPDATE roles SET name = $2 WHERE id = $1", record.id, record.name)
        return record

    async def delete_role(self, role_id: str) -> None:
        await self._statements(("DELETE FROM assignments WHERE role_id = $1", (role_id,)),
                               ("DELETE FROM roles WHERE id = $1", (role_id,)))

    async def list_assignments(self, *, user_id: str | None = None,
                               group_id: str | None = None, project_id: str | None = None,
                               domain_id: str | None = None, role_id: str | None = None
                               ) -> list[AssignmentRecord]:
        target = _target(project_id, domain_id) if project_id or domain_id else None
        result = []
        for table, column, wanted, skip in (("assignments", "user_id", user_id, group_id),
                                            ("group_assignments", "group_id", group_id,
                                             user_id)):
            if skip is not None:
                continue
            where, params = _where(**{column: wanted}, target=target, role_id=role_id)
            rows = await self.db.fetch(f"SELECT role_id, {column}, target FROM {table}{where}"
                                       f" ORDER BY {column}, target, role_id", *params)
            for role, who, tgt in rows:
                kind, _, ident = tgt.partition(":")
                result.append(AssignmentRecord(
                    role, who if column == "user_id" else None,
                    ident if kind == "project" else None, ident if kind == "domain" else None,
                    who if column == "group_id" else None))
        return result

    # groups ---------------------------------------------------------------------------
    async def create_group(self, record: GroupRecord) -> GroupRecord:
        await self._insert("INSERT INTO groups VALUES ($1, $2, $3, $4)",
                           record.id, record.name, record.domain_id, record.description)
        return record

    async def get_group(self, *, id: str | None = None, name: str | None = None,
                        domain_id: str | None = None) -> GroupRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, domain_id=domain_id)
        row = await self.db.fetchrow(
            f"SELECT id, name, domain_id, description FROM groups{where}", *params)
        return GroupRecord(*row) if row else None

    async def list_groups(self, domain_id: str | None = None) -> list[GroupRecord]:
        where, params = _where(domain_id=domain_id)
        rows = await self.db.fetch(f"SELECT id, name, domain_id, description FROM groups{where}"
                                   " ORDER BY name", *params)
        return [GroupRecord(*r) for r in rows]

    async def update_group(self, record: GroupRecord) -> GroupRecord:
        await self._insert("UPDATE groups SET name = $2, description = $3 WHERE id = $1",
                           record.id, record.name, record.description)
        return record

    async def delete_group(self, group_id: str) -> None:
        await self._statements(
            ("DELETE FROM group_assignments WHERE group_id = $1", (group_id,)),
            ("DELETE FROM group_members WHERE group_id = $1", (group_id,)),
            ("DELETE FROM groups WHERE id = $1", (group_id,)))

    async def add_group_member(self, group_id: str, user_id: str) -> None:
        await self._insert("INSERT INTO group_members VALUES ($1, $2) ON CONFLICT DO NOTHING",
                           group_id, user_id)

    async def remove_group_member(self, group_id: str, user_id: str) -> bool:
        return await self._write("DELETE FROM group_members WHERE group_id = $1 AND"
                                     " user_id = $2", group_id, user_id) > 0

    async def group_members(self, group_id: str) -> list[UserRecord]:
        columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
        rows = await self.db.fetch(f"SELECT {columns} FROM users u JOIN group_members m"
                                   " ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.name",
                                   group_id)
        return [_user(r) for r in rows]

    async def user_groups(self, user_id: str) -> list[GroupRecord]:
        rows = await self.db.fetch(
            "SELECT g.id, g.name, g.domain_id, g.description FROM groups g"
            " JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1"
            " ORDER BY g.name", user_id)
        return [GroupRecord(*r) for r in rows]

    async def assign_group_role(self, role_id: str, group_id: str, *,
                                project_id: str | None = None,
                                domain_id: str | None = None) -> None:
        await self._insert(
            "INSERT INTO group_assignments VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            role_id, group_id, _target(project_id, domain_id))

    async def unassign_group_role(self, role_id: str, group_id: str, *,
                                  project_id: str | None = None,
                                  domain_id: str | None = None) -> None:
        await self._write(
            "DELETE FROM group_assignments WHERE role_id = $1 AND group_id = $2"
            " AND target = $3", role_id, group_id, _target(project_id, domain_id))

    async def group_roles(self, group_id: str, *, project_id: str | None = None,
                          domain_id: str | None = None) -> list[RoleRecord]:
        rows = await self.db.fetch(
            "SELECT r.id, r.name FROM group_assignments a JOIN roles r ON r.id = a.role_id"
            " WHERE a.group_id = $1 AND a.target = $2 ORDER BY r.name",
            group_id, _target(project_id, domain_id))
        return [RoleRecord(r[0], r[1]) for r in rows]

    # application credentials ----------------------------------------------------------
    async def create_app_credential(self, record: AppCredentialRecord) -> AppCredentialRecord:
        await self._insert(
            f"INSERT INTO app_credentials ({APP_CRED_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            *app_cred_values(record))
        return record

    async def get_app_credential(self, *, id: str | None = None, name: str | None = None,
                                 user_id: str | None = None) -> AppCredentialRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, user_id=user_id)
        row = await self.db.fetchrow(f"SELECT {APP_CRED_COLUMNS} FROM app_credentials{where}",
                                     *params)
        return app_cred(row) if row else None

    async def list_app_credentials(self, user_id: str) -> list[AppCredentialRecord]:
        rows = await self.db.fetch(f"SELECT {APP_CRED_COLUMNS} FROM app_credentials"
                                   " WHERE user_id = $1 ORDER BY name", user_id)
        return [app_cred(r) for r in rows]

    async def delete_app_credential(self, app_cred_id: str) -> bool:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM tokens WHERE extra::json ->> 'app_cred_id' = $1",
                               app_cred_id)
            return affected(await conn.execute("DELETE FROM app_credentials WHERE id = $1",
                                               app_cred_id)) > 0

    # failed-login rate limiting -------------------------------------------------------
    async def get_login_failures(self, key: str) -> LoginFailures | None:
        row = await self.db.fetchrow("SELECT key, failures, first_at, locked_until FROM"
                                     " login_failures WHERE key = $1", key)
        return LoginFailures(row[0], row[1], row[2], row[3]) if row else None

    async def count_login_failure(self, limits: dict[str, int], now: float, window: float
                                  ) -> None:
        if not limits:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(COUNT_FAILURE_SQL, [(key, now, window, limit)
                                                       for key, limit in sorted(limits.items())])

    async def clear_login_failures(self, key: str) -> None:
        await self.db.execute("DELETE FROM login_failures WHERE key = $1", key)

    async def replace_secret_hash(self, *, old: str, new: str, user_id: str | None = None,
                                  app_cred_id: str | None = None) -> bool:
        if user_id is not None:
            sql = "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3"
            ident = user_id
        elif app_cred_id is not None:
            sql = "UPDATE app_credentials SET secret_hash = $1 WHERE id = $2 AND secret_hash = $3"
            ident = app_cred_id
        else:
            return False
        return await self.db.execute(sql, new, ident, old) > 0
