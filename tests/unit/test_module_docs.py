"""docs/modules.md covers every module of the collection, with the options each module really has.

Each module in plugins/modules has a section ``## hpcops.aws_hpc.<module>`` whose ``**Options.**`` line
names exactly the module's own options (its DOCUMENTATION, without the AWS connection options the doc
fragments bring), so a rename in a module and in the page cannot drift apart.
"""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT

PAGE = (ROOT / "docs" / "modules.md").read_text(encoding="utf-8")
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


def documented_options(module):
    source = (ROOT / "plugins" / "modules" / f"{module}.py").read_text(encoding="utf-8")
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL).group(1))
    return set(doc.get("options") or {})


def section(module):
    match = re.search(rf"^## hpcops\.aws_hpc\.{module}\n(.*?)(?=^## |\Z)", PAGE, re.DOTALL | re.MULTILINE)
    assert match, f"docs/modules.md has no section '## hpcops.aws_hpc.{module}'"
    return match.group(1)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_a_section_listing_its_options(module):
    text = section(module)
    line = re.search(r"^\*\*Options\.\*\*(.*?)(?:\n\n|\Z)", text, re.DOTALL | re.MULTILINE)
    assert line, f"section of {module} has no **Options.** paragraph"
    # option names in backticks; values in parentheses after a name are not options
    named = set(re.findall(r"`([a-z_][a-z0-9_]*)`", re.sub(r"\([^)]*\)", "", line.group(1))))
    assert named == documented_options(module), f"{module}: docs/modules.md lists {sorted(named)}"


def test_the_page_has_no_section_for_a_module_that_does_not_exist():
    sections = set(re.findall(r"^## hpcops\.aws_hpc\.([a-z_0-9]+)$", PAGE, re.MULTILINE))
    assert sections == set(MODULES)
