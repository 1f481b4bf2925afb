"""Every PowerShell script of the collection parses with a real PowerShell grammar, every T-SQL script
with a T-SQL parser.

- *.ps1 anywhere in the tree (plugins, packer, roles), each file alone and every script as it is sent
  (header + common + body + footer); *.ps1.j2 templates are rendered first (undefined variables become
  placeholders) and the EC2 user-data tags are stripped. tree-sitter-powershell must report no ERROR
  or MISSING node.
- *.sql anywhere in the tree, split into batches on GO, parse with sqlglot's tsql dialect, with no
  statement left as an unparsed Command.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import sqlglot
from conftest import powershell_parser, strip_user_data
from sqlglot import exp

from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import POWERSHELL_DIR, compose

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".venv-pcluster", ".lab", ".git", "tests/output", "node_modules"}
PARSER = powershell_parser()


def _files(pattern: str) -> list[Path]:
    found = []
    for path in ROOT.rglob(pattern):
        rel = path.relative_to(ROOT).as_posix()
        if any(rel == d or rel.startswith(d + "/") for d in SKIP_DIRS):
            continue
        found.append(path)
    return sorted(found)


def _errors(source: bytes) -> list[str]:
    tree = PARSER.parse(source)
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            problems.append(f"line {row + 1} col {col + 1}: {node.type} {node.text[:60]!r}")
        stack.extend(node.children)
    assert tree.root_node.has_error == bool(problems)
    return problems


def _render(template: Path) -> str:
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, keep_trailing_newline=True)
    env.filters.update(
        {k: (lambda v, *a, **kw: v) for k in ("to_json", "b64encode", "quote", "regex_replace", "default")}
    )
    text = env.from_string(template.read_text()).render()
    return strip_user_data(text)


PS_FILES = _files("*.ps1")
PS_TEMPLATES = _files("*.ps1.j2")
BODIES = sorted(p.stem for p in Path(POWERSHELL_DIR).glob("*.ps1") if not p.stem.startswith("_"))
SQL_FILES = _files("*.sql")


def test_there_is_something_to_parse():
    assert len(BODIES) >= 10 and len(SQL_FILES) >= 5


@pytest.mark.parametrize("path", PS_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_powershell_file_parses(path):
    text = path.read_text()
    if text.lstrip().startswith("<powershell>"):
        text = strip_user_data(text)
    assert _errors(text.encode()) == []


@pytest.mark.parametrize("name", BODIES)
def test_composed_script_parses(name):
    text = compose(name)
    assert text.lstrip().startswith("#")
    assert "[CmdletBinding(SupportsShouldProcess)]" in text
    assert _errors(text.encode()) == []


@pytest.mark.parametrize("path", PS_TEMPLATES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_powershell_template_parses_once_rendered(path):
    assert _errors(_render(path).encode()) == []


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_tsql_file_parses(path):
    batches = [b for b in re.split(r"^\s*GO\s*$", path.read_text(), flags=re.MULTILINE | re.IGNORECASE) if b.strip()]
    assert batches
    for batch in batches:
        statements = [
            s for s in sqlglot.parse(batch, read="tsql", error_level=sqlglot.ErrorLevel.RAISE) if s is not None
        ]
        assert statements
        unparsed = [s.sql() for s in statements if isinstance(s, exp.Command)]
        assert unparsed == []


def test_the_parsers_do_reject_broken_input():
    assert _errors(b"if ($x { Write-Output 1 ")
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse("SELECT FROM WHERE (", read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
