"""Application credential access rules, as Keystone and its middleware define them: a token
made from a credential with rules may make only the requests one of them names (a service
type, an HTTP method and a path template), on every service, checked where the request
arrives. A credential without rules (None) is limited by its roles alone; an empty list
allows nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
SERVICES = frozenset({"object-store", "image", "identity"})
"""The service types Strato serves (a rule for another service can never match here)."""
_TEMPLATE = re.compile(r"(?P<tag>\{[^}]*\})|(?P<any>\*\*)|(?P<one>\*)|(?P<literal>[^{}*]+)")

Rule = tuple[str, str, str]
"""(service type, method, path template)."""


class InvalidRule(ValueError):
    """A rule Keystone would refuse at creation; the message names what is wrong."""


@lru_cache(maxsize=4096)
def _pattern(template: str) -> re.Pattern[str]:
    """`*` and `{name}` match one path segment, `**` any run of them, the rest literally."""
    parts = []
    for token in _TEMPLATE.finditer(template):
        if token["tag"] or token["one"]:
            parts.append(r"[^/]+")
        elif token["any"]:
            parts.append(r".*")
        else:
            parts.append(re.escape(token["literal"]))
    return re.compile("".join(parts), re.DOTALL)


def permits(rules: Iterable[Sequence[str]], service: str, method: str, path: str) -> bool:
    """Whether one rule names this request (`path` relative to the service's endpoint)."""
    return any(service == rule_service and method == rule_method
               and _pattern(template).fullmatch(path) is not None
               for rule_service, rule_method, template in rules)


def check_rule(service: object, method: object, path: object) -> Rule:
    """A rule from a request body, or InvalidRule as Keystone's schema would refuse it."""
    if not isinstance(service, str) or not service:
        raise InvalidRule("access rule service must be a non-empty string")
    if not isinstance(method, str) or method not in METHODS:
        raise InvalidRule(f"access rule method must be one of {', '.join(sorted(METHODS))}")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 225:
        raise InvalidRule("access rule path must start with / (at most 225 characters)")
    return service, method, path
