"""No inventory or example of the collection carries an AWS access key.

The collection's controller credentials are temporary (SSO, an assumed role, an instance role): its
inventories, examples and docs never hold a key. Scanned: ``inventories/**``, the DOCUMENTATION,
EXAMPLES and RETURN strings of every plugin, ``docs/**/*.md``, ``README.md``, ``site.yml``,
``playbooks/**``, the ``defaults`` and ``vars`` of every role, ``molecule/**``, ``ee/**`` and
``execution-environment.yml``. A finding is

- an access key id (``AKIA`` for a long-term key, ``ASIA`` for a temporary one, then 16 characters),
- a secret access key written out (a 40-character value after ``secret_key``, ``aws_secret_access_key``,
  ...),
- in an inventory (``inventories/**``, ``molecule/*/inventory/**`` and any YAML document with a ``plugin``
  key), a credential option (``access_key``, ``secret_key``, ``session_token`` and their aliases) with a
  literal value instead of a template or a vaulted value,
- the lab's dummy credentials (``lab/labctl.py``) used as a credential value: they belong to ``lab/``
  and ``tests/`` only.

Option names alone (``access_key`` in a table of the docs) are not findings.
"""

from __future__ import annotations

import ast
import re

import labctl
import pytest
import yaml
from conftest import ROOT

KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRET_NAMES = r"(?:aws_secret_access_key|aws_secret_key|secret_access_key|secret_key|secretaccesskey)"
SECRET = re.compile(rf"(?i)\b{_SECRET_NAMES}[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{{40}}(?![A-Za-z0-9/+=])")
_CREDENTIAL_NAMES = (r"(?:aws_access_key_id|aws_access_key|access_key|aws_secret_access_key|aws_secret_key|"
                     r"secret_key|aws_session_token|aws_security_token|session_token)")
# a credential written as a value (YAML, INI or shell), for the lab's dummy values
CREDENTIAL_VALUE = re.compile(rf"(?i)\b{_CREDENTIAL_NAMES}[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',}}]+)")
# option names of the inventory plugin (and aws_ec2's aliases) that hold a credential
INVENTORY_CREDENTIAL = re.compile(rf"(?i)^{_CREDENTIAL_NAMES}$")
INVENTORY_DIRS = re.compile(r"^(?:inventories|molecule/[^/]+/inventory)/")
YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)
LAB_VALUES = set(labctl.LAB_CREDENTIALS.values())


class _Vaulted(str):
    """A value with a YAML tag (``!vault``, ``!unsafe``): not a literal credential."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: _Vaulted(getattr(node, "value", "")))


# --------------------------------------------------------------------------- what the scan finds
def text_findings(text):
    """(line, what) of every access key id, written-out secret and lab credential value in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        found += [(number, f"access key id {m.group(0)[:4]}...") for m in KEY_ID.finditer(line)]
        found += [(number, "secret access key written out") for m in SECRET.finditer(line)]
        found += [(number, f"the lab's dummy credential '{m['value']}'") for m in CREDENTIAL_VALUE.finditer(line)
                  if m["value"] in LAB_VALUES]
    return found


def _credential_literals(data, where=""):
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{where}.{key}" if where else str(key)
            if (INVENTORY_CREDENTIAL.match(str(key)) and isinstance(value, str) and value.strip()
                    and not isinstance(value, _Vaulted) and "{{" not in value):
                yield name
            yield from _credential_literals(value, name)
    elif isinstance(data, list):
        for item in data:
            yield from _credential_literals(item, where)


def inventory_findings(text, inventory=False):
    """Credential options with a literal value in the YAML documents of ``text`` that are inventories.

    Every document is one when ``inventory`` is true (a file of an inventory folder), else a document is
    one when it is a mapping with a ``plugin`` key (an inventory source in the docs or a plugin's EXAMPLES).
    """
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return []
    found = []
    for document in documents:
        if inventory or (isinstance(document, dict) and "plugin" in document):
            found += [f"inventory credential {name} has a literal value" for name in _credential_literals(document)]
    return found


# --------------------------------------------------------------------------- what is scanned
def _plugin_doc_strings(path):
    """DOCUMENTATION, EXAMPLES and RETURN of a plugin, each with the line it starts on."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names = {getattr(target, "id", "") for target in node.targets}
            if names & {"DOCUMENTATION", "EXAMPLES", "RETURN"}:
                yield node.lineno - 1, node.value.value, "EXAMPLES" in names and "/inventory/" in path.as_posix()


def _files():
    patterns = ["inventories/**/*", "docs/**/*.md", "README.md", "site.yml", "playbooks/**/*",
                "roles/*/defaults/**/*", "roles/*/vars/**/*", "molecule/**/*", "ee/**/*", "execution-environment.yml"]
    return sorted({path for pattern in patterns for path in ROOT.glob(pattern) if path.is_file()})


def sources():
    """(label, first line - 1, text, is an inventory, YAML documents to check as inventories) of the scope."""
    found = []
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        inventory = bool(INVENTORY_DIRS.match(rel))
        blocks = YAML_BLOCK.findall(text) if path.suffix == ".md" else []
        yaml_texts = [text] if path.suffix in (".yml", ".yaml") else blocks
        found.append((rel, 0, text, inventory, yaml_texts))
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for offset, text, is_inventory_example in _plugin_doc_strings(path):
            found.append((rel, offset, text, False, [text] if is_inventory_example else []))
    return found


SOURCES = sources()


def test_the_scope_covers_inventories_examples_and_docs():
    labels = {label for label, *_rest in SOURCES}
    for expected in ("inventories/aws/hpc_ec2.yml", "inventories/lab/group_vars/all.yml", "docs/inventory.md",
                     "README.md", "plugins/inventory/hpc_ec2.py", "plugins/modules/ssm_secret.py",
                     "molecule/lab/inventory/hpc_ec2.yml", "playbooks/site.yml", "roles/awx_config/vars/main.yml"):
        assert expected in labels, expected
    assert not any(label.startswith(("tests/", "lab/")) for label in labels)
    assert any(inventory for _label, _offset, _text, inventory, _yaml in SOURCES)


def test_no_inventory_or_example_carries_an_access_key():
    offenders = [f"{label}:{offset + line}: {what}"
                 for label, offset, text, _inventory, _yaml in SOURCES for line, what in text_findings(text)]
    assert offenders == [], "temporary credentials only (SSO, an assumed role, an instance role):\n" + "\n".join(
        offenders)


def test_no_inventory_holds_a_credential_value():
    offenders = [f"{label}: {what}" for label, _offset, _text, inventory, yaml_texts in SOURCES
                 for text in yaml_texts for what in inventory_findings(text, inventory)]
    assert offenders == [], "inventories take credentials from the environment, a profile or a role:\n" + "\n".join(
        offenders)


def test_the_lab_credentials_are_dummies_kept_to_lab_and_tests():
    """moto's documented test values: not of the form of a real key, and nothing of that form in lab/ or tests/."""
    for name, value in labctl.LAB_CREDENTIALS.items():
        assert not KEY_ID.search(value), name
        assert not re.fullmatch(r"[A-Za-z0-9/+]{40}", value), name
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for folder in ("lab", "tests") for path in sorted((ROOT / folder).rglob("*"))
                 if path.is_file() and path.suffix in (".py", ".yml", ".yaml", ".json", ".cfg", ".ini", ".sh", ".md")
                 for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                 if KEY_ID.search(line)]
    assert offenders == []


# --------------------------------------------------------------------------- the scan itself
# Planted keys are put together at run time, so this file never holds one itself.
PLANTED_ID = "AKIA" + "Q3VHX5TEL2Y4NP7B"
PLANTED_TEMPORARY_ID = "ASIA" + "Q3VHX5TEL2Y4NP7B"
PLANTED_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCY" + "Z" * 10
LAB = labctl.LAB_CREDENTIALS["AWS_ACCESS_KEY_ID"]


@pytest.mark.parametrize("text", [
    f"access_key: {PLANTED_ID}",
    f"aws_access_key_id = {PLANTED_TEMPORARY_ID}",
    f"export AWS_ACCESS_KEY_ID={PLANTED_ID}",
    f'    "AccessKeyId": "{PLANTED_ID}",',
    f"  key: '{PLANTED_ID}'",
    f"secret_key: {PLANTED_SECRET}",
    f'secret_key: "{PLANTED_SECRET}"',
    f"aws_secret_access_key = {PLANTED_SECRET}",
    f"AWS_SECRET_ACCESS_KEY={PLANTED_SECRET}",
    f"access_key: {LAB}",
    f"AWS_ACCESS_KEY_ID={LAB} ansible-playbook site.yml",
])
def test_the_scan_catches_a_planted_key(text):
    assert len(PLANTED_SECRET) == 40 and len(PLANTED_ID) == 20
    assert text_findings(text), text


@pytest.mark.parametrize("text", [
    "| `access_key` | `aws_access_key_id`, `aws_access_key` | `AWS_ACCESS_KEY_ID`, `AWS_ACCESS_KEY` |",
    "| `secret_key` | `aws_secret_access_key`, `aws_secret_key` | `AWS_SECRET_ACCESS_KEY`, `AWS_SECRET_KEY` |",
    "`access_key`/`secret_key`/`session_token`, `validate_certs`, `aws_ca_bundle`, `aws_config`) and belong",
    "hpc_ec2: option secret_key: must be set in the inventory file together with access_key",
    "secret_key: \"{{ lookup('ansible.builtin.env', 'HPC_INVENTORY_SECRET_KEY') }}\"",
    '        AWS_SECRET_ACCESS_KEY: !unsafe "{{ secret_key }}"',
    "        - {id: secret_key, label: Secret access key, type: string, secret: true}",
    "AKIAEXAMPLE is too short; AKIA" + "Q3VHX5TEL2Y4NP7B9 is too long",
    "image: ami-0123456789abcdef0, sha1 0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d",
])
def test_the_scan_leaves_option_names_and_templates_alone(text):
    assert text_findings(text) == []


@pytest.mark.parametrize("text, inventory, found", [
    (f"plugin: hpcops.aws_hpc.hpc_ec2\nregions: [eu-central-1]\naccess_key: {LAB}\n", False, ["access_key"]),
    ("plugin: amazon.aws.aws_ec2\naws_access_key_id: placeholder\naws_secret_access_key: also\n", False,
     ["aws_access_key_id", "aws_secret_access_key"]),
    ("---\nhpc_cluster_name: hpc\naws:\n  session_token: abc\n", True, ["aws.session_token"]),
    ("plugin: hpcops.aws_hpc.hpc_ec2\naccess_key: \"{{ lookup('ansible.builtin.env', 'KEY') }}\"\n", False, []),
    ("plugin: hpcops.aws_hpc.hpc_ec2\nsecret_key: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n", False, []),
    ("plugin: hpcops.aws_hpc.hpc_ec2\nprofile: ops\n", False, []),
    # a task list is not an inventory: module options are someone else's business
    ("- name: x\n  amazon.aws.aws_caller_info:\n    access_key: literal\n", False, []),
])
def test_inventory_credentials_must_be_templates(text, inventory, found):
    assert inventory_findings(text, inventory) == [f"inventory credential {name} has a literal value"
                                                   for name in found]
