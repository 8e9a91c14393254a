"""`STRATO_*` variables: lists as the flags take them (commas) or as JSON, and what
`Settings.to_env` writes (for the workers) reads back as the same settings."""

from __future__ import annotations

import pytest

from strato.server.settings import Settings


def test_lists_from_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATO_IMAGE_IMPORT_ALLOWED_HOSTS", "127.0.0.1, 10.0.0.0/8")
    monkeypatch.setenv("STRATO_IMAGE_IMPORT_ALLOWED_PORTS", "80,8080")
    monkeypatch.setenv("STRATO_TRUSTED_PROXIES", '["10.1.1.1", "10.1.1.2"]')
    monkeypatch.setenv("STRATO_CORS_ALLOW_ORIGIN", "")
    settings = Settings()
    assert settings.image_import_allowed_hosts == ["127.0.0.1", "10.0.0.0/8"]
    assert settings.image_import_allowed_ports == [80, 8080]
    assert settings.trusted_proxies == ["10.1.1.1", "10.1.1.2"]
    assert settings.cors_allow_origin == []


def test_a_bad_list_item_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATO_IMAGE_IMPORT_ALLOWED_PORTS", "80,http")
    with pytest.raises(ValueError, match="image_import_allowed_ports"):
        Settings()


def test_to_env_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(image_import_allowed_hosts=["a.example", "10.0.0.1"],
                        storage_policies=[{"name": "gold", "default": True},
                                          {"name": "silver", "aliases": ["s"]}],
                        image_inject_properties=["k=v,w"], port=9999)
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original
