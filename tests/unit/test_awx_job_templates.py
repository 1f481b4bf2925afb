"""Cross-check of the AWX job templates (roles/awx_config/defaults/main.yml) against the playbooks.

Every job template names a playbook that exists, and every variable it passes (extra_vars, survey
questions) or that a credential type injects is one the playbook or the roles it runs read. Surveys
are valid AWX surveys (defaults of the right type, within bounds, among the choices) and the
schedules parse as RFC 5545 rules. playbooks/awx.yml passes ansible-playbook --syntax-check.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN
from dateutil.rrule import rrulestr

ROLE = ROOT / "roles" / "awx_config"
ROLE_REF = re.compile(r"hpcops\.aws_hpc\.([a-z_]+)")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    return yaml.load(path.read_text(), Loader=_Loader)


DEFAULTS = load(ROLE / "defaults" / "main.yml")
INTERNAL = load(ROLE / "vars" / "main.yml")
TEMPLATES = DEFAULTS["awx_config_job_templates"]
IDS = [t["key"] for t in TEMPLATES]


@cache
def role_text(role: str, seen: frozenset = frozenset()) -> str:
    """Every file of a role, and of the roles it includes in turn."""
    texts = []
    for path in sorted((ROOT / "roles" / role).rglob("*")):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".j2", ".py"}:
            texts.append(path.read_text(errors="replace"))
    text = "\n".join(texts)
    for other in set(ROLE_REF.findall(text)) - seen - {role}:
        if (ROOT / "roles" / other).is_dir():
            text += "\n" + role_text(other, seen | {role})
    return text


@cache
def playbook_text(playbook: str) -> str:
    text = (ROOT / playbook).read_text()
    for role in sorted(set(ROLE_REF.findall(text))):
        if (ROOT / "roles" / role).is_dir():
            text += "\n" + role_text(role)
    return text


def reads(playbook: str, variable: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(variable)}(?![A-Za-z0-9_])", playbook_text(playbook)) is not None


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_playbook_exists(template):
    assert (ROOT / template["playbook"]).is_file(), f"{template['name']}: {template['playbook']} does not exist"


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_every_variable_is_read_by_the_playbook(template):
    variables = list(template.get("extra_vars") or {}) + [q["variable"] for q in template.get("survey") or []]
    unknown = [v for v in variables if not reads(template["playbook"], v)]
    assert not unknown, f"{template['name']}: {template['playbook']} and its roles never read {unknown}"


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_survey_is_a_valid_awx_survey(template):
    for question in template.get("survey") or []:
        where = f"{template['name']} / {question['variable']}"
        assert question["question_name"], where
        kind, default = question["type"], question.get("default")
        assert kind in INTERNAL["_awx_config_survey_types"], where
        if kind == "integer":
            assert isinstance(default, int), where
            assert question["min"] <= default <= question["max"], where
        elif kind in {"text", "textarea"}:
            assert isinstance(default, str), where
            assert (not question.get("required")) or question["min"] <= len(default) <= question["max"], where
        elif kind == "multiplechoice":
            assert default in question["choices"], where
        elif kind == "multiselect":
            assert set(default.split("\n")) <= set(question["choices"]), where


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_artifacts_are_published_by_the_playbook(template):
    text = playbook_text(template["playbook"])
    for key in template.get("artifacts") or []:
        assert re.search(rf"set_stats:\s*\n\s*data:\s*\n\s*{key}:", text), f"{template['name']}: no set_stats of {key}"


def test_the_templates_the_issue_asks_for():
    playbooks = {t["playbook"] for t in TEMPLATES}
    for name in ("site", "bake", "pool", "autogrow", "workload"):
        assert f"playbooks/{name}.yml" in playbooks


def test_schedules_monthly_bake_and_frequent_autogrow():
    schedules = {t["key"]: t["schedule"] for t in TEMPLATES if "schedule" in t}
    assert set(schedules) == {"bake", "autogrow"}
    for schedule in schedules.values():
        rule = rrulestr(schedule["rrule"].replace(" RRULE:", "\nRRULE:"))
        first, second = rule[0], rule[1]
        assert first < second
    bake = rrulestr(schedules["bake"]["rrule"].replace(" RRULE:", "\nRRULE:"))
    assert 28 <= (bake[1] - bake[0]).days <= 31
    autogrow = rrulestr(schedules["autogrow"]["rrule"].replace(" RRULE:", "\nRRULE:"))
    assert (autogrow[1] - autogrow[0]).total_seconds() <= 15 * 60


def test_one_callback_template_and_it_configures_the_hosts():
    callbacks = [t for t in TEMPLATES if t.get("callback")]
    assert [t["playbook"] for t in callbacks] == ["playbooks/site.yml"]
    assert "windows" in callbacks[0]["credentials"]


def test_credential_type_injectors_name_role_variables():
    for ctype in INTERNAL["_awx_config_credential_types"]:
        fields = {f["id"] for f in ctype["inputs"]["fields"]}
        assert set(ctype["inputs"].get("required", [])) <= fields
        for variable, value in (ctype["injectors"].get("extra_vars") or {}).items():
            role = variable.split("_ssm_")[0]
            defaults = (ROOT / "roles" / role / "defaults" / "main.yml").read_text()
            assert re.search(rf"^{variable}:", defaults, re.M), variable
            assert set(re.findall(r"{{\s*(\w+)", value)) <= fields, value
        for value in (ctype["injectors"].get("env") or {}).values():
            assert set(re.findall(r"{{\s*(\w+)", value)) <= fields, value


def test_inventory_source_path_holds_an_hpc_ec2_inventory():
    source = ROOT / DEFAULTS["awx_config_inventory_source_path"] / "hpc_ec2.yml"
    assert yaml.safe_load(source.read_text())["plugin"] == "hpcops.aws_hpc.hpc_ec2"


def test_awx_playbook_syntax_check():
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", "playbooks/awx.yml"],
        cwd=ROOT, env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": str(VENV_BIN)},
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
