"""Secrets handed to users must survive being pasted on a command line."""

from __future__ import annotations

from strato.domain.identity import new_secret


def test_secrets_never_look_like_command_line_options() -> None:
    # token_urlsafe starts with '-' once in 64 draws; `swift --os-auth-token -x...` then fails
    assert not any(new_secret(8).startswith("-") for _ in range(5000))
    assert len({new_secret() for _ in range(100)}) == 100
