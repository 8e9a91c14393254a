"""The credential key repository and the box that seals secrets with it, without a server:
what a rotation keeps readable, what a clear legacy value becomes, what a missing key says."""

from __future__ import annotations

from pathlib import Path

import pytest

from strato.stores.metadata.secretbox import (
    PREFIX,
    CredentialKeyError,
    KeyRepository,
    SecretBox,
)


def test_sealed_values_open_after_rotation_and_only_the_primary_seals(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    assert repo.setup() and not repo.setup()  # a second setup keeps the first key
    box = SecretBox(repo)
    old = box.seal("s3cret")
    assert old.startswith(PREFIX) and "s3cret" not in old
    assert box.open(old) == "s3cret" and box.is_current(old)
    assert repo.add_primary() == 2
    box.reload()
    assert box.open(old) == "s3cret"  # a secondary key still opens it
    assert not box.is_current(old)
    new = box.seal("s3cret")
    assert box.is_current(new) and new != old
    repo.prune(1)
    assert repo.numbers() == [2]
    assert SecretBox(repo).open(new) == "s3cret"
    with pytest.raises(CredentialKeyError, match="not in"):
        SecretBox(repo).open(old)


def test_a_clear_legacy_value_is_returned_as_is_and_is_not_current(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    box = SecretBox(repo)
    assert box.open("written-in-clear") == "written-in-clear"
    assert not box.is_current("written-in-clear")


def test_a_worker_reads_keys_added_after_it_loaded_them(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    worker = SecretBox(repo)
    worker.seal("warm")  # keys loaded: only key 1
    repo.add_primary()
    sealed_elsewhere = SecretBox(repo).seal("rotated")
    assert worker.open(sealed_elsewhere) == "rotated"


def test_repository_files_are_private_and_errors_name_the_directory(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    with pytest.raises(CredentialKeyError, match=f"no credential keys in {repo.path}"):
        SecretBox(repo).seal("x")
    repo.setup()
    assert repo.path.stat().st_mode & 0o777 == 0o700
    assert (repo.path / "1").stat().st_mode & 0o777 == 0o600
    (repo.path / "2").write_text("not a key")
    with pytest.raises(CredentialKeyError, match="is not a Fernet key"):
        SecretBox(repo).seal("x")
