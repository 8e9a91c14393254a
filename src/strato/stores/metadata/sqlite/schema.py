"""The SQLite schema, versioned: each migration moves `schema_version` one step forward."""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: list[str] = [
    # 1: object catalogue and identity
    """
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE containers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        put_timestamp REAL NOT NULL,
        object_count INTEGER NOT NULL DEFAULT 0,
        bytes_used INTEGER NOT NULL DEFAULT 0,
        meta TEXT NOT NULL DEFAULT '{}',
        UNIQUE (account, name)
    );
    CREATE TABLE objects (
        container_id INTEGER NOT NULL REFERENCES containers(id),
        name TEXT NOT NULL,
        blob_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        content_type TEXT NOT NULL,
        timestamp REAL NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        delete_at INTEGER,
        PRIMARY KEY (container_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX objects_blob ON objects (blob_id);
    CREATE INDEX objects_delete_at ON objects (delete_at) WHERE delete_at IS NOT NULL;

    CREATE TABLE domains (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        enabled INTEGER NOT NULL DEFAULT 1,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        domain_id TEXT NOT NULL REFERENCES domains(id),
        enabled INTEGER NOT NULL DEFAULT 1,
        description TEXT NOT NULL DEFAULT '',
        UNIQUE (domain_id, name)
    );
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        domain_id TEXT NOT NULL REFERENCES domains(id),
        password_hash TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        default_project_id TEXT,
        extra TEXT NOT NULL DEFAULT '{}',
        UNIQUE (domain_id, name)
    );
    CREATE TABLE roles (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE assignments (
        role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        target TEXT NOT NULL,  -- 'project:<id>' or 'domain:<id>'
        PRIMARY KEY (user_id, target, role_id)
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        project_id TEXT,
        domain_id TEXT,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        methods TEXT NOT NULL,
        audit_id TEXT NOT NULL,
        extra TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX tokens_expiry ON tokens (expires_at);
    CREATE INDEX tokens_user ON tokens (user_id);
    """,
    # 2: per-user access keys (HP Cloud style temp URLs); the secret must stay readable to
    # verify HMACs, so it is stored as is: keep the database file private (mode 0600).
    """
    CREATE TABLE access_keys (
        id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        user_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX access_keys_user ON access_keys (user_id);
    """,
    # 3: Keystone extras: application credentials and failed-login rate limiting
    """
    CREATE TABLE app_credentials (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        project_id TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        role_ids TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        description TEXT NOT NULL DEFAULT '',
        unrestricted INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user_id, name)
    );
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX assignments_target ON assignments (target);
    """,
    # 4: Keystone groups: members and group role assignments
    """
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        domain_id TEXT NOT NULL REFERENCES domains(id),
        description TEXT NOT NULL DEFAULT '',
        UNIQUE (domain_id, name)
    );
    CREATE TABLE group_members (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
    );
    CREATE INDEX group_members_user ON group_members (user_id);
    CREATE TABLE group_assignments (
        role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        PRIMARY KEY (group_id, target, role_id)
    );
    CREATE INDEX group_assignments_target ON group_assignments (target);
    """,
    # 5: a versioned object's current copy leaves its bytes to the version in the hidden
    # container (as Swift's zero-byte link does), so the totals count each version once
    """
    UPDATE objects SET meta = json_set(meta, '$."x-object-sysmeta-uncounted"', '1')
    WHERE json_extract(meta, '$."x-object-sysmeta-version-id"') IS NOT NULL
      AND container_id IN (SELECT id FROM containers WHERE unicode(name) <> 0);
    UPDATE containers SET bytes_used = (
      SELECT coalesce(sum(size), 0) FROM objects WHERE objects.container_id = containers.id
        AND json_extract(objects.meta, '$."x-object-sysmeta-uncounted"') IS NULL);
    """,
    # 6: storage policies: each container records its policy's name; '' marks a container
    # created before policies existed, which the server assigns the default policy on start
    """
    ALTER TABLE containers ADD COLUMN policy TEXT NOT NULL DEFAULT '';
    """,
    # 7: small objects' bytes, kept with their rows (an object's blob_id names its row here)
    """
    CREATE TABLE inline_blobs (
        id TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    """,
    # 8: every policy an account has had containers in, so its totals stay listed (at zero)
    # after the last of those containers is deleted, as Swift's account database keeps them
    """
    CREATE TABLE account_policies (
        account TEXT NOT NULL,
        policy TEXT NOT NULL,
        PRIMARY KEY (account, policy)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO account_policies
        SELECT DISTINCT account, policy FROM containers WHERE policy <> '';
    """,
    # 9: the image service: images (their data are objects in the object catalogue), the
    # projects they are shared with, and tasks (imports run in the background)
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        name TEXT,
        status TEXT NOT NULL,
        visibility TEXT NOT NULL,
        owner TEXT,
        protected INTEGER NOT NULL DEFAULT 0,
        os_hidden INTEGER NOT NULL DEFAULT 0,
        disk_format TEXT,
        container_format TEXT,
        size INTEGER,
        virtual_size INTEGER,
        checksum TEXT,
        os_hash_algo TEXT,
        os_hash_value TEXT,
        min_disk INTEGER NOT NULL DEFAULT 0,
        min_ram INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deleted_at REAL,
        properties TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        stores TEXT NOT NULL DEFAULT '[]',
        staged_size INTEGER
    );
    CREATE INDEX images_owner ON images (owner, status);
    CREATE INDEX images_status ON images (status, updated_at);
    CREATE INDEX images_created ON images (created_at, id);
    CREATE TABLE image_members (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        member TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (image_id, member)
    ) WITHOUT ROWID;
    CREATE INDEX image_members_member ON image_members (member, status);
    CREATE TABLE image_tasks (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        owner TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        input TEXT NOT NULL DEFAULT '{}',
        result TEXT,
        message TEXT NOT NULL DEFAULT '',
        image_id TEXT,
        user_id TEXT,
        request_id TEXT,
        expires_at REAL,
        heartbeat REAL
    );
    CREATE INDEX image_tasks_owner ON image_tasks (owner, created_at);
    CREATE INDEX image_tasks_status ON image_tasks (status, heartbeat);
    CREATE INDEX image_tasks_expiry ON image_tasks (expires_at) WHERE expires_at IS NOT NULL;
    """,
    # 10: container sync: the containers that sync (X-Container-Sync-To and a key set) and,
    # for each, the names changed since they were last pushed (the sync point: a change row
    # goes once its push succeeded, so a restart resumes where the last pass stopped)
    """
    CREATE TABLE container_sync (
        container_id INTEGER PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
        enabled_at REAL NOT NULL
    );
    CREATE TABLE sync_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        container_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        timestamp REAL NOT NULL
    );
    CREATE INDEX sync_changes_container ON sync_changes (container_id, id);
    """,
    # 11: application credentials' access rules (JSON; NULL: unrestricted by rules)
    r"""
    ALTER TABLE app_credentials ADD COLUMN access_rules TEXT;
    """,
    # 12: container sync tombstones: when a name was last deleted in a syncing container,
    # so that a push of what the delete removed (an echo from the other side) is refused
    """
    CREATE TABLE tombstones (
        container_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        timestamp REAL NOT NULL,
        PRIMARY KEY (container_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_age ON tombstones (timestamp);
    """,
    # 13: usage history: each account's (container '') and container's counters, sampled by
    # a background job when they changed; the console charts them
    """
    CREATE TABLE usage_samples (
        account TEXT NOT NULL,
        container TEXT NOT NULL,
        at REAL NOT NULL,
        object_count INTEGER NOT NULL,
        bytes_used INTEGER NOT NULL,
        PRIMARY KEY (account, container, at)
    ) WITHOUT ROWID;
    CREATE INDEX usage_samples_at ON usage_samples (at);
    """,
    # 14: shared rate limits (`ratelimit`): each key's next free slot on the database's
    # clock, the wait the latest request was given (what the upsert returns) and when the
    # row means no more than no row (the purge takes it then). Scratch state: committed
    # without fsync (`sqlite/rates.py`); no index past the key, the purge reads it all
    """
    CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY,
        next_at REAL NOT NULL,
        wait REAL NOT NULL,
        idle_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; safe when several processes start at once."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if row is None:
            conn.execute("INSERT INTO schema_version VALUES (0)")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (number,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def current_version(path: Path) -> int:
    """The schema version of the database at `path`, read only (0: no database yet)."""
    if not path.is_file():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    finally:
        conn.close()
    return int(row[0]) if row else 0
