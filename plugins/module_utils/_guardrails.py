# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the ``guardrails_info`` report calls a finding (private: not a public API).

Pure functions over the AWS answers (no AWS calls here): which security-group rules let the internet
reach a management port, which access keys are active, which instances do not require IMDSv2, which
volumes are unencrypted and belong to a cluster, and the summary a failing report prints.

The answer shapes are AWS's:

- ``IpPermissions`` of DescribeSecurityGroups
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html): ``IpProtocol``
  (``tcp``, ``udp``, ``icmp``, ``icmpv6``, a protocol number, or ``-1`` for every protocol and port),
  ``FromPort``/``ToPort`` (for ICMP the type and code, not ports), ``IpRanges`` (``CidrIp``) and
  ``Ipv6Ranges`` (``CidrIpv6``).
- ``MetadataOptions`` of DescribeInstances
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceMetadataOptionsResponse.html):
  ``HttpTokens`` is ``required`` when only IMDSv2 answers, ``optional`` when IMDSv1 does too.
- ``AccessKeyMetadata`` of ListAccessKeys
  (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKeyMetadata.html): ``UserName``,
  ``AccessKeyId``, ``Status`` (``Active`` or ``Inactive``) and ``CreateDate``; it never holds a secret.
- Volumes of DescribeVolumes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Volume.html):
  ``VolumeId``, ``Encrypted``, ``Size`` (GiB), ``State`` and ``Attachments`` (``InstanceId``).
"""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import CLUSTER_TAG

ACCESS_KEYS = "access_keys"
OPEN_MANAGEMENT_PORTS = "open_management_ports"
IMDSV1_INSTANCES = "imdsv1_instances"
UNENCRYPTED_VOLUMES = "unencrypted_volumes"
CHECKS = (ACCESS_KEYS, OPEN_MANAGEMENT_PORTS, IMDSV1_INSTANCES, UNENCRYPTED_VOLUMES)

# SSH, RDP, WinRM over HTTP and over HTTPS
MANAGEMENT_PORTS = (22, 3389, 5985, 5986)
INTERNET_CIDRS = ("0.0.0.0/0", "::/0")
# Protocols that carry ports: a rule of another protocol (ICMP's FromPort is a message type) reaches no port.
_PORT_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}
_ALL_PROTOCOLS = "-1"
_SUMMARY_ITEMS = 5


def selected_checks(checks):
    """The checks to run, in the order of ``CHECKS``, each once (``None``: all of them)."""
    wanted = set(CHECKS if checks is None else checks)
    return [check for check in CHECKS if check in wanted]


def ports_error(ports):
    """Why ``management_ports`` is wrong, or ``None``."""
    if not ports:
        return "management_ports must name at least one port"
    wrong = [port for port in ports if not 0 <= port <= 65535]
    if wrong:
        return f"management_ports must be ports from 0 to 65535, got {', '.join(str(p) for p in wrong)}"
    return None


def ports_reached(permission, ports):
    """The ports of ``ports`` a permission opens, in the given order (an empty list: none)."""
    protocol = str(permission.get("IpProtocol", "")).lower()
    if protocol == _ALL_PROTOCOLS:
        return list(dict.fromkeys(ports))
    if protocol not in _PORT_PROTOCOLS:
        return []
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if low is None or high is None or low == -1:
        low, high = 0, 65535
    return [port for port in dict.fromkeys(ports) if low <= port <= high]


def internet_sources(permission):
    """The CIDRs of a permission that are the whole internet (``0.0.0.0/0``, ``::/0``)."""
    sources = [r.get("CidrIp") for r in permission.get("IpRanges") or []]
    sources += [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges") or []]
    return [cidr for cidr in sources if cidr in INTERNET_CIDRS]


def open_port_findings(groups, ports=MANAGEMENT_PORTS):
    """One finding per (inbound rule, internet CIDR) that reaches one of ``ports``."""
    found = []
    for group in groups:
        for permission in group.get("IpPermissions") or []:
            reached = ports_reached(permission, ports)
            if not reached:
                continue
            for cidr in internet_sources(permission):
                found.append({
                    "group_id": group.get("GroupId", ""),
                    "group_name": group.get("GroupName", ""),
                    "vpc_id": group.get("VpcId", ""),
                    "protocol": str(permission.get("IpProtocol", "")),
                    "from_port": permission.get("FromPort"),
                    "to_port": permission.get("ToPort"),
                    "cidr": cidr,
                    "ports": reached,
                })
    return found


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


def access_key_findings(keys):
    """One finding per active access key (``AccessKeyMetadata`` items); inactive keys are not findings."""
    return [{"user_name": key.get("UserName", ""), "access_key_id": key.get("AccessKeyId", ""),
             "create_date": _iso(key.get("CreateDate"))}
            for key in keys if key.get("Status") == "Active"]


def tag_value(resource, key):
    return next((t.get("Value", "") for t in resource.get("Tags") or [] if t.get("Key") == key), "")


def live_instances(reservations):
    """The instances of DescribeInstances ``Reservations`` that are not terminated."""
    return [instance for reservation in reservations for instance in reservation.get("Instances") or []
            if (instance.get("State") or {}).get("Name") != "terminated"]


def imdsv1_findings(instances):
    """One finding per instance whose metadata service does not require IMDSv2 (terminated ones skipped)."""
    found = []
    for instance in instances:
        state = (instance.get("State") or {}).get("Name", "")
        options = instance.get("MetadataOptions") or {}
        if state == "terminated" or options.get("HttpTokens") == "required":
            continue
        found.append({"instance_id": instance.get("InstanceId", ""), "name": tag_value(instance, "Name"),
                      "state": state, "http_tokens": options.get("HttpTokens", ""),
                      "http_endpoint": options.get("HttpEndpoint", "")})
    return found


def cluster_volumes(volumes, cluster, instance_ids):
    """The volumes of a cluster: tagged with it, or attached to one of ``instance_ids``; each once."""
    ids = set(instance_ids)
    chosen = {}
    for volume in volumes:
        attached = {a.get("InstanceId") for a in volume.get("Attachments") or []}
        if tag_value(volume, CLUSTER_TAG) == cluster or attached & ids:
            chosen.setdefault(volume.get("VolumeId"), volume)
    return list(chosen.values())


def volume_findings(volumes):
    """One finding per unencrypted volume, each once."""
    found = {}
    for volume in volumes:
        if volume.get("Encrypted"):
            continue
        attachments = volume.get("Attachments") or [{}]
        found.setdefault(volume.get("VolumeId", ""), {
            "volume_id": volume.get("VolumeId", ""),
            "instance_id": attachments[0].get("InstanceId", ""),
            "size": volume.get("Size"),
            "state": volume.get("State", ""),
        })
    return list(found.values())


def _describe(check, finding):
    if check == ACCESS_KEYS:
        return f"{finding['user_name']} {finding['access_key_id']}"
    if check == OPEN_MANAGEMENT_PORTS:
        ports = ",".join(str(port) for port in finding["ports"])
        return f"{finding['group_id']} ({finding['group_name']}) {finding['protocol']} {ports} from {finding['cidr']}"
    if check == IMDSV1_INSTANCES:
        name = f" ({finding['name']})" if finding["name"] else ""
        return f"{finding['instance_id']}{name} HttpTokens={finding['http_tokens'] or 'unset'}"
    attached = f" on {finding['instance_id']}" if finding["instance_id"] else ""
    return f"{finding['volume_id']}{attached}"


def summary(findings):
    """The message of a report that fails on its findings: the count, then each check with what it found."""
    count = sum(len(items) for items in findings.values())
    parts = []
    for check in CHECKS:
        if check not in findings:
            continue
        items = findings[check]
        shown = "; ".join(_describe(check, item) for item in items[:_SUMMARY_ITEMS])
        more = f"; and {len(items) - _SUMMARY_ITEMS} more" if len(items) > _SUMMARY_ITEMS else ""
        parts.append(f"{check}: {len(items)}" + (f" ({shown}{more})" if items else ""))
    noun = "finding" if count == 1 else "findings"
    return f"Guardrails report: {count} {noun}. " + ". ".join(parts) + "."
