"""docs/tools/role_docs.py renders Ansible's documentation markup into Markdown.

docs/roles.md is generated from roles/*/meta/argument_specs.yml, whose descriptions use C(), V(), O(),
I(), M(), U(), L(), E(), RV() ... as ansible-doc reads them. The page must show Markdown, not the raw
macros: each macro is checked on its own, then inside a generated table row, then over every real
argument spec of the collection.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("role_docs", ROOT / "docs" / "tools" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(role_docs)

RAW_MACRO = re.compile(r"\b(?:RV|[BIMULRCEVOP])\([^)]*\)|\bHORIZONTALLINE\b")


@pytest.mark.parametrize(
    ("markup", "markdown"),
    [
        ("C(0.0.0.0/0)", "`0.0.0.0/0`"),
        ("V(true)", "`true`"),
        ("O(aws_foundation_admin_ssh)", "`aws_foundation_admin_ssh`"),
        ("O(state=absent)", "`state=absent`"),
        ("O(amazon.aws.ec2_instance#module:state=running)", "`state=running`"),
        ("O(ignore:legacy_option)", "`legacy_option`"),
        ("RV(reboot_required)", "`reboot_required`"),
        ("RV(amazon.aws.ec2_ami#module:image_id)", "`image_id`"),
        ("E(AWS_REGION)", "`AWS_REGION`"),
        ("M(amazon.aws.ec2_vpc_endpoint)", "`amazon.aws.ec2_vpc_endpoint`"),
        ("P(amazon.aws.aws_ssm#connection)", "`amazon.aws.aws_ssm`"),
        ("I(not) recommended", "*not* recommended"),
        ("B(never)", "**never**"),
        ("U(https://docs.aws.amazon.com/)", "<https://docs.aws.amazon.com/>"),
        ("L(Session Manager,https://docs.aws.amazon.com/ssm/)", "[Session Manager](https://docs.aws.amazon.com/ssm/)"),
        ("L(a, b, c, https://example.com/x)", "[a, b, c](https://example.com/x)"),
        ("R(the bakery, bakery_label)", "the bakery"),
        ("one HORIZONTALLINE two", "one <br> two"),
        # semantic macros take backslash escapes; classic ones end at the first ")"
        (r"V(a\)b)", "`a)b`"),
        (r"O(x=C:\\tmp)", r"`x=C:\tmp`"),
        ("C(a`b)", "`` a`b ``"),
        # words that merely end in a macro letter are not macros
        ("SQL(2017) and ARC(x)", "SQL(2017) and ARC(x)"),
        ("plain text, (parenthesised)", "plain text, (parenthesised)"),
    ],
)
def test_render_markup(markup, markdown):
    assert role_docs.render_markup(markup) == markdown


def test_several_macros_in_one_sentence():
    text = "Any C(/0) (C(0.0.0.0/0), C(::/0)) is refused; with O(aws_foundation_admin_ssh) also SSH, V(22)."
    assert role_docs.render_markup(text) == (
        "Any `/0` (`0.0.0.0/0`, `::/0`) is refused; with `aws_foundation_admin_ssh` also SSH, `22`."
    )


def test_generated_row_renders_markup_and_escapes_table_pipes():
    roles = {
        "demo": {
            "specs": {
                "main": {
                    "short_description": "Demo role for M(hpcops.aws_hpc.ssm_secret)",
                    "options": {
                        "demo_mode": {
                            "type": "str",
                            "choices": ["a", "b"],
                            "default": "a",
                            "description": ["V(a) or V(b); see", "U(https://example.com/x|y) and C(x|y)."],
                        }
                    },
                }
            },
            "defaults": {"demo_mode": "a"},
        }
    }
    page = role_docs.render(roles)
    assert "Demo role for `hpcops.aws_hpc.ssm_secret`" in page
    row = next(line for line in page.splitlines() if line.startswith("| `demo_mode`"))
    expected = "| `demo_mode` | str (`a`, `b`) | `a` | `a` or `b`; see <https://example.com/x\\|y> and `x\\|y`. |"
    assert row == expected


def test_every_role_spec_renders_without_raw_macros():
    """The real argument specs use C(), V(), O(), M(), E() ...; none survives into the page."""
    roles = role_docs.load_roles()
    assert roles, "no roles/*/meta/argument_specs.yml found"
    raw_sources = [
        option.get("description", "")
        for data in roles.values()
        for spec in data["specs"].values()
        for option in spec.get("options", {}).values()
    ]
    assert any(RAW_MACRO.search(" ".join(d) if isinstance(d, list) else str(d)) for d in raw_sources)
    page = role_docs.render(roles)
    assert RAW_MACRO.findall(page) == []
