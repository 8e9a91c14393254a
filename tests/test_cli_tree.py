"""The `strato` command tree: client commands and server commands in one, told apart in
`--help`; the client never imports the server."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from strato.cli import SERVER_COMMANDS, main
from strato.server.cli import main as server_main


def test_every_server_command_is_in_the_tree_and_nothing_else() -> None:
    assert set(SERVER_COMMANDS) == set(server_main.commands)
    for name in SERVER_COMMANDS:
        assert main.get_command(None, name) is server_main.commands[name]  # type: ignore[arg-type]


def test_help_separates_client_and_server_commands() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    client_at = out.index("Client commands")
    server_at = out.index("Server commands")
    assert client_at < out.index("  auth ") < server_at < out.index("  serve ")


def test_the_client_imports_no_server_module() -> None:
    code = ("import sys, strato.client, strato.client.cli, strato.client.blocking; "
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
            "(['strato','server'], ['strato','api'], ['strato','domain'], ['strato','stores'])"
            " or m.split('.')[0] in ('uvicorn', 'pydantic', 'argon2', 'oslo_utils')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_server_command_without_the_server_says_how_to_install_it() -> None:
    # A blocker on the import path stands in for an install without the `server` extra.
    code = ("import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] in ('uvicorn', 'pydantic', 'argon2'):\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from strato.cli import main\n"
            "main(['serve', '--port', '1'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "pip install 'strato[server]'" in done.stderr
