# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state machine of the pcluster_cluster module (private: not a public API).

In the manner of community.docker's ``ContainerManager``: :func:`cluster_result` builds the wanted
configuration (``_pcluster_spec``) and a :class:`ClusterManager`, which runs ``pcluster`` through
``_pcluster_cli.PclusterCLI``, decides with ``_pcluster_policy`` what a change takes, collects one result
and returns it. Every failure raises ``PclusterError`` carrying the message and the result collected so
far; the module exits once, in its ``main()``.

While it waits, each status change is written to the ``progress_file`` (``_progress.ProgressWriter``)
that the collection's action plugin tails.
"""

from __future__ import annotations

import os
import time

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import AWSCallError, aws_call, client_from_module
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_cli import (
    NOT_FOUND,
    PclusterCLI,
    PclusterError,
    format_messages,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_policy import (
    FLEET_STOP,
    NO_CHANGE,
    REPLACEMENT,
    decide_update,
    explain,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_spec import SpecError, render
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._progress import ProgressWriter

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False

DRY_RUN_OK = "Request would have succeeded"
IN_PROGRESS = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS")
FLEET_NOT_RUNNING = ("STOPPED", "STOP_REQUESTED", "STOPPING")


class ClusterManager:
    """Brings one cluster to ``present`` or ``absent``; :meth:`run` returns the module's result."""

    def __init__(self, module, pcluster, name, config):
        self.module = module
        self.pcluster = pcluster
        self.name = name
        self.config = config
        self.progress = []
        self.result = {
            "cluster_name": name,
            "config": config,
            "changes": [],
            "validation_messages": [],
            "would_change": False,
            "progress": self.progress,
        }
        self._config_file = None
        self.live = ProgressWriter(module.params.get("progress_file"), secrets=module.no_log_values)

    # ------------------------------------------------------------ helpers
    @property
    def params(self):
        return self.module.params

    @property
    def dry_run(self):
        return self.params["dry_run"]

    @property
    def check_mode(self):
        return self.module.check_mode

    def say(self, text):
        """One live progress line (a no-op without progress_file)."""
        self.live.write(f"pcluster[{self.name}] {text}")

    def outcome(self, described, changed):
        """The result, with the cluster as ``described`` (None: no cluster)."""
        self.result["changed"] = changed
        self.result["exists"] = described is not None
        self.result["status"] = described.get("clusterStatus") if described else None
        if described:
            head = described.get("headNode") or {}
            self.result["head_node"] = {
                "instance_id": head.get("instanceId"),
                "private_ip_address": head.get("privateIpAddress"),
                "public_ip_address": head.get("publicIpAddress"),
                "state": head.get("state"),
            }
            self.result["compute_fleet_status"] = described.get("computeFleetStatus")
        return dict(self.result)

    def set_diff(self, before, after):
        if self.module._diff:
            self.result["diff"] = {"before": before, "after": after}

    def config_file(self):
        if self._config_file is None:
            path = os.path.join(self.module.tmpdir, f"{self.name}-config.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(self.config, handle, default_flow_style=False, sort_keys=False)
            self._config_file = path
        return self._config_file

    def base_args(self):
        return ["--cluster-name", self.name, "--cluster-configuration", self.config_file(),
                *self.pcluster.validation_args()]

    def stored_config(self, described):
        url = (described.get("clusterConfiguration") or {}).get("url")
        if not url:
            raise PclusterError(f"pcluster describe-cluster {self.name} returned no configuration URL")
        try:
            with open_url(url, timeout=60) as response:
                text = response.read()
        except Exception as exc:  # open_url raises many kinds; each is reported the same way
            raise PclusterError(
                f"Could not download the stored configuration of cluster {self.name}: {to_native(exc)}"
            ) from exc
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PclusterError(f"The stored configuration of cluster {self.name} is not YAML: {exc}") from exc

    def stack_events(self):
        """The failed events of the cluster's CloudFormation stack (empty when unreadable)."""
        cfn = client_from_module(self.module, "cloudformation")
        try:
            answer = aws_call(f"describe the stack events of {self.name}", cfn.describe_stack_events,
                              StackName=self.name)
        except AWSCallError as exc:
            return [{"status": "UNKNOWN", "reason": f"could not read the stack events: {exc}"}]
        failed = []
        for event in answer.get("StackEvents", []):
            status = event.get("ResourceStatus", "")
            if status.endswith("FAILED"):
                failed.append(
                    {
                        "logical_resource_id": event.get("LogicalResourceId"),
                        "resource_type": event.get("ResourceType"),
                        "status": status,
                        "reason": event.get("ResourceStatusReason", ""),
                        "timestamp": to_native(event.get("Timestamp", "")),
                    }
                )
        return failed[:25]

    # ------------------------------------------------------------ waiting
    def wait(self, done, failed, gone_ok=False):
        """Poll describe-cluster until the status is in ``done``; fail on ``failed`` or timeout."""
        start = time.monotonic()
        last = None
        self.say(
            f"waiting for {' or '.join(done) or 'the deletion'} "
            f"(timeout {self.params['wait_timeout']} s, a status query every {self.params['poll_interval']} s)"
        )
        while True:
            described = self.pcluster.describe(self.name)
            elapsed = int(time.monotonic() - start)
            if described is None:
                if gone_ok:
                    self.progress.append({"elapsed": elapsed, "status": "DELETE_COMPLETE"})
                    self.say(f"{elapsed} s: DELETE_COMPLETE (the cluster is gone)")
                    return None
                self.say(f"{elapsed} s: the cluster disappeared")
                raise PclusterError(f"Cluster {self.name} disappeared while waiting for {', '.join(done)}")
            status = described.get("clusterStatus")
            if status != last:
                self.progress.append({"elapsed": elapsed, "status": status})
                self.say(f"{elapsed} s: {status} (stack {described.get('cloudFormationStackStatus')})")
                last = status
            if status in done:
                return described
            if status in failed:
                raise self.failed_status(described)
            if elapsed >= self.params["wait_timeout"]:
                self.say(f"{elapsed} s: timed out, last status {status}")
                raise PclusterError(
                    f"Timed out after {elapsed} s waiting for cluster {self.name} to reach {', '.join(done)}; "
                    f"last status {status}",
                    status=status,
                )
            time.sleep(max(self.params["poll_interval"], 0))

    def failed_status(self, described):
        """The error for a cluster that reached a failed status, with its failed stack events."""
        status = described.get("clusterStatus")
        events = self.stack_events()
        for event in events:
            self.say(
                f"stack event {event.get('logical_resource_id')} ({event.get('resource_type')}) "
                f"{event.get('status')}: {event.get('reason')}"
            )
        reasons = "; ".join(f"{e.get('logical_resource_id')}: {e.get('reason')}" for e in events[:5])
        return PclusterError(
            f"Cluster {self.name} reached {status} (stack {described.get('cloudFormationStackStatus')}). "
            f"Failed stack events: {reasons or 'none reported'}",
            stack_events=events,
            status=status,
        )

    def set_fleet(self, requested, final):
        """Ask for a compute fleet status and wait until the fleet reaches ``final``."""
        rc, data = self.pcluster.run("update-compute-fleet", "--cluster-name", self.name, "--status", requested)
        if rc != 0:
            raise PclusterError(
                f"pcluster update-compute-fleet {self.name} --status {requested} failed: {data.get('message')}"
            )
        self.say(f"compute fleet {requested}: waiting for {final} (timeout {self.params['wait_timeout']} s)")
        start = time.monotonic()
        last = None
        while True:
            described = self.pcluster.describe(self.name) or {}
            status = described.get("computeFleetStatus")
            elapsed = int(time.monotonic() - start)
            self.progress.append({"elapsed": elapsed, "status": f"compute fleet {status}"})
            if status != last:
                self.say(f"{elapsed} s: compute fleet {status}")
                last = status
            if status == final:
                return
            if time.monotonic() - start > self.params["wait_timeout"]:
                self.say(f"{elapsed} s: timed out, compute fleet {status}")
                raise PclusterError(
                    f"Timed out waiting for the compute fleet of {self.name} to reach {final} (now {status})"
                )
            time.sleep(max(self.params["poll_interval"], 0))

    def dry_run_ok(self, rc, data, action):
        """Record pcluster's validation messages; fail unless its dry run would have succeeded."""
        messages = data.get("validationMessages") or data.get("configurationValidationErrors") or []
        self.result["validation_messages"] = messages
        if DRY_RUN_OK in data.get("message", ""):
            return
        detail = format_messages(messages)
        update_errors = data.get("updateValidationErrors") or []
        if update_errors:
            detail += "; " + "; ".join(
                f"{e.get('parameter')}: {e.get('message')} ({e.get('currentValue')!r} -> {e.get('requestedValue')!r})"
                for e in update_errors
            )
        raise PclusterError(
            f"pcluster {action} --dryrun rejected the configuration of cluster {self.name}: "
            f"{data.get('message', f'exit {rc}')}. {detail}".strip(),
            update_validation_errors=update_errors,
            change_set=data.get("changeSet") or [],
        )

    # ------------------------------------------------------------ states
    def run(self):
        """The module's result for its ``state``; a failure raises PclusterError with the result so far."""
        try:
            return self.present() if self.params["state"] == "present" else self.absent()
        except PclusterError as exc:
            raise exc.with_result(self.result) from None

    def present(self):
        described = self.settled(self.pcluster.describe(self.name))
        if described is None:
            self.set_diff("", yaml.safe_dump(self.config, sort_keys=False))
            return self.create()
        if described.get("clusterStatus") == "CREATE_FAILED":
            raise PclusterError(
                f"Cluster {self.name} exists in state CREATE_FAILED; delete it (state: absent) and create it again",
                stack_events=self.stack_events(),
                status="CREATE_FAILED",
            )
        stored = self.stored_config(described)
        decided = decide_update(stored, self.config)
        self.result["decision"] = decided["decision"]
        self.result["changes"] = decided["changes"]
        self.set_diff(yaml.safe_dump(stored, sort_keys=False), yaml.safe_dump(self.config, sort_keys=False))
        if decided["decision"] == NO_CHANGE:
            return self.outcome(described, changed=False)
        self.result["would_change"] = True
        if decided["decision"] == REPLACEMENT:
            return self.replace(described, decided)
        return self.update(described, decided)

    def settled(self, described):
        """Wait out a create, update or delete in progress; the cluster afterwards (None: none)."""
        status = (described or {}).get("clusterStatus")
        if status == "DELETE_IN_PROGRESS":
            return self.wait((), ("DELETE_FAILED",), gone_ok=True)
        if status in IN_PROGRESS:
            return self.wait(("CREATE_COMPLETE", "UPDATE_COMPLETE"), ("CREATE_FAILED", "UPDATE_FAILED"))
        return described

    def create(self):
        base = self.base_args()
        rc, data = self.pcluster.run("create-cluster", *base, "--dryrun", "true")
        self.dry_run_ok(rc, data, "create-cluster")
        self.result["decision"] = "create"
        self.result["would_change"] = True
        if self.dry_run or self.check_mode:
            return self.outcome(None, changed=not self.dry_run)
        rollback = "true" if self.params["rollback_on_failure"] else "false"
        self.say("creating the cluster (pcluster create-cluster)")
        rc, data = self.pcluster.run("create-cluster", *base, "--rollback-on-failure", rollback)
        if rc != 0:
            raise PclusterError(
                f"pcluster create-cluster {self.name} failed: {data.get('message')}. "
                f"{format_messages(data.get('configurationValidationErrors'))}".strip(),
                validation_messages=data.get("configurationValidationErrors") or [],
            )
        self.result["validation_messages"] = data.get("validationMessages") or self.result["validation_messages"]
        if not self.params["wait"]:
            return self.outcome(self.pcluster.describe(self.name), changed=True)
        described = self.wait(("CREATE_COMPLETE",), ("CREATE_FAILED", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"))
        return self.outcome(described, changed=True)

    def replace(self, described, decided):
        if not self.params["allow_replacement"]:
            raise PclusterError(
                f"Cluster {self.name}: ParallelCluster cannot apply these changes to an existing cluster - "
                + "; ".join(explain(decided, REPLACEMENT))
                + ". Set allow_replacement: true to delete and recreate it, or revert the settings."
            )
        if self.dry_run or self.check_mode:
            return self.outcome(described, changed=not self.dry_run)
        self.delete(described)
        self._config_file = None
        return self.create()

    def update(self, described, decided):
        fleet_stop = decided["decision"] == FLEET_STOP
        if fleet_stop and not self.params["allow_fleet_stop"]:
            raise PclusterError(
                f"Cluster {self.name}: the update needs the compute fleet stopped - "  # noqa: S608 - a message
                + "; ".join(explain(decided, FLEET_STOP))
                + ". Set allow_fleet_stop: true to stop it for the update (jobs on the fleet are lost), "
                "or set spec.queue_update_strategy (QueueUpdateStrategy) to DRAIN or TERMINATE where "
                "ParallelCluster allows it."
            )
        base = self.base_args()
        stop_fleet = fleet_stop and described.get("computeFleetStatus") not in FLEET_NOT_RUNNING
        dry_args = ["--dryrun", "true"]
        if stop_fleet and (self.check_mode or self.dry_run):
            # Check mode / dry run with the fleet still running: pcluster would refuse only because the
            # fleet is not stopped yet, which allow_fleet_stop takes care of; the other checks still run.
            dry_args += ["--force-update", "true"]
        elif stop_fleet:
            self.set_fleet("STOP_REQUESTED", "STOPPED")
        rc, data = self.pcluster.run("update-cluster", *base, *dry_args)
        self.dry_run_ok(rc, data, "update-cluster")
        self.result["change_set"] = data.get("changeSet") or []
        if self.dry_run or self.check_mode:
            return self.outcome(described, changed=not self.dry_run)
        return self.apply_update(base, decided, stop_fleet)

    def apply_update(self, base, decided, restart_fleet):
        self.say(f"updating the cluster (pcluster update-cluster, {len(decided['changes'])} settings)")
        rc, data = self.pcluster.run("update-cluster", *base)
        if rc != 0:
            raise PclusterError(
                f"pcluster update-cluster {self.name} failed: {data.get('message')}",
                update_validation_errors=data.get("updateValidationErrors") or [],
                validation_messages=data.get("configurationValidationErrors") or [],
            )
        self.result["validation_messages"] = data.get("validationMessages") or self.result["validation_messages"]
        if self.params["wait"]:
            described = self.wait(("UPDATE_COMPLETE",), ("UPDATE_FAILED",))
        else:
            described = self.pcluster.describe(self.name)
        if restart_fleet:
            self.set_fleet("START_REQUESTED", "RUNNING")
            described = self.pcluster.describe(self.name)
        return self.outcome(described, changed=True)

    def delete(self, described):
        """Delete the cluster (and wait, unless wait=false); whether anything was deleted."""
        if described.get("clusterStatus") == "DELETE_IN_PROGRESS":
            self.wait((), ("DELETE_FAILED",), gone_ok=True)
            return True
        self.say("deleting the cluster (pcluster delete-cluster)")
        rc, data = self.pcluster.run("delete-cluster", "--cluster-name", self.name)
        if rc != 0:
            if NOT_FOUND in data.get("message", ""):
                return False
            raise PclusterError(f"pcluster delete-cluster {self.name} failed: {data.get('message')}")
        if self.params["wait"]:
            self.wait((), ("DELETE_FAILED",), gone_ok=True)
        return True

    def absent(self):
        described = self.pcluster.describe(self.name)
        self.result["decision"] = "delete" if described else NO_CHANGE
        if described is None:
            return self.outcome(None, changed=False)
        self.result["would_change"] = True
        self.set_diff(self.name, "")
        if self.dry_run or self.check_mode:
            return self.outcome(described, changed=not self.dry_run)
        return self.outcome(None, changed=self.delete(described))


def wanted_config(params):
    """The configuration the module applies: ``spec`` rendered, or ``config`` as given."""
    if params["spec"] is not None:
        try:
            return render(params["spec"], subnets_pending=params["subnets_pending"])
        except SpecError as exc:
            raise PclusterError("Invalid spec: " + "; ".join(exc.errors), errors=exc.errors) from exc
    return params["config"]


def cluster_result(module):
    """The module's one result for its options; a failure raises PclusterError."""
    params = module.params
    if not HAS_YAML:  # pragma: no cover
        raise PclusterError("PyYAML is required for pcluster_cluster")
    if params["state"] == "rendered":
        return {
            "changed": False,
            "config": wanted_config(params),
            "cluster_name": params["name"] or params["spec"].get("cluster_name"),
        }
    name = params["name"] or (params["spec"] or {}).get("cluster_name")
    if not name:
        raise PclusterError("name is required (or spec.cluster_name)")
    config = None
    if params["state"] == "present":
        if params["spec"] is None and params["config"] is None:
            raise PclusterError("state=present needs spec or config")
        config = wanted_config(params)
    return ClusterManager(module, PclusterCLI(module), name, config).run()
