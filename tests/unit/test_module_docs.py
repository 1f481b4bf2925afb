"""docs/modules.md covers every module of the collection, with the options each module really has.

Each module in plugins/modules has a section ``## hpcops.aws_hpc.<module>`` whose ``**Options.**`` line
names exactly the module's own options (its DOCUMENTATION and this collection's doc fragments it extends, without
the AWS connection options amazon.aws's fragments bring), so a rename in a module and in the page cannot drift
apart.
"""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT

PAGE = (ROOT / "docs" / "modules.md").read_text(encoding="utf-8")
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


def _documentation(path):
    source = path.read_text(encoding="utf-8")
    return yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL).group(1))


def documented_options(module):
    doc = _documentation(ROOT / "plugins" / "modules" / f"{module}.py")
    options = set(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        parts = fragment.split(".")
        if parts[:2] == ["hpcops", "aws_hpc"] and len(parts) == 3:  # the fragment's own DOCUMENTATION
            options |= set(_documentation(ROOT / "plugins" / "doc_fragments" / f"{parts[2]}.py").get("options") or {})
    return options


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
