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
  - Output of C(pcluster) that is not JSON fails the module with the command, its exit code, stdout and stderr
    (RV(command), RV(rc), RV(stdout), RV(stderr)).
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
      - Every mistake is reported at once, each naming the option at fault, for example
        C(spec.queues[0].compute_resources[0].max_count) (the role reports the same mistakes naming its variables).
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
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
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
compute_fleet_status:
  description: The C(computeFleetStatus) of C(pcluster describe-cluster) at the end.
  returned: when the cluster exists
  type: str
  sample: RUNNING
change_set:
  description:
    - The C(changeSet) of the C(pcluster update-cluster --dryrun) answer - each setting ParallelCluster would
      change, with its C(parameter), C(currentValue) and C(requestedValue).
    - Also returned when that dry run rejects the update.
  returned: when an update was dry-run
  type: list
  elements: dict
  sample: [{"parameter": "Scheduling.SlurmSettings.ScaledownIdletime", "currentValue": 10, "requestedValue": 20}]
stack_events:
  description: The failed CloudFormation stack events, when the create, update or delete failed.
  returned: on failure
  type: list
  elements: dict
  sample: [{"logical_resource_id": "HeadNode", "status": "CREATE_FAILED", "reason": "..."}]
update_validation_errors:
  description: The C(updateValidationErrors) of C(pcluster update-cluster) - settings it refuses to change.
  returned: when an update fails
  type: list
  elements: dict
  sample: [{"parameter": "HeadNode.InstanceType", "currentValue": "t3.micro", "requestedValue": "t3.large",
            "message": "Update actions are not currently supported for the InstanceType parameter"}]
errors:
  description: Every mistake of O(spec), one message per mistake, each naming the option at fault.
  returned: when O(spec) is invalid
  type: list
  elements: str
  sample: ["spec.scaledown_idletime must be a whole number of minutes of at least 1; got 0"]
command:
  description: The C(pcluster) command line whose output was not JSON.
  returned: when pcluster answered with something that is not JSON, or failed without an answer
  type: str
  sample: /usr/local/bin/pcluster describe-cluster --cluster-name demo --region eu-west-1
rc:
  description: The exit code of that C(pcluster) command.
  returned: when pcluster answered with something that is not JSON, or failed without an answer
  type: int
  sample: 1
stdout:
  description: The standard output of that C(pcluster) command.
  returned: when pcluster answered with something that is not JSON, or failed without an answer
  type: str
  sample: "Traceback (most recent call last): ..."
stderr:
  description: The standard error of that C(pcluster) command.
  returned: when pcluster answered with something that is not JSON, or failed without an answer
  type: str
  sample: ""
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import run_module
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_manager import cluster_result

ARGUMENT_SPEC = dict(
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


def main():
    module = AnsibleAWSModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[["spec", "config"]],
        required_if=[["state", "rendered", ["spec"]]],
    )
    run_module(module, lambda: cluster_result(module))


if __name__ == "__main__":
    main()
