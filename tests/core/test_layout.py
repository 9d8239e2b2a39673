"""The package's layout, as its README and each package's docstring describe it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deltastream"
MODULES = sorted(PACKAGE.rglob("*.py"))
#: The modules that are commands (python -m ...): they may parse arguments with cli.
COMMANDS = {"broker.py", "demo/__main__.py", "demo/pipeline.py", "demo/sampledata.py"}


def name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def imports(path: Path) -> set[str]:
    """The modules ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_sides_are_packages_each_saying_what_it_is() -> None:
    for side in ("kafka", "publish", "subscribe", "query", "demo"):
        doc = ast.get_docstring(ast.parse((PACKAGE / side / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"{side}/__init__.py says what the package does and may import"


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_no_module_is_over_400_lines_and_no_class_over_120(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= 400
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno + 1 <= 120, f"class {node.name}"


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_the_library_never_imports_cli(path: Path) -> None:
    if name(path) not in COMMANDS:
        assert "deltastream.cli" not in imports(path)


@pytest.mark.parametrize("path", sorted((PACKAGE / "query").rglob("*.py")), ids=name)
def test_the_read_side_never_imports_the_write_side(path: Path) -> None:
    wrong = {m for m in imports(path) if m.startswith(("deltastream.subscribe", "deltastream.publish"))}
    assert not wrong


@pytest.mark.parametrize("path", sorted((PACKAGE / "kafka").rglob("*.py")), ids=name)
def test_kafka_knows_nothing_of_delta(path: Path) -> None:
    wrong = {m for m in imports(path) if m.startswith(("deltalake", "polars", "deltastream.subscribe"))}
    assert not wrong


@pytest.mark.parametrize("side", ["publish", "subscribe"])
def test_the_write_sides_do_not_import_each_other_or_the_read_side(side: str) -> None:
    others = {
        "publish": ("deltastream.subscribe", "deltastream.query"),
        "subscribe": ("deltastream.publish", "deltastream.query"),
    }
    for path in (PACKAGE / side).rglob("*.py"):
        wrong = {m for m in imports(path) if m.startswith(others[side])}
        assert not wrong, name(path)


SIDES = (
    "deltastream.kafka",
    "deltastream.publish",
    "deltastream.subscribe",
    "deltastream.query",
    "deltastream.demo",
)


@pytest.mark.parametrize("path", sorted([*PACKAGE.glob("*.py"), *PACKAGE.glob("avro/*.py")]), ids=name)
def test_the_core_imports_no_side(path: Path) -> None:
    if name(path) != "broker.py":  # a command: it starts one of the brokers in kafka/
        assert not {m for m in imports(path) if m.startswith(SIDES)}


@pytest.mark.parametrize("path", sorted((PACKAGE / "subscribe" / "formats").glob("*.py")), ids=name)
def test_formats_make_rows_and_write_nothing(path: Path) -> None:
    allowed = (
        "deltastream.kafka.message",
        "deltastream.schema",
        "deltastream.dtypes",
        "deltastream.subscribe.rows",
        "deltastream.avro",
    )
    ours = {m for m in imports(path) if m.startswith("deltastream")}
    assert {
        m for m in ours if not m.startswith(allowed) and not m.startswith("deltastream.subscribe.formats")
    } == set()
    assert not {m for m in imports(path) if m.startswith("deltalake")}
