# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Join and scale-in of win_hpc_computenode, planned from its probe (private: no compatibility promise)."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import HpcPlanError, Plan, enum_name, setup_needed


def plan_computenode(options, probe):
    plan = Plan()
    node = probe.get("node") or {}
    node_name = node.get("NetBiosName") or probe.get("computer_name")
    if options["state"] == "absent":
        present = bool(node.get("NetBiosName"))
        plan.before["node"] = {"present": present, "state": enum_name(node.get("NodeState")) or None}
        plan.after["node"] = {"present": False, "state": None}
        if present:
            plan.add(
                "node",
                node_name,
                "drain_and_remove",
                drain_timeout=options["drain_timeout"],
                force_after_timeout=options["force_after_timeout"],
                running_tasks=int(probe.get("running_tasks") or 0),
            )
        return plan
    certs = probe.get("certificates") or {}
    before_files = {}
    for name in options["certificate_files"]:
        local = (certs.get("local") or {}).get(name) or {}
        remote = (certs.get("share") or {}).get(name) or {}
        before_files[name] = bool(local.get("Exists"))
        if remote.get("Exists") and local.get("Sha256") != remote.get("Sha256"):
            plan.add("certificate_copy", name, "copy")
        elif not local.get("Exists"):
            raise HpcPlanError(
                "Failed to copy %s from %s: %s"
                % (name, options["share"], certs.get("share_error") or "the file is not on the share")
                + " (the double hop to the head node needs become_method runas or Kerberos delegation)"
            )
    plan.before["certificates"] = before_files
    plan.after["certificates"] = {name: True for name in options["certificate_files"]}
    root = probe.get("root") or {}
    plan.before["root_trusted"] = bool(root.get("InRoot"))
    plan.after["root_trusted"] = True
    if not root.get("InRoot") or plan.steps("certificate_copy"):
        plan.add("root_certificate", options["public_certificate"], "import")
    if setup_needed(plan, probe, options["setup_path"], "compute node"):
        plan.add("install", options["headnode"], "install_computenode", setup_path=options["setup_path"])
    health = enum_name(node.get("NodeHealth"))
    state = enum_name(node.get("NodeState"))
    # The probe reads the template and the approval with Get-HpcNode's documented filters: Template is the
    # wanted template when the node has it (-TemplateName), else null; Unapproved is -HealthState Unapproved.
    template = node.get("Template")
    registered = bool(node.get("NetBiosName"))
    unapproved = bool(node.get("Unapproved")) or health.lower() == "unapproved"
    has_template = bool(template) and str(template).lower() == options["template"].lower()
    if registered and not unapproved and not has_template and state.lower() != "offline":
        # "The specified nodes must be in the offline state before you can assign or reapply node templates"
        # (Assign-HpcNodeTemplate.md, NOTES): a node at work is never taken offline to change its template.
        raise HpcPlanError(
            "Compute node %s is %s and not in node template '%s'; Assign-HpcNodeTemplate needs the node offline "
            "and rebuilds it from the template - take it offline first or set template to the node's template"
            % (node_name, state or "in an unknown state", options["template"])
        )
    assign = not registered or unapproved or not has_template
    plan.before["node"] = {
        "health": health or None,
        "state": state or None,
        "unapproved": unapproved if registered else None,
        "template": template,
    }
    plan.after["node"] = {
        "health": "OK",
        "state": "Online" if options.get("online", True) else (state or "Offline"),
        "unapproved": False,
        "template": options["template"],
    }
    if assign:
        plan.add("node_template", node_name, "assign", template=options["template"])
    if options.get("online", True) and state.lower() != "online":
        plan.add("node_state", node_name, "online")
    return plan
