"""Provisioning callbacks in the launch templates' user data (roles/aws_tier/templates/userdata-windows.ps1.j2).

Rendered without awx_callback_url / awx_host_config_key the user data makes no callback; rendered
with both it POSTs the host config key to the callback URL (with retries, once per instance). Both
renderings parse with tree-sitter-powershell without an ERROR or MISSING node, and the URL and key
travel as base64 JSON, so no quoting in them can change the script. The aws_tier role declares the
two variables (defaults from awx_callback_url / awx_host_config_key, argument specs).
"""

from __future__ import annotations

import base64
import json
import re

import jinja2
import pytest
import tree_sitter
import tree_sitter_powershell
import yaml
from conftest import ROOT

TEMPLATE = ROOT / "roles" / "aws_tier" / "templates" / "userdata-windows.ps1.j2"
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
URL = "https://awx.example.com/api/v2/job_templates/42/callback/"
KEY = "k'e\"y $(whoami) `n"  # quotes, a subexpression and a backtick: must stay data


def render(**variables) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    env.filters["b64encode"] = lambda text: base64.b64encode(text.encode()).decode()
    values = {"aws_tier_name": "computenode", "aws_tier_cluster_name": "demo",
              "aws_tier_awx_callback_url": "", "aws_tier_awx_host_config_key": ""}
    values.update(variables)
    return env.from_string(TEMPLATE.read_text()).render(**values)


def script(user_data: str) -> str:
    match = re.search(r"<powershell>(.*)</powershell>", user_data, re.S)
    assert match, "user data without a <powershell> block"
    return match[1]


def problems(source: str) -> list[str]:
    tree = PARSER.parse(source.encode())
    found, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{node.type} at line {node.start_point[0] + 1}: {source.splitlines()[node.start_point[0]]!r}")
        stack.extend(node.children)
    return found


def test_no_callback_without_the_variables():
    for variables in ({}, {"aws_tier_awx_callback_url": URL}, {"aws_tier_awx_host_config_key": KEY}):
        body = script(render(**variables))
        assert "Invoke-RestMethod" not in body
        assert problems(body) == []


def test_callback_with_the_variables():
    body = script(render(aws_tier_awx_callback_url=URL, aws_tier_awx_host_config_key=KEY))
    assert problems(body) == []
    assert re.search(r"Invoke-RestMethod -Method Post -Uri \$awxCallback\.url -Body @\{ host_config_key = ", body)
    assert re.search(r"for \(\$attempt = 1; \$attempt -le \d+; \$attempt\+\+\)", body), "no retries"
    assert "Start-Sleep" in body and "awx-callback.done" in body
    # URL and key only as base64 JSON: nothing of them is spliced into the script text
    assert URL not in body and "whoami" not in body
    encoded = re.search(r"FromBase64String\(\s*'([A-Za-z0-9+/=]+)'\)", body)
    assert encoded
    assert json.loads(base64.b64decode(encoded[1])) == {"url": URL, "host_config_key": KEY}
    # the callback comes last, after WinRM is set up
    assert body.index("WSMan:\\localhost\\Listener") < body.index("Invoke-RestMethod")


def test_aws_tier_declares_the_callback_variables():
    defaults = yaml.safe_load((ROOT / "roles" / "aws_tier" / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / "aws_tier" / "meta" / "argument_specs.yml").read_text())
    options = {}
    for spec in specs["argument_specs"].values():
        options.update(spec.get("options", {}))
    assert "awx_callback_url" in defaults["aws_tier_awx_callback_url"]
    assert "awx_host_config_key" in defaults["aws_tier_awx_host_config_key"]
    for name in ("aws_tier_awx_callback_url", "aws_tier_awx_host_config_key"):
        assert options[name]["type"] == "str"
    assert options["aws_tier_awx_host_config_key"].get("no_log") is True


@pytest.mark.parametrize("tier", ["sqlserver", "headnode", "computenode"])
def test_every_tier_renders(tier):
    user_data = render(aws_tier_name=tier, aws_tier_awx_callback_url=URL, aws_tier_awx_host_config_key=KEY)
    assert problems(script(user_data)) == []
