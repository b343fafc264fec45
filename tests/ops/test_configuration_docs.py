"""Every environment variable settings.py reads is documented (STYLE.md §7)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = {"env", "env_bool", "env_int", "env_list", "get"}


def settings_variables() -> set[str]:
    tree = ast.parse((ROOT / "smarketing" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        name = getattr(func, "id", None) or getattr(func, "attr", None)
        first = node.args[0]
        literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
        if name in READERS and literal and first.value.isupper():
            names.add(first.value)
    return names


def test_the_parser_finds_the_variables():
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SMARKETING_VAR_DIR"} <= settings_variables()


def test_env_example_lists_every_variable():
    lines = (ROOT / ".env.example").read_text().splitlines()
    listed = {line.split("=", 1)[0].strip() for line in lines if "=" in line[:60]}
    listed = {name for name in listed if name.isidentifier()}
    assert settings_variables() - listed == set()


def test_operations_doc_explains_every_variable():
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert {name for name in settings_variables() if f"`{name}`" not in doc} == set()
