#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: pcluster_cluster
short_description: Create, update or delete an AWS ParallelCluster 3 cluster with the pcluster CLI
version_added: 0.1.0
description:
  - Manages one AWS ParallelCluster 3 (Slurm) cluster by running the C(pcluster) command line tool on the controller.
  - The cluster is described either by O(spec), the C(hpcops.aws_hpc.parallelcluster) role's variables
    gathered into one dictionary (the module checks it and renders the ParallelCluster configuration), or by
    O(config), a ParallelCluster configuration given as a dictionary.
  - With O(state=present) a missing cluster is created. An existing cluster whose stored configuration differs
    from the wanted one is updated - after a C(pcluster update-cluster --dryrun) - when ParallelCluster can apply
    the change to a running cluster. When the change needs the compute fleet stopped, the module stops it (and
    starts it again afterwards) only with O(allow_fleet_stop=true), else it fails naming every setting that needs
    the stop. Settings ParallelCluster cannot change at all (for example the head node instance type or the
    image) need a new cluster; the module deletes and recreates it only with O(allow_replacement=true).
  - With O(state=absent) the cluster is deleted.
  - The module waits for C(CREATE_COMPLETE), C(UPDATE_COMPLETE) or the deletion, records the status changes it
    saw in RV(progress), and on failure reports the failed CloudFormation stack events.
  - "While it waits, each status change shows live in the playbook output (and as a job event in AWX) when the
    task runs on the controller, for example C(pcluster[demo] 240 s: CREATE_IN_PROGRESS (stack
    CREATE_IN_PROGRESS)): the collection's action plugin passes O(progress_file) and shows each line as the
    module writes it."
  - With O(state=rendered) nothing is run at all - neither C(pcluster) nor any AWS call; the module only checks
    O(spec) and returns the configuration (the role runs this before any AWS call).
  - Check mode, and O(dry_run=true), run C(pcluster create-cluster --dryrun true) or
    C(pcluster update-cluster --dryrun true) - ParallelCluster's real validators - and change nothing.
  - C(pcluster) reads credentials the usual way; the module passes O(region), O(profile) and O(endpoint_url)
    to it as C(AWS_DEFAULT_REGION), C(AWS_PROFILE) and C(AWS_ENDPOINT_URL), and explicit keys in its environment,
    never on its command line.
author: hpcops developers (@hpcops)
requirements:
  - the C(pcluster) command of C(aws-parallelcluster) 3.x on the controller (see O(pcluster_path))
  - PyYAML
options:
  name:
    description:
      - The cluster name (also the name of its CloudFormation stack).
      - Defaults to C(cluster_name) of O(spec).
    type: str
    aliases: [cluster_name]
  state:
    description:
      - V(present) creates or updates the cluster, V(absent) deletes it.
      - V(rendered) only checks O(spec) and returns RV(config); it runs nothing and calls no AWS API.
    type: str
    choices: [present, absent, rendered]
    default: present
  spec:
    description:
      - The cluster described the way the C(hpcops.aws_hpc.parallelcluster) role's variables describe it
        (keys C(cluster_name), C(region), C(os), C(custom_ami), C(head_node), C(subnet_ids), C(queues),
        C(scaledown_idletime), C(queue_update_strategy), C(imds_secured), C(shared_storage),
        C(compute_on_node_configured), C(additional_iam_policies), C(tags)); see the role's documentation.
      - Every mistake is reported at once, each naming the role variable at fault.
      - Mutually exclusive with O(config).
    type: dict
  subnets_pending:
    description:
      - With O(state=rendered) - the default subnets are not known yet (a later play creates them), so only
        queues that explicitly have no subnets are refused.
    type: bool
    default: false
  config:
    description:
      - A complete ParallelCluster 3 configuration as a dictionary, used as it is. Mutually exclusive with O(spec).
    type: dict
  pcluster_path:
    description:
      - The C(pcluster) executable, a path or a name looked up on E(PATH).
    type: path
    default: pcluster
  dry_run:
    description:
      - Only validate with C(pcluster ... --dryrun true) and report what would change; never create, update or
        delete. The result then has C(changed=false) and RV(would_change) says whether a real run would
        change something.
      - For environments where ParallelCluster cannot really create the cluster (for example an endpoint that
        answers EC2 but not every service a cluster stack needs).
    type: bool
    default: false
  allow_fleet_stop:
    description:
      - When the update needs the compute fleet stopped, stop it (C(pcluster update-compute-fleet --status
        STOP_REQUESTED)), update, and start it again. Running jobs on dynamic nodes are lost.
      - Without it such an update fails and names the settings that need the stop.
    type: bool
    default: false
  allow_replacement:
    description:
      - When the change touches settings ParallelCluster cannot update, delete the cluster and create it again.
      - Without it such a change fails and names the settings.
    type: bool
    default: false
  suppress_validators:
    description:
      - ParallelCluster validators to skip, as C(pcluster --suppress-validators) takes them, for example
        V(type:KeyPairValidator). V(ALL) skips every validator.
    type: list
    elements: str
    default: []
  validation_failure_level:
    description:
      - The lowest level of validation message that fails the create or update.
    type: str
    choices: [INFO, WARNING, ERROR]
    default: ERROR
  rollback_on_failure:
    description:
      - Roll the CloudFormation stack back when the creation fails (C(--rollback-on-failure)). V(false) keeps the
        failed resources for troubleshooting.
    type: bool
    default: true
  wait:
    description:
      - Wait until the create, update or delete is complete.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two status queries while waiting.
    type: int
    default: 30
  progress_file:
    description:
      - File each progress line is appended to and flushed at once - the start of each wait, each status change
        of the cluster and of its compute fleet with the seconds elapsed, and the failed stack events - prefixed
        with C(pcluster[<name>]).
      - Set by the collection's action plugin when the task runs on the controller (the V(local) connection,
        including a task delegated to C(localhost)); it creates a temporary file, shows its new lines in the playbook
        output while the module runs and removes it afterwards. There is no need to set it by hand.
      - On other connections, in C(async) tasks and with C(become) to another user than the controller's (or
        root), the action plugin leaves it unset; RV(progress) in the result has the status changes either way.
    type: path
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details:
      - Runs C(pcluster create-cluster --dryrun true) or C(pcluster update-cluster --dryrun true) only.
  diff_mode:
    support: full
    details:
      - Returns the stored and the wanted configuration as YAML.
  idempotent:
    support: full
    details:
      - An existing cluster whose stored configuration equals the wanted one is left alone.
notes:
  - Creating a real cluster takes 10 to 20 minutes; raise O(wait_timeout) for large shared file systems.
  - The head node address comes from C(pcluster describe-cluster); a head node without a public address has only
    RV(head_node.private_ip_address).
seealso:
  - name: AWS ParallelCluster configuration file
    description: Every setting of the configuration O(spec) renders to and O(config) takes.
    link: https://docs.aws.amazon.com/parallelcluster/latest/ug/cluster-configuration-file-v3.html
  - name: AWS ParallelCluster update policies
    description: Which settings a running cluster accepts, which need the compute fleet stopped, which none.
    link: https://docs.aws.amazon.com/parallelcluster/latest/ug/using-pcluster-update-cluster-v3.html
"""

EXAMPLES = r"""
- name: Check a cluster description without running anything (before any AWS call)
  hpcops.aws_hpc.pcluster_cluster:
    state: rendered
    spec:
      cluster_name: demo
      region: eu-west-1
      os: alinux2023
      head_node: {instance_type: t3.medium}
      subnet_ids: [subnet-0123456789abcdef0]
      scaledown_idletime: 10
      queues:
        - name: compute
          compute_resources:
            - {name: c5large, instance_type: c5.large, min_count: 0, max_count: 4}
  register: _demo

- name: Create or update the cluster (fails if the change would need the compute fleet stopped)
  hpcops.aws_hpc.pcluster_cluster:
    name: demo
    config: "{{ _demo.config }}"
    region: eu-west-1
  register: _cluster

- name: Show the head node
  ansible.builtin.debug:
    msg: "{{ _cluster.head_node.private_ip_address }} ({{ _cluster.decision }})"

- name: Validate only, with ParallelCluster's validators (a real dry run)
  hpcops.aws_hpc.pcluster_cluster:
    name: demo
    config: "{{ _demo.config }}"
    dry_run: true
    suppress_validators: [type:KeyPairValidator]

- name: Apply a new ScaledownIdletime, stopping the compute fleet for it
  hpcops.aws_hpc.pcluster_cluster:
    name: demo
    config: "{{ _demo.config | combine({'Scheduling': {'SlurmSettings': {'ScaledownIdletime': 20}}}, recursive=true) }}"
    allow_fleet_stop: true

- name: Delete the cluster
  hpcops.aws_hpc.pcluster_cluster:
    name: demo
    state: absent
"""

RETURN = r"""
config:
  description: The wanted ParallelCluster configuration (rendered from O(spec) or O(config) as given).
  returned: always
  type: dict
  sample: {"Region": "eu-west-1", "Scheduling": {"Scheduler": "slurm"}}
cluster_name:
  description: The cluster name.
  returned: always
  type: str
  sample: demo
exists:
  description: Whether the cluster exists after the run (in check mode and with O(dry_run) - before it).
  returned: unless state is rendered
  type: bool
  sample: true
status:
  description: The C(clusterStatus) ParallelCluster reports at the end, V(null) when there is no cluster.
  returned: unless state is rendered
  type: str
  sample: CREATE_COMPLETE
decision:
  description: What the wanted configuration takes.
  returned: unless state is rendered
  type: str
  choices: [create, no_change, live_update, fleet_stop, replacement, delete]
  sample: live_update
changes:
  description: Every setting that differs from the stored configuration, with ParallelCluster's update policy.
  returned: unless state is rendered
  type: list
  elements: dict
  sample: [{"path": "Scheduling.SlurmQueues[compute].ComputeResources[c5large].MaxCount", "old": 4, "new": 8,
            "policy": "RESIZE_UPDATE_STRATEGY_ON_REMOVE", "decision": "live_update", "reason": "growing is live"}]
would_change:
  description: With O(dry_run) or in check mode, whether a real run would change something.
  returned: unless state is rendered
  type: bool
  sample: true
validation_messages:
  description: ParallelCluster's validation messages (level, type, message) of the last create or update call.
  returned: unless state is rendered
  type: list
  elements: dict
  sample:
    - level: WARNING
      type: CustomAmiTagValidator
      message: The custom AMI may not have been created by pcluster.
head_node:
  description: The head node as C(pcluster describe-cluster) reports it.
  returned: when the cluster exists
  type: dict
  contains:
    instance_id:
      description: The EC2 instance id.
      type: str
    private_ip_address:
      description: The private address.
      type: str
    public_ip_address:
      description: The public address, when it has one.
      type: str
    state:
      description: The instance state.
      type: str
  sample: {"instance_id": "i-0123456789abcdef0", "private_ip_address": "10.42.0.10", "state": "running"}
progress:
  description: The status changes seen while waiting, with the seconds elapsed.
  returned: unless state is rendered
  type: list
  elements: dict
  sample: [{"elapsed": 0, "status": "CREATE_IN_PROGRESS"}, {"elapsed": 840, "status": "CREATE_COMPLETE"}]
stack_events:
  description: The failed CloudFormation stack events, when the create, update or delete failed.
  returned: on failure
  type: list
  elements: dict
  sample: [{"logical_resource_id": "HeadNode", "status": "CREATE_FAILED", "reason": "..."}]
"""

import json
import os
import time

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import client_from_module
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster import (
    FLEET_STOP,
    NO_CHANGE,
    REPLACEMENT,
    SpecError,
    decide_update,
    explain,
    render,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._progress import ProgressWriter

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False

try:
    import botocore.exceptions

    HAS_BOTOCORE = True
except ImportError:  # pragma: no cover - AnsibleAWSModule reports the missing library
    HAS_BOTOCORE = False

DRY_RUN_OK = "Request would have succeeded"
NOT_FOUND = "does not exist"
IN_PROGRESS = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS")


class PclusterError(Exception):
    """pcluster answered with an error; ``data`` is its JSON answer."""

    def __init__(self, message, data=None):
        super().__init__(message)
        self.data = data or {}


def format_messages(messages):
    return "; ".join(f"[{m.get('level', '?')}] {m.get('type', '?')}: {m.get('message', '')}" for m in messages or [])


class Pcluster:
    """Runs the pcluster CLI and parses its JSON answers."""

    def __init__(self, module):
        self.module = module
        params = module.params
        path = params["pcluster_path"]
        if os.path.sep in path:
            if not os.access(path, os.X_OK):
                module.fail_json(msg=f"pcluster_path {path} is not an executable file")
            self.path = path
        else:
            found = module.get_bin_path(path)
            if not found:
                module.fail_json(
                    msg=f"Cannot find the pcluster command '{path}' on PATH: install aws-parallelcluster "
                    "(pip install aws-parallelcluster) or set pcluster_path"
                )
            self.path = found
        self.env = {}
        if params.get("region"):
            self.env["AWS_DEFAULT_REGION"] = params["region"]
            self.env["AWS_REGION"] = params["region"]
        if params.get("endpoint_url"):
            self.env["AWS_ENDPOINT_URL"] = params["endpoint_url"]
        if params.get("profile"):
            self.env["AWS_PROFILE"] = params["profile"]
        if params.get("access_key"):
            self.env["AWS_ACCESS_KEY_ID"] = params["access_key"]
            self.env["AWS_SECRET_ACCESS_KEY"] = params["secret_key"]
        if params.get("session_token"):
            self.env["AWS_SESSION_TOKEN"] = params["session_token"]
        self.calls = []

    def run(self, *args):
        """Run pcluster; return (rc, parsed JSON answer)."""
        argv = [self.path, *args]
        if self.module.params.get("region"):
            argv += ["--region", self.module.params["region"]]
        self.calls.append(" ".join(args[:1]))
        rc, out, err = self.module.run_command(argv, environ_update=self.env)
        text = (out or "").strip()
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {"items": data}
        if rc != 0 and not data:
            raise PclusterError(f"pcluster {args[0]} failed (exit {rc}): {(err or out).strip()}")
        return rc, data

    def describe(self, name):
        """The describe-cluster answer, or None when the cluster does not exist."""
        rc, data = self.run("describe-cluster", "--cluster-name", name)
        if rc != 0:
            if NOT_FOUND in data.get("message", ""):
                return None
            raise PclusterError(f"pcluster describe-cluster {name} failed: {data.get('message', data)}", data)
        return data

    def validation_args(self):
        args = []
        suppress = self.module.params["suppress_validators"]
        if suppress:
            args += ["--suppress-validators", *suppress]
        args += ["--validation-failure-level", self.module.params["validation_failure_level"]]
        return args


class ClusterManager:
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

    def say(self, text):
        """One live progress line (a no-op without progress_file)."""
        self.live.write(f"pcluster[{self.name}] {text}")

    # ------------------------------------------------------------ helpers
    def fail(self, msg, **extra):
        result = dict(self.result)
        result.update(extra)
        self.module.fail_json(msg=msg, **result)

    def config_file(self):
        if self._config_file is None:
            path = os.path.join(self.module.tmpdir, f"{self.name}-config.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(self.config, handle, default_flow_style=False, sort_keys=False)
            self._config_file = path
        return self._config_file

    def stored_config(self, described):
        url = (described.get("clusterConfiguration") or {}).get("url")
        if not url:
            self.fail(f"pcluster describe-cluster {self.name} returned no configuration URL")
        try:
            with open_url(url, timeout=60) as response:
                text = response.read()
        except Exception as exc:
            self.fail(f"Could not download the stored configuration of cluster {self.name}: {to_native(exc)}")
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            self.fail(f"The stored configuration of cluster {self.name} is not YAML: {exc}")
        return {}  # pragma: no cover - fail exits

    def stack_events(self):
        """The failed events of the cluster's CloudFormation stack (empty when unreadable)."""
        try:
            cfn = client_from_module(self.module, "cloudformation")
            events = cfn.describe_stack_events(StackName=self.name).get("StackEvents", [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            return [{"status": "UNKNOWN", "reason": f"could not read the stack events: {to_native(exc)}"}]
        failed = []
        for event in events:
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

    def wait(self, done, failed, gone_ok=False):
        """Poll describe-cluster until the status is in ``done``; fail on ``failed`` or timeout."""
        params = self.module.params
        start = time.monotonic()
        last = None
        self.say(
            f"waiting for {' or '.join(done) or 'the deletion'} "
            f"(timeout {params['wait_timeout']} s, a status query every {params['poll_interval']} s)"
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
                self.fail(f"Cluster {self.name} disappeared while waiting for {', '.join(done)}")
            status = described.get("clusterStatus")
            if status != last:
                self.progress.append({"elapsed": elapsed, "status": status})
                self.say(f"{elapsed} s: {status} (stack {described.get('cloudFormationStackStatus')})")
                last = status
            if status in done:
                return described
            if status in failed:
                events = self.stack_events()
                for event in events:
                    self.say(
                        f"stack event {event.get('logical_resource_id')} ({event.get('resource_type')}) "
                        f"{event.get('status')}: {event.get('reason')}"
                    )
                reasons = "; ".join(f"{e.get('logical_resource_id')}: {e.get('reason')}" for e in events[:5])
                self.fail(
                    f"Cluster {self.name} reached {status} (stack {described.get('cloudFormationStackStatus')}). "
                    f"Failed stack events: {reasons or 'none reported'}",
                    stack_events=events,
                    status=status,
                )
            if elapsed >= params["wait_timeout"]:
                self.say(f"{elapsed} s: timed out, last status {status}")
                self.fail(
                    f"Timed out after {elapsed} s waiting for cluster {self.name} to reach {', '.join(done)}; "
                    f"last status {status}",
                    status=status,
                )
            time.sleep(max(params["poll_interval"], 0))

    def finish(self, described, changed):
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
        self.module.exit_json(**self.result)

    def dry_run_ok(self, rc, data, action):
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
        self.fail(
            f"pcluster {action} --dryrun rejected the configuration of cluster {self.name}: "
            f"{data.get('message', f'exit {rc}')}. {detail}".strip(),
            update_validation_errors=update_errors,
            change_set=data.get("changeSet") or [],
        )

    # ------------------------------------------------------------ states
    def create(self):
        p = self.pcluster
        base = ["--cluster-name", self.name, "--cluster-configuration", self.config_file(), *p.validation_args()]
        rc, data = p.run("create-cluster", *base, "--dryrun", "true")
        self.dry_run_ok(rc, data, "create-cluster")
        self.result["decision"] = "create"
        self.result["would_change"] = True
        if self.module.params["dry_run"]:
            self.finish(None, changed=False)
        if self.module.check_mode:
            self.finish(None, changed=True)
        rollback = "true" if self.module.params["rollback_on_failure"] else "false"
        self.say("creating the cluster (pcluster create-cluster)")
        rc, data = p.run("create-cluster", *base, "--rollback-on-failure", rollback)
        if rc != 0:
            self.fail(
                f"pcluster create-cluster {self.name} failed: {data.get('message')}. "
                f"{format_messages(data.get('configurationValidationErrors'))}".strip(),
                validation_messages=data.get("configurationValidationErrors") or [],
            )
        self.result["validation_messages"] = data.get("validationMessages") or self.result["validation_messages"]
        if not self.module.params["wait"]:
            self.finish(p.describe(self.name), changed=True)
        described = self.wait(("CREATE_COMPLETE",), ("CREATE_FAILED", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"))
        self.finish(described, changed=True)

    def present(self):  # noqa: PLR0912, PLR0915 - the documented create/update state machine, in order
        p = self.pcluster
        described = p.describe(self.name)
        if described and described.get("clusterStatus") in IN_PROGRESS:
            status = described["clusterStatus"]
            if status == "DELETE_IN_PROGRESS":
                described = self.wait((), ("DELETE_FAILED",), gone_ok=True)
            else:
                described = self.wait(("CREATE_COMPLETE", "UPDATE_COMPLETE"), ("CREATE_FAILED", "UPDATE_FAILED"))
        if described is None:
            if self.module._diff:
                self.result["diff"] = {"before": "", "after": yaml.safe_dump(self.config, sort_keys=False)}
            self.create()
        if described.get("clusterStatus") == "CREATE_FAILED":
            self.fail(
                f"Cluster {self.name} exists in state CREATE_FAILED; delete it (state: absent) and create it again",
                stack_events=self.stack_events(),
                status="CREATE_FAILED",
            )

        stored = self.stored_config(described)
        decided = decide_update(stored, self.config)
        self.result["decision"] = decided["decision"]
        self.result["changes"] = decided["changes"]
        if self.module._diff:
            self.result["diff"] = {
                "before": yaml.safe_dump(stored, sort_keys=False),
                "after": yaml.safe_dump(self.config, sort_keys=False),
            }
        if decided["decision"] == NO_CHANGE:
            self.finish(described, changed=False)
        self.result["would_change"] = True

        if decided["decision"] == REPLACEMENT:
            if not self.module.params["allow_replacement"]:
                self.fail(
                    f"Cluster {self.name}: ParallelCluster cannot apply these changes to an existing cluster - "
                    + "; ".join(explain(decided, REPLACEMENT))
                    + ". Set allow_replacement: true to delete and recreate it, or revert the settings."
                )
            if self.module.params["dry_run"] or self.module.check_mode:
                self.finish(described, changed=not self.module.params["dry_run"])
            self.delete(described, finish=False)
            self._config_file = None
            self.create()

        base = ["--cluster-name", self.name, "--cluster-configuration", self.config_file(), *p.validation_args()]
        if decided["decision"] == FLEET_STOP and not self.module.params["allow_fleet_stop"]:
            self.fail(
                f"Cluster {self.name}: the update needs the compute fleet stopped - "  # noqa: S608 - a message
                + "; ".join(explain(decided, FLEET_STOP))
                + ". Set allow_fleet_stop: true to stop it for the update (jobs on the fleet are lost), "
                "or set parallelcluster_queue_update_strategy (QueueUpdateStrategy) to DRAIN or TERMINATE where "
                "ParallelCluster allows it."
            )
        fleet_running = described.get("computeFleetStatus") not in ("STOPPED", "STOP_REQUESTED", "STOPPING")
        if (
            decided["decision"] == FLEET_STOP
            and fleet_running
            and not (self.module.check_mode or self.module.params["dry_run"])
        ):
            self.set_fleet("STOP_REQUESTED", "STOPPED")
        dry_args = ["--dryrun", "true"]
        if (
            decided["decision"] == FLEET_STOP
            and fleet_running
            and (self.module.check_mode or self.module.params["dry_run"])
        ):
            # Check mode / dry run with the fleet still running: pcluster would refuse only because the
            # fleet is not stopped yet, which allow_fleet_stop takes care of; the other checks still run.
            dry_args += ["--force-update", "true"]
        rc, data = p.run("update-cluster", *base, *dry_args)
        self.dry_run_ok(rc, data, "update-cluster")
        self.result["change_set"] = data.get("changeSet") or []
        if self.module.params["dry_run"]:
            self.finish(described, changed=False)
        if self.module.check_mode:
            self.finish(described, changed=True)
        self.say(f"updating the cluster (pcluster update-cluster, {len(decided['changes'])} settings)")
        rc, data = p.run("update-cluster", *base)
        if rc != 0:
            self.fail(
                f"pcluster update-cluster {self.name} failed: {data.get('message')}",
                update_validation_errors=data.get("updateValidationErrors") or [],
                validation_messages=data.get("configurationValidationErrors") or [],
            )
        self.result["validation_messages"] = data.get("validationMessages") or self.result["validation_messages"]
        if self.module.params["wait"]:
            described = self.wait(("UPDATE_COMPLETE",), ("UPDATE_FAILED",))
        else:
            described = p.describe(self.name)
        if decided["decision"] == FLEET_STOP and fleet_running:
            self.set_fleet("START_REQUESTED", "RUNNING")
            described = p.describe(self.name)
        self.finish(described, changed=True)

    def set_fleet(self, requested, final):
        rc, data = self.pcluster.run("update-compute-fleet", "--cluster-name", self.name, "--status", requested)
        if rc != 0:
            self.fail(f"pcluster update-compute-fleet {self.name} --status {requested} failed: {data.get('message')}")
        self.say(f"compute fleet {requested}: waiting for {final} (timeout {self.module.params['wait_timeout']} s)")
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
            if time.monotonic() - start > self.module.params["wait_timeout"]:
                self.say(f"{elapsed} s: timed out, compute fleet {status}")
                self.fail(f"Timed out waiting for the compute fleet of {self.name} to reach {final} (now {status})")
            time.sleep(max(self.module.params["poll_interval"], 0))

    def delete(self, described, finish=True):
        if described.get("clusterStatus") == "DELETE_IN_PROGRESS":
            self.wait((), ("DELETE_FAILED",), gone_ok=True)
            if finish:
                self.finish(None, changed=True)
            return
        self.say("deleting the cluster (pcluster delete-cluster)")
        rc, data = self.pcluster.run("delete-cluster", "--cluster-name", self.name)
        if rc != 0:
            if NOT_FOUND in data.get("message", ""):
                if finish:
                    self.finish(None, changed=False)
                return
            self.fail(f"pcluster delete-cluster {self.name} failed: {data.get('message')}")
        if self.module.params["wait"]:
            self.wait((), ("DELETE_FAILED",), gone_ok=True)
        if finish:
            self.finish(None, changed=True)

    def absent(self):
        described = self.pcluster.describe(self.name)
        self.result["decision"] = "delete" if described else NO_CHANGE
        if described is None:
            self.finish(None, changed=False)
        self.result["would_change"] = True
        if self.module._diff:
            self.result["diff"] = {"before": self.name, "after": ""}
        if self.module.params["dry_run"]:
            self.finish(described, changed=False)
        if self.module.check_mode:
            self.finish(described, changed=True)
        self.delete(described)


def wanted_config(module):
    params = module.params
    if params["spec"] is not None:
        try:
            return render(params["spec"], subnets_pending=params["subnets_pending"])
        except SpecError as exc:
            module.fail_json(msg="Invalid cluster variables: " + "; ".join(exc.errors), errors=exc.errors)
    return params["config"]


def main():
    argument_spec = dict(
        name=dict(type="str", aliases=["cluster_name"]),
        state=dict(type="str", choices=["present", "absent", "rendered"], default="present"),
        spec=dict(type="dict"),
        subnets_pending=dict(type="bool", default=False),
        config=dict(type="dict"),
        pcluster_path=dict(type="path", default="pcluster"),
        dry_run=dict(type="bool", default=False),
        allow_fleet_stop=dict(type="bool", default=False),
        allow_replacement=dict(type="bool", default=False),
        suppress_validators=dict(type="list", elements="str", default=[]),
        validation_failure_level=dict(type="str", choices=["INFO", "WARNING", "ERROR"], default="ERROR"),
        rollback_on_failure=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
        poll_interval=dict(type="int", default=30),
        progress_file=dict(type="path"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[["spec", "config"]],
        required_if=[["state", "rendered", ["spec"]]],
    )
    if not HAS_YAML:  # pragma: no cover
        module.fail_json(msg="PyYAML is required for pcluster_cluster")
    params = module.params
    if params["state"] == "rendered":
        module.exit_json(
            changed=False,
            config=wanted_config(module),
            cluster_name=params["name"] or params["spec"].get("cluster_name"),
        )

    name = params["name"] or (params["spec"] or {}).get("cluster_name")
    if not name:
        module.fail_json(msg="name is required (or spec.cluster_name)")
    config = None
    if params["state"] == "present":
        if params["spec"] is None and params["config"] is None:
            module.fail_json(msg="state=present needs spec or config")
        config = wanted_config(module)

    manager = ClusterManager(module, Pcluster(module), name, config)
    try:
        if params["state"] == "present":
            manager.present()
        else:
            manager.absent()
    except PclusterError as exc:
        manager.fail(str(exc))


if __name__ == "__main__":
    main()
