"""The become settings a role gives its tasks, rendered from the role's own files.

The roles' task files, defaults/main.yml and vars/main.yml are read as they ship; their Jinja is rendered with
jinja2's native environment, Ansible's own ``combine`` and ``bool`` filters, the inventory variables a test
passes, and a stand-in for ``lookup('amazon.aws.ssm_parameter', name, ...)`` that answers from a dict (the only
lookup the Windows roles use) and records what was read. The result is Ansible's runas become plugin configured
the way the task executor would configure it, for scripted_host.run_action.

Plain Jinja and Ansible differ on one thing the roles could write: a backslash escape inside a string literal,
which Ansible keeps as written. The roles build a backslash with ``'%c' | format(92)`` instead (checked by
test_role_setup_account.py), and render the same here and under ansible-playbook.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.plugins.filter.core import combine, to_bool
from jinja2 import StrictUndefined
from jinja2.nativetypes import NativeEnvironment
from scripted_host import runas

ROOT = Path(__file__).resolve().parents[4]
BECOME_KEYS = ("become", "become_method", "become_user", "become_flags")


def role_tasks(role: str, name: str = "main.yml") -> list[dict]:
    """The role's tasks in order, following import_tasks."""
    tasks = []
    for task in yaml.safe_load((ROOT / "roles" / role / "tasks" / name).read_text()) or []:
        imported = task.get("ansible.builtin.import_tasks") or task.get("ansible.builtin.include_tasks")
        if imported:
            tasks.extend(role_tasks(role, imported))
        else:
            tasks.append(task)
    return tasks


def module_of(task: dict) -> str:
    return next(k for k in task if "." in k and k.count(".") >= 2)


class RoleVars(dict):
    """Role defaults, role vars and inventory variables; a templated value is rendered when it is read."""

    def __init__(self, renderer, values):
        super().__init__(values)
        self._renderer = renderer
        self._reading = set()

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if not (isinstance(value, str) and "{{" in value):
            return value
        assert key not in self._reading, f"{key} refers to itself"
        self._reading.add(key)
        try:
            return self._renderer.render(value)
        finally:
            self._reading.discard(key)


class RoleRenderer:
    def __init__(self, role: str, inventory: dict | None = None, ssm: dict | None = None):
        self.role = role
        self.ssm = dict(ssm or {})
        self.ssm_reads: list[str] = []
        self.env = NativeEnvironment(undefined=StrictUndefined)
        self.env.filters.update(combine=combine, bool=to_bool)
        values = {}
        for layer in ("defaults", "vars"):
            path = ROOT / "roles" / role / layer / "main.yml"
            if path.exists():
                values.update(yaml.safe_load(path.read_text()) or {})
        values.update(inventory or {})
        values["lookup"] = self.lookup
        self.variables = RoleVars(self, values)

    def lookup(self, plugin, name, **_kwargs):
        assert plugin == "amazon.aws.ssm_parameter", plugin
        self.ssm_reads.append(name)
        return self.ssm[name]

    def render(self, value, extra: dict | None = None):
        if not isinstance(value, str) or "{{" not in value:
            return value
        variables = self.variables
        if extra:
            variables = RoleVars(self, dict(dict.items(self.variables), **extra))
        template = self.env.from_string(value.strip())
        parts = list(template.root_render_func(template.new_context(variables, shared=True)))
        # A single expression keeps its type (a dict stays a dict); a string is never re-parsed as a literal, as
        # Ansible 2.19 does not ("2019" stays a string).
        return parts[0] if len(parts) == 1 else "".join(str(p) for p in parts)

    def assert_holds(self, task: dict) -> tuple[bool, str]:
        """(every ``that`` of an ansible.builtin.assert task holds, its rendered fail_msg)."""
        spec = task["ansible.builtin.assert"]
        held = all(to_bool(self.render("{{ " + cond.strip() + " }}")) for cond in spec["that"])
        return held, str(self.render(spec.get("fail_msg", "")))

    def become_of(self, task: dict) -> dict:
        """become, become_method, become_user, become_flags and ansible_become_password as the task gives them."""
        settings = {key: self.render(task[key], task.get("vars")) for key in BECOME_KEYS if key in task}
        if "become" in settings:
            settings["become"] = to_bool(settings["become"])
        password = (task.get("vars") or {}).get("ansible_become_password")
        settings["password"] = self.render(password) if password is not None else None
        return settings

    def become_plugin(self, task: dict):
        """Ansible's runas plugin configured from the task, or None when the task does not become."""
        settings = self.become_of(task)
        if not settings.get("become"):
            return None
        assert settings["become_method"] == "ansible.builtin.runas", settings["become_method"]
        return runas(settings["become_user"], settings["password"], settings.get("become_flags") or "")
