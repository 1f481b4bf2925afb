#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: guardrails_info
short_description: Report long-term access keys, open management ports, IMDSv1 instances and unencrypted volumes
version_added: 0.1.0
description:
  - A read-only report of what the account's guardrails forbid. Each check in O(checks) returns a list of
    findings in RV(findings); a clean account returns empty lists.
  - C(access_keys) - every IAM user with an B(active) access key (user name, key id, creation date). IAM is
    global, so this check covers the whole account. Only key ids are read (IAM C(ListAccessKeys) never returns
    a secret).
  - C(open_management_ports) - every inbound security-group rule that lets the internet (C(0.0.0.0/0) or
    C(::/0)) reach one of O(management_ports). A rule for every protocol (C(-1)) or a TCP or UDP port range
    that covers the port counts; ICMP rules and rules from other sources (prefix lists, security groups,
    narrower CIDRs) do not. All security groups of the region are checked, whatever O(cluster) says.
  - C(imdsv1_instances) - every instance that does not require IMDSv2 (its C(MetadataOptions.HttpTokens) is not
    C(required)). Terminated instances are skipped.
  - C(unencrypted_volumes) - every EBS volume that is not encrypted.
  - Security groups, instances and volumes are those of the connection's region; loop over regions to cover
    more than one.
  - The module never fails because of a finding unless O(fail_on_findings=true). An AWS failure fails the module
    with the AWS error code, message and request id (C(error), C(response_metadata)).
  - This module never changes anything.
author: hpcops developers (@hpcops)
options:
  cluster:
    description:
      - Limit the C(imdsv1_instances) and C(unencrypted_volumes) checks to one cluster - the instances tagged
        C(hpc:cluster=<cluster>), and the volumes attached to them or tagged C(hpc:cluster=<cluster>).
      - Without it, every instance and volume of the region is checked.
      - The C(access_keys) and C(open_management_ports) checks are account or region wide and ignore it.
    type: str
  checks:
    description:
      - The checks to run. RV(findings) has a key for each of them, and only for them.
    type: list
    elements: str
    choices: [access_keys, open_management_ports, imdsv1_instances, unencrypted_volumes]
    default: [access_keys, open_management_ports, imdsv1_instances, unencrypted_volumes]
  management_ports:
    description:
      - The ports the C(open_management_ports) check looks for - by default SSH (22), RDP (3389) and WinRM over
        HTTP (5985) and HTTPS (5986).
      - Ports from 0 to 65535; at least one.
    type: list
    elements: int
    default: [22, 3389, 5985, 5986]
  fail_on_findings:
    description:
      - Fail when any check finds something. The message names each check with the number of its findings and
        the first few of them; the result still carries RV(findings), RV(count) and RV(checks).
    type: bool
    default: false
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - hpcops.aws_hpc.attributes.info_module
  - hpcops.aws_hpc.attributes.idempotent_not_modify_state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - "IAM permissions: C(iam:ListUsers), C(iam:ListAccessKeys), C(ec2:DescribeSecurityGroups),
    C(ec2:DescribeInstances) and C(ec2:DescribeVolumes) (only those of the checks that run)."
seealso:
  - module: amazon.aws.iam_access_key_info
  - module: amazon.aws.ec2_security_group_info
  - module: amazon.aws.ec2_instance_info
  - module: amazon.aws.ec2_vol_info
"""

EXAMPLES = r"""
- name: Report what the account's guardrails forbid
  hpcops.aws_hpc.guardrails_info:
  register: _guardrails

- name: Show the findings
  ansible.builtin.debug:
    var: _guardrails.findings

- name: Fail the pipeline when the prod cluster's instances or volumes break a guardrail
  hpcops.aws_hpc.guardrails_info:
    cluster: prod
    checks: [imdsv1_instances, unencrypted_volumes]
    fail_on_findings: true

- name: Look for SSH, RDP and a bastion's own port open to the internet
  hpcops.aws_hpc.guardrails_info:
    checks: [open_management_ports]
    management_ports: [22, 3389, 2222]
  register: _open_ports
"""

RETURN = r"""
checks:
  description: The checks that ran, in the order access_keys, open_management_ports, imdsv1_instances,
    unencrypted_volumes.
  returned: always
  type: list
  elements: str
  sample: [access_keys, open_management_ports, imdsv1_instances, unencrypted_volumes]
count:
  description: The number of findings of every check together; V(0) on a clean account.
  returned: always
  type: int
  sample: 2
findings:
  description:
    - The findings of each check that ran, by check name; a check that found nothing has an empty list and a
      check that did not run has no key.
  returned: always
  type: dict
  contains:
    access_keys:
      description: One item per active access key of an IAM user.
      returned: when the check ran
      type: list
      elements: dict
      contains:
        user_name:
          description: The IAM user.
          type: str
          sample: ci-deploy
        access_key_id:
          description: The access key id (never a secret).
          type: str
          sample: AKIAEXAMPLEKEYID
        create_date:
          description: When the key was created (ISO 8601).
          type: str
          sample: "2024-05-01T09:12:00+00:00"
    open_management_ports:
      description: One item per inbound rule and internet CIDR that reaches a management port.
      returned: when the check ran
      type: list
      elements: dict
      contains:
        group_id:
          description: The security group.
          type: str
          sample: sg-0123456789abcdef0
        group_name:
          description: The security group's name.
          type: str
          sample: hpc-prod-headnode
        vpc_id:
          description: The VPC of the security group.
          type: str
          sample: vpc-0123456789abcdef0
        protocol:
          description: The rule's protocol as EC2 reports it (V(tcp), V(udp), a protocol number, or V(-1) for all).
          type: str
          sample: tcp
        from_port:
          description: The first port of the rule; V(null) for a rule of every protocol.
          type: int
          sample: 3389
        to_port:
          description: The last port of the rule; V(null) for a rule of every protocol.
          type: int
          sample: 3389
        cidr:
          description: The internet source, V(0.0.0.0/0) or V(::/0).
          type: str
          sample: 0.0.0.0/0
        ports:
          description: The management ports the rule reaches.
          type: list
          elements: int
          sample: [3389]
    imdsv1_instances:
      description: One item per instance (not terminated) that does not require IMDSv2.
      returned: when the check ran
      type: list
      elements: dict
      contains:
        instance_id:
          description: The instance.
          type: str
          sample: i-0123456789abcdef0
        name:
          description: Its C(Name) tag; empty when it has none.
          type: str
          sample: hpc-prod-cn-001
        state:
          description: Its state.
          type: str
          sample: running
        http_tokens:
          description: Its C(MetadataOptions.HttpTokens) (V(optional)); empty when EC2 reported none.
          type: str
          sample: optional
        http_endpoint:
          description: Its C(MetadataOptions.HttpEndpoint) (V(enabled) or V(disabled)); empty when EC2 reported none.
          type: str
          sample: enabled
    unencrypted_volumes:
      description: One item per unencrypted EBS volume.
      returned: when the check ran
      type: list
      elements: dict
      contains:
        volume_id:
          description: The volume.
          type: str
          sample: vol-0123456789abcdef0
        instance_id:
          description: The instance it is attached to (the first one for a Multi-Attach volume); empty when detached.
          type: str
          sample: i-0123456789abcdef0
        size:
          description: Its size in GiB.
          type: int
          sample: 100
        state:
          description: Its state.
          type: str
          sample: in-use
  sample:
    access_keys: []
    open_management_ports:
      - {group_id: sg-0123456789abcdef0, group_name: rdp-open, vpc_id: vpc-0123456789abcdef0, protocol: tcp,
         from_port: 3389, to_port: 3389, cidr: 0.0.0.0/0, ports: [3389]}
    imdsv1_instances: []
    unencrypted_volumes:
      - {volume_id: vol-0123456789abcdef0, instance_id: i-0123456789abcdef0, size: 100, state: in-use}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._guardrails import (
    ACCESS_KEYS,
    CHECKS,
    IMDSV1_INSTANCES,
    MANAGEMENT_PORTS,
    OPEN_MANAGEMENT_PORTS,
    UNENCRYPTED_VOLUMES,
    access_key_findings,
    cluster_volumes,
    imdsv1_findings,
    live_instances,
    open_port_findings,
    ports_error,
    selected_checks,
    summary,
    volume_findings,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import cluster_filters

# EC2 takes at most 200 values in one filter.
_FILTER_VALUES = 200


class Auditor:
    """The AWS side of the report: reads only; AWS failures raise AWSCallError (``run_module`` fails once)."""

    def __init__(self, module):
        self.module = module
        self.cluster = module.params["cluster"]
        self._clients = {}
        self._instances = None

    def client(self, service):
        if service not in self._clients:
            self._clients[service] = client_from_module(self.module, service)
        return self._clients[service]

    def access_keys(self):
        iam = self.client("iam")
        keys = []
        for user in paginate("list IAM users", iam, "list_users", "Users"):
            name = user["UserName"]
            # a user deleted between the two calls has no keys left
            keys.extend(aws_call(f"list the access keys of IAM user {name}", self._user_keys, iam, name,
                                 ignore=("NoSuchEntity",), default=[]))
        return access_key_findings(keys)

    @staticmethod
    def _user_keys(iam, name):
        found = []
        for page in iam.get_paginator("list_access_keys").paginate(UserName=name):
            found.extend(page.get("AccessKeyMetadata") or [])
        return found

    def open_management_ports(self, ports):
        groups = paginate("describe security groups", self.client("ec2"), "describe_security_groups",
                          "SecurityGroups")
        return open_port_findings(groups, ports)

    def instances(self):
        """The instances in scope (the cluster's, or all), not terminated; read once."""
        if self._instances is None:
            kwargs = {"Filters": cluster_filters(self.cluster)} if self.cluster else {}
            what = f"describe the instances of cluster {self.cluster}" if self.cluster else "describe instances"
            self._instances = live_instances(paginate(what, self.client("ec2"), "describe_instances",
                                                      "Reservations", **kwargs))
        return self._instances

    def imdsv1_instances(self):
        return imdsv1_findings(self.instances())

    def volumes(self):
        """The volumes in scope: with a cluster, those tagged with it or attached to its instances."""
        ec2 = self.client("ec2")
        if not self.cluster:
            return paginate("describe volumes", ec2, "describe_volumes", "Volumes")
        what = f"describe the volumes of cluster {self.cluster}"
        volumes = paginate(what, ec2, "describe_volumes", "Volumes", Filters=cluster_filters(self.cluster))
        ids = [instance["InstanceId"] for instance in self.instances()]
        for start in range(0, len(ids), _FILTER_VALUES):
            chunk = ids[start:start + _FILTER_VALUES]
            volumes += paginate(what, ec2, "describe_volumes", "Volumes",
                                Filters=[{"Name": "attachment.instance-id", "Values": chunk}])
        return cluster_volumes(volumes, self.cluster, ids)

    def unencrypted_volumes(self):
        return volume_findings(self.volumes())


def report(module, auditor):
    """The module's result: the findings of each selected check; a failure with them when asked to."""
    params = module.params
    checks = selected_checks(params["checks"])
    ports = params["management_ports"]
    if OPEN_MANAGEMENT_PORTS in checks:
        error = ports_error(ports)
        if error:
            raise ModuleFailure(error)
    runs = {
        ACCESS_KEYS: auditor.access_keys,
        OPEN_MANAGEMENT_PORTS: lambda: auditor.open_management_ports(ports),
        IMDSV1_INSTANCES: auditor.imdsv1_instances,
        UNENCRYPTED_VOLUMES: auditor.unencrypted_volumes,
    }
    findings = {check: runs[check]() for check in checks}
    result = dict(changed=False, checks=checks, findings=findings,
                  count=sum(len(items) for items in findings.values()))
    if params["fail_on_findings"] and result["count"]:
        raise ModuleFailure(summary(findings), **result)
    return result


def main():
    argument_spec = dict(
        cluster=dict(type="str"),
        checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
        management_ports=dict(type="list", elements="int", default=list(MANAGEMENT_PORTS)),
        fail_on_findings=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    auditor = Auditor(module)
    run_module(module, lambda: report(module, auditor))


if __name__ == "__main__":
    main()
