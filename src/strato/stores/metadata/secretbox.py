"""Secrets that must stay readable (access-key secrets verify HMACs, so they cannot be
hashed) are kept encrypted at rest, with keys that live outside the database: a stolen
`metadata.db`, PostgreSQL dump or backup holds only ciphertext.

As Keystone's credential encryption: Fernet (AES-128-CBC with HMAC-SHA256, from
`cryptography`) with a **key repository**, a directory (mode 0700) of files named by
number, each one key (mode 0600):

- the highest number is the **primary** key: it encrypts everything written;
- every key decrypts (the others are **secondary**), so values sealed before a rotation
  still open;
- `strato credential-key rotate` adds a new primary, re-encrypts every stored value with it,
  then drops the oldest keys beyond `--keep` (no value needs them any more).

A stored value reads `fernet:<token>`; a value without the prefix is one written in clear
before encryption existed, which `reseal_secrets` (run at every `strato serve` start and
by `credential-key setup`) encrypts. A worker that meets a value sealed with a key it has
not loaded (rotated by the CLI after the worker started) reads the repository again once
before giving up.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["PREFIX", "CredentialKeyError", "KeyRepository", "SecretBox"]

PREFIX = "fernet:"


class CredentialKeyError(Exception):
    """No usable key: the repository is missing, empty, unreadable, or lacks the key a
    stored value was sealed with. The message names the directory and the command."""


class KeyRepository:
    """The key files of one directory, read when needed (never cached here)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def numbers(self) -> list[int]:
        """The key numbers present, lowest first."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CredentialKeyError(f"cannot read the credential key repository {self.path} "
                                     f"({exc.strerror or exc}): it must be readable by the "
                                     "server's user") from None
        return sorted(int(name) for name in names if name.isascii() and name.isdigit())

    def exists(self) -> bool:
        return bool(self.numbers())

    def load(self) -> list[bytes]:
        """The keys, primary (highest number) first."""
        keys = []
        for number in reversed(self.numbers()):
            try:
                key = (self.path / str(number)).read_bytes().strip()
            except OSError as exc:
                raise CredentialKeyError(f"cannot read credential key {self.path / str(number)}"
                                         f" ({exc.strerror or exc})") from None
            try:
                Fernet(key)
            except ValueError:
                raise CredentialKeyError(f"{self.path / str(number)} is not a Fernet key "
                                         "(32 url-safe base64-encoded bytes)") from None
            keys.append(key)
        if not keys:
            raise CredentialKeyError(
                f"no credential keys in {self.path}: the access-key secrets in the database "
                "are encrypted with them. Restore that directory from the node or backup that "
                "has it (or set credential_key_repository to where it is); "
                "`strato credential-key setup` makes a new one only for a database without "
                "encrypted secrets")
        return keys

    def setup(self) -> bool:
        """Create the directory and a first key unless a key exists; True if it made one."""
        if self.exists():
            return False
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.chmod(0o700)
        self._write(1)
        return True

    def add_primary(self) -> int:
        """Write a new key numbered above every other, so it becomes the primary."""
        numbers = self.numbers()
        if not numbers:
            raise CredentialKeyError(f"no credential keys in {self.path}: run `strato "
                                     "credential-key setup` first")
        number = numbers[-1] + 1
        self._write(number)
        return number

    def prune(self, keep: int) -> list[int]:
        """Remove all but the `keep` newest keys (at least the primary); the numbers removed."""
        gone = self.numbers()[:-max(keep, 1)]
        for number in gone:
            (self.path / str(number)).unlink()
        return gone

    def _write(self, number: int) -> None:
        """A key file written whole (temp file, fsync, rename) with mode 0600 from birth."""
        final = self.path / str(number)
        temp = self.path / f".{number}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, Fernet.generate_key())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class SecretBox:
    """Seals and opens stored secrets with a repository's keys, loaded on first use."""

    def __init__(self, repository: KeyRepository) -> None:
        self.repository = repository
        self._fernet: MultiFernet | None = None
        self._primary: Fernet | None = None
        self._lock = threading.Lock()

    def _load(self) -> MultiFernet:
        with self._lock:
            keys = self.repository.load()
            self._primary = Fernet(keys[0])
            self._fernet = MultiFernet([Fernet(k) for k in keys])
            return self._fernet

    def _keys(self) -> MultiFernet:
        return self._fernet or self._load()

    def seal(self, secret: str) -> str:
        return PREFIX + self._keys().encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret of a stored value (a clear legacy value is returned as it is)."""
        if not stored.startswith(PREFIX):
            return stored
        token = stored[len(PREFIX):].encode("ascii")
        try:
            return self._keys().decrypt(token).decode()
        except InvalidToken:
            pass
        try:  # perhaps rotated since the keys were read
            return self._load().decrypt(token).decode()
        except InvalidToken:
            raise CredentialKeyError(
                f"a stored secret was sealed with a credential key that is not in "
                f"{self.repository.path}: copy the key repository from the node that "
                "rotated it") from None

    def is_current(self, stored: str) -> bool:
        """Sealed with the primary key (nothing to re-encrypt)."""
        if not stored.startswith(PREFIX):
            return False
        self._keys()
        assert self._primary is not None
        try:
            self._primary.decrypt(stored[len(PREFIX):].encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reload(self) -> None:
        self._load()
