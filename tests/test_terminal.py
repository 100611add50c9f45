"""accord.terminal: what the `accord` command hands every feature's commands."""

from __future__ import annotations

import pytest

from accord import terminal
from accord.runtime import Runtime
from tests.clirunner import installed


def test_a_feature_command_needs_the_installed_terminal(rt: Runtime) -> None:
    previous = terminal.install(None)
    try:
        with pytest.raises(RuntimeError, match="accord"):
            terminal.runtime()
        with installed(rt) as mine:
            assert terminal.setup() is mine and terminal.runtime() is rt
        with pytest.raises(RuntimeError):
            terminal.setup()
    finally:
        terminal.install(previous)
