"""The console is a front-end beside the Swift, Keystone and image ones: it talks to Swift
in-process through the Swift front-end's handler and shares code only through the layers
below (`strato.domain`, `strato.api.http`), never by importing another front-end."""

from __future__ import annotations

import ast
from pathlib import Path

import strato.api.console

OTHER_FRONT_ENDS = ("strato.api.swift", "strato.api.identity", "strato.api.image")


def test_console_imports_no_other_front_end() -> None:
    package = Path(strato.api.console.__file__).parent
    found = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{source.name}: {name}" for name in names
                      if name.startswith(OTHER_FRONT_ENDS)]
    assert found == []
