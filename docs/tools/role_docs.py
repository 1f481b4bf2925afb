"""Generate docs/roles.md from every role's meta/argument_specs.yml.

    python docs/tools/role_docs.py --write   regenerate docs/roles.md
    python docs/tools/role_docs.py --check   fail when docs/roles.md is out of date, or when a role
                                             default is missing from (or disagrees with) its spec

The argument specs are the single source of truth for role variables: Ansible validates them at
run time, and this page is built from them, so the two cannot drift apart.

Descriptions use Ansible's documentation markup; render_markup() turns it into Markdown:
C(x), V(x), O(x), E(x), RV(x) -> `x` (O(a=b) -> `a=b`; an option or return value of another
plugin, O(ns.coll.plugin#type:name), shows its name), M(fqcn) and P(fqcn#type) -> `fqcn`,
I(x) -> *x*, B(x) -> **x**, U(url) -> <url>, L(text,url) -> [text](url), R(text,ref) -> text,
HORIZONTALLINE -> a line break.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "roles.md"


# Ansible's markup, the way ansible-doc reads it: the classic macros (B, I, M, U, L, R, C) end at the
# first ")"; the semantic ones (O, V, E, RV, P) take backslash escapes (a backslash
# makes the next character literal, so "\)" does not end the macro).
_MACRO = re.compile(
    r"\b(?:"
    r"(?P<sem>RV|[OVEP])\((?P<sem_arg>(?:[^\\)]|\\.)+)\)"
    r"|(?P<one>[BIMUC])\((?P<one_arg>[^)]+)\)"
    r"|(?P<two>[LR])\((?P<two_text>[^)]+), *(?P<two_ref>[^)]+)\)"
    r"|(?P<rule>HORIZONTALLINE)\b"
    r")"
)
_ESCAPE = re.compile(r"\\(.)")


def _code(text: str) -> str:
    """A Markdown code span that survives backticks in its text."""
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def _plugin_local(name: str) -> str:
    """O(ns.coll.plugin#type:opt=value) -> opt=value; O(ignore:opt) -> opt (antsibull's no-link form)."""
    if "#" in name and ":" in name.split("#", 1)[1]:
        return name.split("#", 1)[1].split(":", 1)[1]
    return name.removeprefix("ignore:")


# How the classic macros show in Markdown (C() and M() become code spans).
_FORMATS = {"I": "*{}*", "B": "**{}**", "U": "<{}>", "L": "[{}]({})", "R": "{}"}


def _render_macro(match: re.Match) -> str:
    if match.group("rule"):
        return "<br>"
    if match.group("sem"):
        macro, arg = match.group("sem"), _ESCAPE.sub(r"\1", match.group("sem_arg"))
        if macro in ("O", "RV"):
            arg = _plugin_local(arg)
        elif macro == "P":
            arg = arg.split("#", 1)[0]
        return _code(arg)
    if match.group("one"):
        macro, args = match.group("one"), (match.group("one_arg"),)
    else:
        # L(text,url) links; R(text,reference) names a docsite label, so only its text is shown.
        macro, args = match.group("two"), (match.group("two_text"), match.group("two_ref").strip())
    if macro in _FORMATS:
        return _FORMATS[macro].format(*args)
    return _code(args[0])  # C(), M()


def render_markup(text: str) -> str:
    """Ansible documentation markup -> Markdown (see the module docstring)."""
    return _MACRO.sub(_render_macro, text)


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _describe(option: dict) -> str:
    description = option.get("description", "")
    if isinstance(description, list):
        description = " ".join(description)
    return _cell(render_markup(str(description)))


def _type(option: dict) -> str:
    kind = option.get("type", "str")
    if kind == "list" and option.get("elements"):
        kind = f"list of {option['elements']}"
    if option.get("choices"):
        kind += " (" + ", ".join(f"`{c}`" for c in option["choices"]) + ")"
    return kind


def _default(option: dict) -> str:
    if option.get("required"):
        return "**required**"
    if "default" not in option:
        return ""
    dumped = yaml.safe_dump(option["default"], default_flow_style=True).strip().removesuffix("...").strip()
    return "`" + _cell(dumped) + "`"


def load_roles() -> dict[str, dict]:
    roles = {}
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parent.parent.name
        specs = yaml.safe_load(spec_file.read_text())["argument_specs"]
        defaults_file = spec_file.parent.parent / "defaults" / "main.yml"
        defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
        roles[role] = {"specs": specs, "defaults": defaults or {}}
    return roles


def render(roles: dict[str, dict]) -> str:
    lines = [
        "# Role variables",
        "",
        "Generated from each role's `meta/argument_specs.yml` by `docs/tools/role_docs.py`; do not edit by hand.",
        "Ansible checks these specs when a role starts, so a wrong type or value stops the run before",
        "anything changes, with a message naming the variable.",
        "",
    ]
    for role, data in roles.items():
        for entry, spec in data["specs"].items():
            title = f"hpcops.aws_hpc.{role}" + ("" if entry == "main" else f" (entry point `{entry}`)")
            lines += [f"## {title}", ""]
            summary = spec.get("short_description") or ""
            if summary:
                lines += [_cell(render_markup(summary)), ""]
            options = spec.get("options", {})
            if not options:
                lines += ["This role takes no variables.", ""]
                continue
            lines += ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
            for name, option in sorted(options.items()):
                lines.append(f"| `{name}` | {_type(option)} | {_default(option)} | {_describe(option)} |")
            lines.append("")
    return "\n".join(lines)


def problems(roles: dict[str, dict]) -> list[str]:
    """Defaults and specs must agree: every default documented, every spec default equal."""
    found = []
    for role, data in roles.items():
        options = {}
        for spec in data["specs"].values():
            options.update(spec.get("options", {}))
        for name, value in data["defaults"].items():
            if name.startswith("_"):
                continue
            if name not in options:
                found.append(f"roles/{role}: default {name} is not in meta/argument_specs.yml")
            elif "default" in options[name] and options[name]["default"] != value:
                spec_default = options[name]["default"]
                found.append(f"roles/{role}: {name} defaults to {value!r} but the spec says {spec_default!r}")
        for name in options:
            if not name.startswith(f"{role}_"):
                found.append(f"roles/{role}: variable {name} must be prefixed with {role}_")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    roles = load_roles()
    text = render(roles)
    errors = problems(roles)
    if args.write:
        OUTPUT.write_text(text)
        print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(roles)} roles)")
    elif not OUTPUT.exists() or OUTPUT.read_text() != text:
        errors.append("docs/roles.md is out of date: run `make docs`")
    for error in errors:
        print(f"role docs: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
