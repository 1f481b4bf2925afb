"""What the account holds, read from the lab's endpoint: to prove a refused input changed nothing, that a rerun
after a crash or through API faults converged to a clean run's state, and that a half-finished run left nothing.

- ``account_state(lab_env)``: every kind of resource the collection creates, in the lab's region, each item a small
  JSON-able dict, sorted. Mutable attributes that a change would alter are kept (sizes, versions, rules, tags);
  read-only churn (timestamps of reads) is not.
- ``cluster_state(lab_env, cluster)``: the same, limited to one cluster (tag ``hpc:cluster`` or a name that holds
  the cluster's name).
- ``diff_state(before, after)``: ``{kind: {"added": [...], "removed": [...]}}``, empty when equal.
- ``normalize(state, cluster)``: ids, dates, addresses and the cluster's name replaced, so that two clusters built
  the same way compare equal.
- ``orphans(lab_env, cluster)``: what a half-finished run can leave behind.
"""

from __future__ import annotations

import json
import re

from conftest import lab_client

_ID = re.compile(
    r"\b(?:vpc|subnet|sg|sgr|i|lt|ami|snap|vol|rtb|igw|nat|eni|eipalloc|vpce|key|acl|dopt|pl|fs)-[0-9a-f]{8,17}\b"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_ADDRESS = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(?!/)")
_RECORDS = "ResourceRecords"
_STAMP = re.compile(r"\b20\d{6}(T?\d{4,6}Z?)?\b")


_CLIENTS = {}


def _client(lab_env, service):
    """One boto3 client per endpoint and service for the whole test session (making one costs ~0.5 s of CPU)."""
    key = (lab_env["AWS_ENDPOINT_URL"], lab_env.get("AWS_ACCESS_KEY_ID"), service)
    if key not in _CLIENTS:
        _CLIENTS[key] = lab_client(lab_env, service)
    return _CLIENTS[key]


def _tags(resource, key="Tags"):
    return {t["Key"]: t["Value"] for t in resource.get(key) or []}


def _sorted(items):
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))


def _pages(client, operation, key, **kwargs):
    found = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        found.extend(page.get(key) or [])
    return found


def _ec2(ec2):
    state = {}
    state["vpcs"] = [{"id": v["VpcId"], "cidr": v["CidrBlock"], "tags": _tags(v)} for v in ec2.describe_vpcs()["Vpcs"]]
    state["subnets"] = [
        {"id": s["SubnetId"], "vpc": s["VpcId"], "cidr": s["CidrBlock"], "az": s["AvailabilityZone"], "tags": _tags(s)}
        for s in ec2.describe_subnets()["Subnets"]
    ]
    state["route_tables"] = [
        {
            "id": r["RouteTableId"],
            "vpc": r["VpcId"],
            "routes": _sorted(
                {k: v for k, v in route.items() if k not in ("Origin", "State")} for route in r.get("Routes", [])
            ),
            "associations": sorted(a.get("SubnetId") or "main" for a in r.get("Associations", [])),
            "tags": _tags(r),
        }
        for r in ec2.describe_route_tables()["RouteTables"]
    ]
    state["security_groups"] = [
        {
            "id": g["GroupId"],
            "name": g["GroupName"],
            "vpc": g.get("VpcId"),
            "ingress": _sorted(g.get("IpPermissions", [])),
            "egress": _sorted(g.get("IpPermissionsEgress", [])),
            "tags": _tags(g),
        }
        for g in ec2.describe_security_groups()["SecurityGroups"]
    ]
    state["vpc_endpoints"] = [
        {"id": e["VpcEndpointId"], "service": e["ServiceName"], "vpc": e["VpcId"], "tags": _tags(e)}
        for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
        if e.get("State", "available").lower() not in ("deleted", "deleting")
    ]
    instances = []
    for reservation in _pages(ec2, "describe_instances", "Reservations"):
        for i in reservation["Instances"]:
            if i["State"]["Name"] in ("terminated", "shutting-down"):
                continue
            instances.append(
                {
                    "id": i["InstanceId"],
                    "state": i["State"]["Name"],
                    "image": i.get("ImageId"),
                    "type": i.get("InstanceType"),
                    "subnet": i.get("SubnetId"),
                    "tags": _tags(i),
                }
            )
    state["instances"] = instances
    state["launch_templates"] = [
        {
            "id": t["LaunchTemplateId"],
            "name": t["LaunchTemplateName"],
            "versions": t["LatestVersionNumber"],
            "default": t["DefaultVersionNumber"],
            "tags": _tags(t),
        }
        for t in _pages(ec2, "describe_launch_templates", "LaunchTemplates")
    ]
    state["images"] = [
        {"id": i["ImageId"], "name": i.get("Name"), "state": i.get("State"), "tags": _tags(i)}
        for i in ec2.describe_images(Owners=["self"])["Images"]
    ]
    state["snapshots"] = [
        {"id": s["SnapshotId"], "volume": s.get("VolumeId"), "description": s.get("Description", ""), "tags": _tags(s)}
        for s in _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"])
    ]
    state["volumes"] = [
        {
            "id": v["VolumeId"],
            "state": v["State"],
            "attached": sorted(a["InstanceId"] for a in v.get("Attachments", [])),
            "tags": _tags(v),
        }
        for v in _pages(ec2, "describe_volumes", "Volumes")
    ]
    state["key_pairs"] = [{"name": k["KeyName"], "tags": _tags(k)} for k in ec2.describe_key_pairs()["KeyPairs"]]
    state["network_interfaces"] = [
        {
            "id": n["NetworkInterfaceId"],
            "subnet": n.get("SubnetId"),
            "attached": (n.get("Attachment") or {}).get("InstanceId"),
            "tags": _tags(n, "TagSet"),
        }
        for n in _pages(ec2, "describe_network_interfaces", "NetworkInterfaces")
    ]
    return state


def _autoscaling(asg):
    groups = []
    for g in _pages(asg, "describe_auto_scaling_groups", "AutoScalingGroups"):
        template = g.get("LaunchTemplate") or (g.get("MixedInstancesPolicy") or {}).get("LaunchTemplate", {}).get(
            "LaunchTemplateSpecification", {}
        )
        groups.append(
            {
                "name": g["AutoScalingGroupName"],
                "min": g["MinSize"],
                "max": g["MaxSize"],
                "desired": g["DesiredCapacity"],
                "template": template.get("LaunchTemplateName"),
                "template_version": template.get("Version"),
                "instances": len(g.get("Instances", [])),
                "tags": {t["Key"]: t["Value"] for t in g.get("Tags", [])},
            }
        )
    return {"autoscaling_groups": groups}


def _ssm(ssm):
    return {
        "ssm_parameters": [
            {"name": p["Name"], "type": p["Type"], "version": p["Version"]}
            for p in _pages(ssm, "describe_parameters", "Parameters")
        ]
    }


def _kms(kms):
    return {
        "kms_aliases": [
            {"name": a["AliasName"], "key": a.get("TargetKeyId")}
            for a in _pages(kms, "list_aliases", "Aliases")
            if not a["AliasName"].startswith("alias/aws/")
        ],
        "kms_keys": [
            {"id": k["KeyId"], "state": kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]}
            for k in _pages(kms, "list_keys", "Keys")
        ],
    }


def _iam(iam):
    return {
        "iam_roles": [{"name": r["RoleName"], "path": r["Path"]} for r in _pages(iam, "list_roles", "Roles")],
        "iam_instance_profiles": [
            {"name": p["InstanceProfileName"], "roles": sorted(r["RoleName"] for r in p.get("Roles", []))}
            for p in _pages(iam, "list_instance_profiles", "InstanceProfiles")
        ],
        "iam_policies": [
            {"name": p["PolicyName"], "version": p.get("DefaultVersionId")}
            for p in _pages(iam, "list_policies", "Policies", Scope="Local")
        ],
    }


def _route53(route53):
    zones = []
    for zone in _pages(route53, "list_hosted_zones", "HostedZones"):
        records = _pages(route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone["Id"])
        zones.append(
            {
                "id": zone["Id"],
                "name": zone["Name"],
                "records": _sorted(
                    {
                        "name": r["Name"],
                        "type": r["Type"],
                        "values": sorted(v["Value"] for v in r.get("ResourceRecords", [])),
                    }
                    for r in records
                ),
            }
        )
    return {"route53_zones": zones}


def _others(lab_env):
    s3 = _client(lab_env, "s3")
    secrets = _client(lab_env, "secretsmanager")
    sns = _client(lab_env, "sns")
    events = _client(lab_env, "events")
    return {
        "s3_buckets": [{"name": b["Name"]} for b in s3.list_buckets().get("Buckets", [])],
        "secrets": [{"name": s["Name"]} for s in _pages(secrets, "list_secrets", "SecretList")],
        "sns_topics": [{"arn": t["TopicArn"]} for t in _pages(sns, "list_topics", "Topics")],
        "event_rules": [
            {"name": r["Name"], "state": r.get("State"), "pattern": r.get("EventPattern")}
            for r in events.list_rules().get("Rules", [])
        ],
    }


def _portal_services(lab_env):
    """The services only the portal tier uses: RDS, EFS, FSx, ELBv2, ACM (tags where the listing carries them)."""
    rds = _client(lab_env, "rds")
    efs = _client(lab_env, "efs")
    fsx = _client(lab_env, "fsx")
    elb = _client(lab_env, "elbv2")
    acm = _client(lab_env, "acm")
    balancers = _pages(elb, "describe_load_balancers", "LoadBalancers")
    return {
        "rds_clusters": [
            {"id": c["DBClusterIdentifier"], "engine": c["Engine"], "encrypted": c.get("StorageEncrypted"),
             "scaling": c.get("ServerlessV2ScalingConfiguration"), "tags": _tags(c, "TagList")}
            for c in _pages(rds, "describe_db_clusters", "DBClusters")
        ],
        "rds_instances": [
            {"id": i["DBInstanceIdentifier"], "class": i["DBInstanceClass"], "cluster": i.get("DBClusterIdentifier")}
            for i in _pages(rds, "describe_db_instances", "DBInstances")
        ],
        "rds_subnet_groups": [{"name": g["DBSubnetGroupName"], "vpc": g.get("VpcId")}
                              for g in _pages(rds, "describe_db_subnet_groups", "DBSubnetGroups")],
        "rds_cluster_snapshots": [{"id": n["DBClusterSnapshotIdentifier"], "cluster": n.get("DBClusterIdentifier")}
                                  for n in _pages(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots")],
        "efs_file_systems": [
            {"id": f["FileSystemId"], "name": f.get("Name"), "mount_targets": f.get("NumberOfMountTargets"),
             "tags": _tags(f)}
            for f in _pages(efs, "describe_file_systems", "FileSystems")
        ],
        "fsx_file_systems": [
            {"id": f["FileSystemId"], "type": f["FileSystemType"], "capacity": f.get("StorageCapacity"),
             "lifecycle": f.get("Lifecycle"), "tags": _tags(f)}
            for f in _pages(fsx, "describe_file_systems", "FileSystems")
        ],
        "load_balancers": [
            {"name": b["LoadBalancerName"], "scheme": b.get("Scheme"), "vpc": b.get("VpcId"),
             "listeners": sorted((x["Protocol"], x["Port"]) for x in elb.describe_listeners(
                 LoadBalancerArn=b["LoadBalancerArn"]).get("Listeners", []))}
            for b in balancers
        ],
        "target_groups": [{"name": g["TargetGroupName"], "protocol": g.get("Protocol"), "port": g.get("Port"),
                           "vpc": g.get("VpcId")}
                          for g in _pages(elb, "describe_target_groups", "TargetGroups")],
        "certificates": [{"arn": c["CertificateArn"], "domain": c.get("DomainName"), "status": c.get("Status")}
                         for c in _pages(acm, "list_certificates", "CertificateSummaryList")],
    }


def account_state(lab_env) -> dict[str, list]:
    """Every kind of resource the collection creates in the lab's region (see the module docstring)."""
    state = {}
    state.update(_ec2(_client(lab_env, "ec2")))
    state.update(_autoscaling(_client(lab_env, "autoscaling")))
    state.update(_ssm(_client(lab_env, "ssm")))
    state.update(_kms(_client(lab_env, "kms")))
    state.update(_iam(_client(lab_env, "iam")))
    state.update(_route53(_client(lab_env, "route53")))
    state.update(_others(lab_env))
    state.update(_portal_services(lab_env))
    return {kind: _sorted(items) for kind, items in state.items()}


def _mentions(item, cluster: str) -> bool:
    tags = item.get("tags") or {}
    if tags.get("hpc:cluster") == cluster:
        return True
    return cluster in json.dumps(item, sort_keys=True, default=str)


def cluster_state(lab_env, cluster: str) -> dict[str, list]:
    """``account_state`` limited to one cluster: tagged ``hpc:cluster=<cluster>`` or naming the cluster. Items
    that only refer to the cluster's VPC (subnets, route tables, security groups without a tag) come along."""
    state = account_state(lab_env)
    vpcs = {v["id"] for v in state["vpcs"] if _mentions(v, cluster)}
    kept = {}
    for kind, items in state.items():
        kept[kind] = [item for item in items if _mentions(item, cluster) or item.get("vpc") in vpcs]
    return kept


def diff_state(before: dict, after: dict) -> dict:
    """``{kind: {"added": [...], "removed": [...]}}`` of what differs; empty when the two states are equal."""
    found = {}
    for kind in sorted(set(before) | set(after)):
        old = [json.dumps(i, sort_keys=True, default=str) for i in before.get(kind, [])]
        new = [json.dumps(i, sort_keys=True, default=str) for i in after.get(kind, [])]
        added = [json.loads(i) for i in new if i not in old]
        removed = [json.loads(i) for i in old if i not in new]
        if added or removed:
            found[kind] = {"added": added, "removed": removed}
    return found


def normalize(state: dict, cluster: str) -> dict:
    """The state with ids, dates, addresses, stamps and the cluster's name replaced: two clusters built the same
    way (same inputs, another name) normalize to the same value, item counts and versions included."""
    text = json.dumps(state, sort_keys=True, default=str)
    text = text.replace(cluster, "<cluster>")
    for pattern, placeholder in ((_UUID, "<uuid>"), (_ID, "<id>"), (_DATE, "<date>"), (_STAMP, "<stamp>")):
        text = pattern.sub(placeholder, text)
    text = _ADDRESS.sub("<address>", text)
    return {kind: _sorted(items) for kind, items in json.loads(text).items()}


def orphans(lab_env, cluster: str) -> list[str]:
    """What a half-finished run of ``cluster`` can leave behind, one line each; empty when there is none.

    Instances of the cluster outside every Auto Scaling group (the pool's and the tiers' nodes are all group
    members), Packer builder instances of the cluster's images still alive (tag ``hpc:bake=true``, Name ``packer
    hpc-<cluster>-...``), AMIs of the cluster without the tag ``hpc:input-hash`` that a finished bake sets, the
    cluster's snapshots no AMI refers to (tagged for the cluster, or described as made from one of its builder
    instances or AMIs), unattached volumes of the cluster, and Packer's temporary key pairs and security groups (names
    starting with ``packer``; they name no cluster, so they count only while no other bake's builder is alive: other
    tests of the same lab may be baking at the same time).
    """
    state = account_state(lab_env)
    ec2 = _client(lab_env, "ec2")
    found = []
    grouped = {
        i["InstanceId"]
        for i in _pages(_client(lab_env, "autoscaling"), "describe_auto_scaling_instances", "AutoScalingInstances")
    }
    builders = [i for i in state["instances"] if i["tags"].get("hpc:bake") == "true"]
    ours = [i for i in builders if cluster in i["tags"].get("Name", "")]
    found += [f"Packer builder instance {i['id']} ({i['tags'].get('Name', '')}) is {i['state']}" for i in ours]
    for i in state["instances"]:
        if i not in builders and i["tags"].get("hpc:cluster") == cluster and i["id"] not in grouped:
            found.append(f"instance {i['id']} of {cluster} is {i['state']} outside every Auto Scaling group")
    images = [i for i in state["images"] if cluster in (i["name"] or "") or i["tags"].get("hpc:cluster") == cluster]
    for image in images:
        if "hpc:input-hash" not in image["tags"]:
            found.append(f"AMI {image['id']} ({image['name']}) has no hpc:input-hash tag: a half-finished bake")
    referenced = set()
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        for mapping in image.get("BlockDeviceMappings", []):
            if (mapping.get("Ebs") or {}).get("SnapshotId"):
                referenced.add(mapping["Ebs"]["SnapshotId"])
    sources = {i["id"] for i in ours} | {i["id"] for i in images}
    for snapshot in state["snapshots"]:
        mine = snapshot["tags"].get("hpc:cluster") == cluster or any(s in snapshot["description"] for s in sources)
        if mine and snapshot["id"] not in referenced:
            found.append(f"snapshot {snapshot['id']} ({snapshot['description']}) belongs to no AMI")
    for volume in state["volumes"]:
        if volume["tags"].get("hpc:cluster") == cluster and not volume["attached"] and volume["state"] == "available":
            found.append(f"volume {volume['id']} of {cluster} is attached to nothing")
    if len(builders) == len(ours):
        found += [
            f"key pair {k['name']} (Packer's temporary key)"
            for k in state["key_pairs"]
            if k["name"].startswith("packer")
        ]
        found += [
            f"security group {g['id']} ({g['name']}, Packer's temporary group)"
            for g in state["security_groups"]
            if g["name"].startswith("packer")
        ]
    return found
