"""The identity half of the SQLite backend."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from strato.stores.metadata.base import Conflict, IdentityStore
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
from strato.stores.metadata.sqlite.db import Database

T = TypeVar("T")

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
    " (SELECT json_group_array(json_array(r.id, r.name)) FROM roles r WHERE r.id IN ("
    " SELECT a.role_id FROM assignments a"
    f" WHERE a.user_id = t.user_id AND a.target = {_TOKEN_TARGET}"
    "   UNION SELECT ga.role_id FROM group_assignments ga JOIN group_members gm"
    " ON gm.group_id = ga.group_id"
    f" WHERE gm.user_id = t.user_id AND ga.target = {_TOKEN_TARGET}))"
    " FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN projects p ON p.id = t.project_id"
    " WHERE t.token_hash = ?")
"""One statement for `token_view`: the roles come back as a JSON array of [id, name]."""


COUNT_FAILURE_SQL = (
    "INSERT INTO login_failures (key, failures, first_at, locked_until)"
    " VALUES (:key, 1, :now, CASE WHEN :limit <= 1 THEN :now + :window ELSE 0 END)"
    " ON CONFLICT (key) DO UPDATE SET"
    " failures = CASE WHEN first_at < :now - :window THEN 1 ELSE failures + 1 END,"
    " locked_until = CASE WHEN (CASE WHEN first_at < :now - :window THEN 1"
    " ELSE failures + 1 END) >= :limit THEN :now + :window"
    " WHEN first_at < :now - :window THEN 0 ELSE locked_until END,"
    " first_at = CASE WHEN first_at < :now - :window THEN :now ELSE first_at END")
"""One more failure under a key, in one statement (SQLite evaluates every SET expression
against the row as it was, so `first_at` can come last)."""

LOGIN_FAILURE_MEMORY = 3600.0
"""Seconds a failure counter outlives its window before the purge drops it."""


def _where(**filters: Any) -> tuple[str, tuple[Any, ...]]:
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())


def _user(row: tuple[Any, ...]) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], orjson.loads(row[6]))


def _token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(row[0], row[1], row[2], row[3], row[4], row[5],
                       tuple(orjson.loads(row[6])), row[7], orjson.loads(row[8]))


def _target(project_id: str | None, domain_id: str | None) -> str:
    return f"project:{project_id}" if project_id else f"domain:{domain_id}"


class SqliteIdentityStore(IdentityStore):
    db: Database

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, marked: bool = True) -> T:
        """Every identity write goes through here and marks the database as changed
        (`Database.mark`), which drops the tokens workers validated before it, unless it
        cannot change a validated token (a new token, the failed-login counters)."""
        return await self.db.write(fn, marked=marked)

    async def _insert(self, sql: str, params: tuple[Any, ...], *, marked: bool = True) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self._write(tx, marked=marked)

    async def _execute(self, sql: str, params: tuple[Any, ...], *, marked: bool = True) -> int:
        return await self._write(lambda conn: conn.execute(sql, params).rowcount,
                                 marked=marked)

    def change_mark(self) -> bytes | None:
        return self.db.mark()

    # domains --------------------------------------------------------------------------
    async def get_domain(self, *, id: str | None = None, name: str | None = None
                         ) -> DomainRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name)
        row = self.db.query_one(f"SELECT id, name, enabled, description FROM domains{where}",
                                params)
        return DomainRecord(row[0], row[1], bool(row[2]), row[3]) if row else None

    async def create_domain(self, record: DomainRecord) -> DomainRecord:
        await self._insert("INSERT INTO domains VALUES (?,?,?,?)",
                           (record.id, record.name, int(record.enabled), record.description))
        return record

    async def list_domains(self) -> list[DomainRecord]:
        rows = self.db.query("SELECT id, name, enabled, description FROM domains ORDER BY name")
        return [DomainRecord(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    # projects -------------------------------------------------------------------------
    async def get_project(self, *, id: str | None = None, name: str | None = None,
                          domain_id: str | None = None) -> ProjectRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, domain_id=domain_id)
        row = self.db.query_one(
            f"SELECT id, name, domain_id, enabled, description FROM projects{where}", params)
        return ProjectRecord(row[0], row[1], row[2], bool(row[3]), row[4]) if row else None

    async def create_project(self, record: ProjectRecord) -> ProjectRecord:
        await self._insert("INSERT INTO projects VALUES (?,?,?,?,?)",
                           (record.id, record.name, record.domain_id, int(record.enabled),
                            record.description))
        return record

    async def list_projects(self, domain_id: str | None = None) -> list[ProjectRecord]:
        where, params = _where(domain_id=domain_id)
        rows = self.db.query(
            f"SELECT id, name, domain_id, enabled, description FROM projects{where}"
            " ORDER BY name", params)
        return [ProjectRecord(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    async def delete_project(self, project_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM assignments WHERE target = ?", (f"project:{project_id}",))
            conn.execute("DELETE FROM tokens WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM app_credentials WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM group_assignments WHERE target = ?",
                         (f"project:{project_id}",))
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

        await self._write(tx)

    # users ----------------------------------------------------------------------------
    async def get_user(self, *, id: str | None = None, name: str | None = None,
                       domain_id: str | None = None) -> UserRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, domain_id=domain_id)
        row = self.db.query_one(f"SELECT {USER_COLUMNS} FROM users{where}", params)
        return _user(row) if row else None

    async def create_user(self, record: UserRecord) -> UserRecord:
        await self._insert(f"INSERT INTO users ({USER_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                           (record.id, record.name, record.domain_id, record.password_hash,
                            int(record.enabled), record.default_project_id,
                            orjson.dumps(record.extra).decode()))
        return record

    async def update_user(self, record: UserRecord) -> UserRecord:
        await self._execute(
            "UPDATE users SET name = ?, password_hash = ?, enabled = ?, default_project_id = ?,"
            " extra = ? WHERE id = ?",
            (record.name, record.password_hash, int(record.enabled), record.default_project_id,
             orjson.dumps(record.extra).decode(), record.id))
        return record

    async def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        where, params = _where(domain_id=domain_id)
        rows = self.db.query(f"SELECT {USER_COLUMNS} FROM users{where} ORDER BY name", params)
        return [_user(r) for r in rows]

    async def delete_user(self, user_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM assignments WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

        await self._write(tx)

    # roles ----------------------------------------------------------------------------
    async def get_role(self, *, id: str | None = None, name: str | None = None
                       ) -> RoleRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name)
        row = self.db.query_one(f"SELECT id, name FROM roles{where}", params)
        return RoleRecord(row[0], row[1]) if row else None

    async def create_role(self, record: RoleRecord) -> RoleRecord:
        await self._insert("INSERT INTO roles VALUES (?,?)", (record.id, record.name))
        return record

    async def list_roles(self) -> list[RoleRecord]:
        return [RoleRecord(r[0], r[1]) for r in self.db.query("SELECT id, name FROM roles"
                                                              " ORDER BY name")]

    async def assign_role(self, role_id: str, user_id: str, *, project_id: str | None = None,
                          domain_id: str | None = None) -> None:
        await self._execute("INSERT OR IGNORE INTO assignments VALUES (?,?,?)",
                            (role_id, user_id, _target(project_id, domain_id)))

    async def unassign_role(self, role_id: str, user_id: str, *, project_id: str | None = None,
                            domain_id: str | None = None) -> None:
        await self._execute(
            "DELETE FROM assignments WHERE role_id = ? AND user_id = ? AND target = ?",
            (role_id, user_id, _target(project_id, domain_id)))

    async def user_roles(self, user_id: str, *, project_id: str | None = None,
                         domain_id: str | None = None) -> list[RoleRecord]:
        target = _target(project_id, domain_id)
        rows = self.db.query(
            "SELECT r.id, r.name FROM roles r WHERE r.id IN ("
            " SELECT role_id FROM assignments WHERE user_id = ? AND target = ?"
            " UNION SELECT ga.role_id FROM group_assignments ga JOIN group_members gm"
            " ON gm.group_id = ga.group_id WHERE gm.user_id = ? AND ga.target = ?)"
            " ORDER BY r.name", (user_id, target, user_id, target))
        return [RoleRecord(r[0], r[1]) for r in rows]

    async def user_projects(self, user_id: str) -> list[ProjectRecord]:
        rows = self.db.query(
            "SELECT DISTINCT p.id, p.name, p.domain_id, p.enabled, p.description FROM projects p"
            " WHERE 'project:' || p.id IN (SELECT target FROM assignments WHERE user_id = ?"
            " UNION SELECT ga.target FROM group_assignments ga JOIN group_members gm"
            " ON gm.group_id = ga.group_id WHERE gm.user_id = ?)"
            " ORDER BY p.name", (user_id, user_id))
        return [ProjectRecord(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    # tokens ---------------------------------------------------------------------------
    async def save_token(self, token: TokenRecord) -> None:
        await self._insert(
            f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (token.token_hash, token.user_id, token.project_id, token.domain_id,
             token.issued_at, token.expires_at, orjson.dumps(list(token.methods)).decode(),
             token.audit_id, orjson.dumps(token.extra).decode()), marked=False)

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        row = self.db.query_one(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?",
                                (token_hash,))
        return _token(row) if row else None

    async def token_view(self, token_hash: str) -> TokenView | None:
        row = self.db.query_one(TOKEN_VIEW_SQL, (token_hash,))
        if row is None:
            return None
        project = (ProjectRecord(row[16], row[17], row[18], bool(row[19]), row[20])
                   if row[16] is not None else None)
        roles = sorted((RoleRecord(i, n) for i, n in orjson.loads(row[21])),
                       key=lambda r: r.name)
        return TokenView(_token(row[:9]), _user(row[9:16]), project, tuple(roles))

    async def revoke_token(self, token_hash: str) -> bool:
        return await self._execute("DELETE FROM tokens WHERE token_hash = ?", (token_hash,)) > 0

    async def purge_tokens(self, now: float) -> int:
        """Also forgets failed-login counters whose lockout has passed, so the table stays
        small whatever names and addresses an attacker tries."""
        def tx(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM login_failures WHERE locked_until < ? AND first_at < ?",
                         (now, now - LOGIN_FAILURE_MEMORY))
            return conn.execute("DELETE FROM tokens WHERE expires_at < ?", (now,)).rowcount

        return await self._write(tx)

    # Keystone administration ----------------------------------------------------------
    async def update_domain(self, record: DomainRecord) -> DomainRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("UPDATE domains SET name = ?, enabled = ?, description = ?"
                             " WHERE id = ?", (record.name, int(record.enabled),
                                               record.description, record.id))
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self._write(tx)
        return record

    async def delete_domain(self, domain_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            for table in ("projects", "users", "groups"):
                if conn.execute(f"SELECT 1 FROM {table} WHERE domain_id = ? LIMIT 1",
                                (domain_id,)).fetchone():
                    raise Conflict(f"domain still holds {table}")
            conn.execute("DELETE FROM assignments WHERE target = ?", (f"domain:{domain_id}",))
            conn.execute("DELETE FROM group_assignments WHERE target = ?",
                         (f"domain:{domain_id}",))
            conn.execute("DELETE FROM tokens WHERE domain_id = ?", (domain_id,))
            conn.execute("DELETE FROM domains WHERE id = ?", (domain_id,))

        await self._write(tx)

    async def update_project(self, record: ProjectRecord) -> ProjectRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("UPDATE projects SET name = ?, enabled = ?, description = ?"
                             " WHERE id = ?", (record.name, int(record.enabled),
                                               record.description, record.id))
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self._write(tx)
        return record

    async def update_role(self, record: RoleRecord) -> RoleRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("UPDATE roles SET name = ? WHERE id = ?", (record.name, record.id))
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self._write(tx)
        return record

    async def delete_role(self, role_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM assignments WHERE role_id = ?", (role_id,))
            conn.execute("DELETE FROM roles WHERE id = ?", (role_id,))

        await self._write(tx)

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
            rows = self.db.query(f"SELECT role_id, {column}, target FROM {table}{where}"
                                 f" ORDER BY {column}, target, role_id", params)
            for role, who, tgt in rows:
                kind, _, ident = tgt.partition(":")
                result.append(AssignmentRecord(
                    role, who if column == "user_id" else None,
                    ident if kind == "project" else None, ident if kind == "domain" else None,
                    who if column == "group_id" else None))
        return result

    # groups ---------------------------------------------------------------------------
    async def create_group(self, record: GroupRecord) -> GroupRecord:
        await self._insert("INSERT INTO groups VALUES (?,?,?,?)",
                           (record.id, record.name, record.domain_id, record.description))
        return record

    async def get_group(self, *, id: str | None = None, name: str | None = None,
                        domain_id: str | None = None) -> GroupRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, domain_id=domain_id)
        row = self.db.query_one(f"SELECT id, name, domain_id, description FROM groups{where}",
                                params)
        return GroupRecord(*row) if row else None

    async def list_groups(self, domain_id: str | None = None) -> list[GroupRecord]:
        where, params = _where(domain_id=domain_id)
        rows = self.db.query(f"SELECT id, name, domain_id, description FROM groups{where}"
                             " ORDER BY name", params)
        return [GroupRecord(*r) for r in rows]

    async def update_group(self, record: GroupRecord) -> GroupRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("UPDATE groups SET name = ?, description = ? WHERE id = ?",
                             (record.name, record.description, record.id))
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self._write(tx)
        return record

    async def delete_group(self, group_id: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM group_assignments WHERE group_id = ?", (group_id,))
            conn.execute("DELETE FROM group_members WHERE group_id = ?", (group_id,))
            conn.execute("DELETE FROM groups WHERE id = ?", (group_id,))

        await self._write(tx)

    async def add_group_member(self, group_id: str, user_id: str) -> None:
        await self._execute("INSERT OR IGNORE INTO group_members VALUES (?,?)",
                            (group_id, user_id))

    async def remove_group_member(self, group_id: str, user_id: str) -> bool:
        return await self._execute("DELETE FROM group_members WHERE group_id = ? AND"
                                   " user_id = ?", (group_id, user_id)) > 0

    async def group_members(self, group_id: str) -> list[UserRecord]:
        columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
        rows = self.db.query(f"SELECT {columns} FROM users u JOIN group_members m"
                             " ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.name",
                             (group_id,))
        return [_user(r) for r in rows]

    async def user_groups(self, user_id: str) -> list[GroupRecord]:
        rows = self.db.query("SELECT g.id, g.name, g.domain_id, g.description FROM groups g"
                             " JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ?"
                             " ORDER BY g.name", (user_id,))
        return [GroupRecord(*r) for r in rows]

    async def assign_group_role(self, role_id: str, group_id: str, *,
                                project_id: str | None = None,
                                domain_id: str | None = None) -> None:
        await self._execute("INSERT OR IGNORE INTO group_assignments VALUES (?,?,?)",
                            (role_id, group_id, _target(project_id, domain_id)))

    async def unassign_group_role(self, role_id: str, group_id: str, *,
                                  project_id: str | None = None,
                                  domain_id: str | None = None) -> None:
        await self._execute(
            "DELETE FROM group_assignments WHERE role_id = ? AND group_id = ? AND target = ?",
            (role_id, group_id, _target(project_id, domain_id)))

    async def group_roles(self, group_id: str, *, project_id: str | None = None,
                          domain_id: str | None = None) -> list[RoleRecord]:
        rows = self.db.query(
            "SELECT r.id, r.name FROM group_assignments a JOIN roles r ON r.id = a.role_id"
            " WHERE a.group_id = ? AND a.target = ? ORDER BY r.name",
            (group_id, _target(project_id, domain_id)))
        return [RoleRecord(r[0], r[1]) for r in rows]

    # application credentials ----------------------------------------------------------
    async def create_app_credential(self, record: AppCredentialRecord) -> AppCredentialRecord:
        await self._insert(
            f"INSERT INTO app_credentials ({APP_CRED_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            app_cred_values(record))
        return record

    async def get_app_credential(self, *, id: str | None = None, name: str | None = None,
                                 user_id: str | None = None) -> AppCredentialRecord | None:
        if id is None and name is None:  # no key: never whichever row comes first
            return None
        where, params = _where(id=id, name=name, user_id=user_id)
        row = self.db.query_one(f"SELECT {APP_CRED_COLUMNS} FROM app_credentials{where}",
                                params)
        return app_cred(row) if row else None

    async def list_app_credentials(self, user_id: str) -> list[AppCredentialRecord]:
        rows = self.db.query(f"SELECT {APP_CRED_COLUMNS} FROM app_credentials"
                             " WHERE user_id = ? ORDER BY name", (user_id,))
        return [app_cred(r) for r in rows]

    async def delete_app_credential(self, app_cred_id: str) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM tokens WHERE json_extract(extra, '$.app_cred_id') = ?",
                         (app_cred_id,))
            return conn.execute("DELETE FROM app_credentials WHERE id = ?",
                                (app_cred_id,)).rowcount > 0

        return await self._write(tx)

    # failed-login rate limiting -------------------------------------------------------
    async def get_login_failures(self, key: str) -> LoginFailures | None:
        row = self.db.query_one("SELECT key, failures, first_at, locked_until FROM"
                                " login_failures WHERE key = ?", (key,))
        return LoginFailures(row[0], row[1], row[2], row[3]) if row else None

    async def count_login_failure(self, limits: dict[str, int], now: float, window: float
                                  ) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            for key, limit in limits.items():
                conn.execute(COUNT_FAILURE_SQL, {"key": key, "now": now, "window": window,
                                                 "limit": limit})

        if limits:
            await self._write(tx, marked=False)

    async def clear_login_failures(self, key: str) -> None:
        await self._execute("DELETE FROM login_failures WHERE key = ?", (key,), marked=False)

    async def replace_secret_hash(self, *, old: str, new: str, user_id: str | None = None,
                                  app_cred_id: str | None = None) -> bool:
        if user_id is not None:
            sql = "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?"
            ident = user_id
        elif app_cred_id is not None:
            sql = "UPDATE app_credentials SET secret_hash = ? WHERE id = ? AND secret_hash = ?"
            ident = app_cred_id
        else:
            return False
        return await self._execute(sql, (new, ident, old), marked=False) > 0
