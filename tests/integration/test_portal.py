"""The portal tier end to end in the lab (issue 16): playbooks/portal.yml provisions the AWS side for real in the
embedded endpoint (Aurora Serverless v2, EFS, FSx for Lustre, ALB with an HTTPS listener, ACM, Secrets Manager,
security groups, launch template and auto scaling group) and configures the lab's portal host (lab/portallab.py: a
network-namespace host with Debian's MariaDB standing in for Aurora, local folders for the mounts, the Slurm
client against the Slurm lab's head host). Shown here:

- the first run makes every resource with the settings the variables ask for, least-privilege security groups;
- the database credentials are read from the generated secret and a real MariaDB session opens with them over
  TCP (a wrong password is refused); efinstall.config carries the same JDBC URL and credentials;
- a second run reports changed=0;
- the parallelcluster role with parallelcluster_use_portal_storage renders SharedStorage with the same file
  system ids and the portal's storage security group;
- teardown (portal_state=absent) twice: the second changes nothing, nothing of the portal tier is left, the
  user's efadmin secret is kept.

Needs root (network namespaces), Debian's slurm-wlm, munge, openssh-server, mariadb-server and libmariadb-java
(make setup-test installs them). Runs in the Slurm group (tests/conftest.py): it brings the Slurm lab up for the
bridge and the head host, and down after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import portal_inputs  # lab/ is on the path (tests/conftest.py puts it there)
import pytest
import yaml
from aws_state import cluster_state
from conftest import ROOT, lab_client, play_recap

SLURMLAB = [sys.executable, str(ROOT / "lab" / "slurmlab.py")]
PORTALLAB = [sys.executable, str(ROOT / "lab" / "portallab.py")]
PORTAL_INVENTORY = ROOT / ".lab" / "portal" / "inventory.yml"
SLURM_INVENTORY = ROOT / ".lab" / "slurm" / "inventory.yml"
CLUSTER = f"portal{uuid.uuid4().hex[:6]}"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def lab(command, *args, env=None):
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def changed(result) -> int:
    return sum(host["changed"] for host in play_recap(result.stdout).values())


def changed_tasks(result) -> list[str]:
    """The tasks a run reported changed (their TASK line and the host line), for a failure's message."""
    found, task = [], ""
    for line in result.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line.rstrip("* ")
        elif line.startswith("changed: ["):
            found.append(f"{task} {line.split(' =>')[0]}")
    return found


@pytest.fixture(scope="module")
def hosts(ansible_env):
    """The Slurm lab (bridge, head host) and the portal host, up for this module; down after."""
    result = lab(SLURMLAB, "up", "--inventory", "inventories/lab", "--computes", "1", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    result = lab(PORTALLAB, "up", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    inventory = yaml.safe_load(PORTAL_INVENTORY.read_text())
    (name, host), = inventory["all"]["children"]["portal"]["hosts"].items()
    yield {"name": name, **host}
    result = lab(PORTALLAB, "down", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    result = lab(SLURMLAB, "down", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, lab_env):
    """What the user hands over (seed 001): the efadmin secret, a certificate, the JDBC driver in a bucket."""
    directory = tmp_path_factory.mktemp("portal")
    secrets = lab_client(lab_env, "secretsmanager")
    secret_id = f"{CLUSTER}/efadmin"
    portal_inputs.ensure_secret(secrets, secret_id, "efadminPassword")
    s3 = lab_client(lab_env, "s3")
    bucket = f"hpcops-portal-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="portal/mariadb-java-client.tar.gz", Body=portal_inputs.driver_archive())
    old_tls = portal_inputs.TLS
    portal_inputs.TLS = directory / "tls"
    try:
        cert, key = portal_inputs.ensure_certificate("portal.test.internal")
    finally:
        portal_inputs.TLS = old_tls
    yield {"secret_id": secret_id, "bucket": bucket, "cert": str(cert), "key": str(key), "dir": directory}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for obj in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"], VersionId=obj["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    secrets.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory, hosts, inputs):
    """The lab's group variables for a cluster of this module's own, and static hosts: the portal host and the
    Slurm head host (no hpc_ec2 source: moto's portal instance runs nothing to connect to)."""
    directory = tmp_path_factory.mktemp("inventory")
    shutil.copytree(ROOT / "inventories" / "lab" / "group_vars", directory / "group_vars")
    (directory / "group_vars" / "all").mkdir()
    (directory / "group_vars" / "all.yml").rename(directory / "group_vars" / "all" / "lab.yml")
    extra = {
        "hpc_cluster_name": CLUSTER,
        "aws_foundation_secrets_prefix": f"/hpc/{CLUSTER}",
        "portal_efadmin_secret_id": inputs["secret_id"],
        "portal_certificate_file": inputs["cert"],
        "portal_certificate_key_file": inputs["key"],
        "portal_payload_bucket": inputs["bucket"],
        "portal_summary_file": str(directory / "portal-summary.txt"),
    }
    (directory / "group_vars" / "all" / "zz_test.yml").write_text("---\n" + yaml.safe_dump(extra))
    return directory


def portal(run_playbook, inventory, *extra, timeout=900):
    return run_playbook("playbooks/portal.yml", "-i", str(inventory), "-i", str(SLURM_INVENTORY),
                        "-i", str(PORTAL_INVENTORY), *extra, timeout=timeout)


@pytest.fixture(scope="module")
def first_run(run_playbook, inventory):
    result = portal(run_playbook, inventory)
    try:
        assert result.returncode == 0, result.stdout[-6000:]
        yield result
    finally:
        # The whole cluster goes after the module, whatever happened: playbooks/teardown.yml removes a portal tier
        # still there, then the foundation portal.yml made (the payload bucket and the SSM parameters too).
        done = run_playbook("playbooks/teardown.yml", "-i", str(inventory), "-e",
                            json.dumps({"teardown_delete_bucket": True, "teardown_delete_secrets": True}), timeout=900)
        assert done.returncode == 0, done.stdout[-4000:]


def rules(group):
    return sorted(
        (p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"),
         tuple(sorted(r["CidrIp"] for r in p.get("IpRanges", []))),
         tuple(sorted(g["GroupId"] for g in p.get("UserIdGroupPairs", []))))
        for p in group
    )


def test_first_run_makes_the_portal_tier(first_run, lab_env, inventory):
    name = f"{CLUSTER}-portal"
    rds = lab_client(lab_env, "rds")
    db = rds.describe_db_clusters(DBClusterIdentifier=f"{name}-db")["DBClusters"][0]
    assert db["Engine"] == "aurora-mysql" and db["StorageEncrypted"] is True
    assert db["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 2.0}
    assert "alias" not in db["KmsKeyId"] and db["KmsKeyId"].startswith("arn:aws:kms:")
    instance = rds.describe_db_instances(DBInstanceIdentifier=f"{name}-db-1")["DBInstances"][0]
    assert instance["DBInstanceClass"] == "db.serverless"

    elb = lab_client(lab_env, "elbv2")
    balancer = elb.describe_load_balancers(Names=[f"{name}-alb"])["LoadBalancers"][0]
    assert balancer["Scheme"] == "internal"
    listeners = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert [(x["Protocol"], x["Port"]) for x in listeners] == [("HTTPS", 443)], "HTTPS only, no HTTP listener"
    target = elb.describe_target_groups(Names=[f"{name}-tg"])["TargetGroups"][0]
    assert (target["Protocol"], target["Port"]) == ("HTTPS", 8443)
    cert = listeners[0]["Certificates"][0]["CertificateArn"]
    assert lab_client(lab_env, "acm").describe_certificate(CertificateArn=cert)["Certificate"]["DomainName"] == (
        "portal.test.internal")

    ec2 = lab_client(lab_env, "ec2")
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:hpc:cluster", "Values": [CLUSTER]}, {"Name": "tag:hpc:role", "Values": ["portal"]}]
    )["SecurityGroups"]}
    ids = {key: groups[f"{name}-{key}"]["GroupId"] for key in ("alb", "host", "db", "storage")}
    admin = ["192.0.2.0/24"]  # inventories/lab/group_vars/all.yml aws_foundation_admin_cidrs
    assert rules(groups[f"{name}-alb"]["IpPermissions"]) == [("tcp", 443, 443, tuple(admin), ())]
    assert rules(groups[f"{name}-alb"]["IpPermissionsEgress"]) == [("tcp", 8443, 8443, (), (ids["host"],))]
    assert rules(groups[f"{name}-host"]["IpPermissions"]) == [("tcp", 8443, 8443, (), (ids["alb"],))]
    assert rules(groups[f"{name}-db"]["IpPermissions"]) == [("tcp", 3306, 3306, (), (ids["host"],))]
    assert rules(groups[f"{name}-storage"]["IpPermissions"]) == [
        ("tcp", 988, 988, (), (ids["storage"],)), ("tcp", 1018, 1023, (), (ids["storage"],)),
        ("tcp", 2049, 2049, (), (ids["storage"],)), ("tcp", 6817, 6817, (), (ids["storage"],))]

    efs = lab_client(lab_env, "efs")
    (fs,) = [f for f in efs.describe_file_systems()["FileSystems"] if f.get("Name") == f"{name}-efs"]
    assert fs["Encrypted"] and fs["NumberOfMountTargets"] == 2  # one per subnet of the foundation
    fsx = lab_client(lab_env, "fsx")
    (lustre,) = [f for f in fsx.describe_file_systems()["FileSystems"]
                 if {"Key": "Name", "Value": f"{name}-fsx"} in f.get("Tags", [])]
    tags = {t["Key"]: t["Value"] for t in lustre["Tags"]}
    assert lustre["StorageCapacity"] == 1200 and lustre["LustreConfiguration"]["DeploymentType"] == "SCRATCH_2"
    assert tags["hpc:mount-dir"] == "/fsx" and tags["hpc:role"] == "portal-storage"

    asg = lab_client(lab_env, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    group = asg["AutoScalingGroups"][0]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 1, 1)
    assert group["TargetGroupARNs"] == [target["TargetGroupArn"]]

    summary = (inventory / "portal-summary.txt").read_text()
    assert "enginframe itself was not installed" in summary.lower(), summary


def test_database_credentials_from_the_secret_open_a_session(first_run, lab_env, hosts):
    secret = json.loads(lab_client(lab_env, "secretsmanager").get_secret_value(
        SecretId=f"{CLUSTER}-portal/db")["SecretString"])
    assert set(secret) >= {"username", "password", "dbname", "port"}
    address = hosts["ansible_host"]

    def session(password):
        return subprocess.run(
            ["mariadb", "-h", address, "-P", str(secret["port"]), "-u", secret["username"], secret["dbname"],
             "-N", "-e", "SELECT DATABASE(), CURRENT_USER()"],
            env={**os.environ, "MYSQL_PWD": password}, capture_output=True, text=True, timeout=30, check=False)

    good = session(secret["password"])
    assert good.returncode == 0, good.stderr
    assert good.stdout.split()[0] == secret["dbname"]
    bad = session(secret["password"] + "x")
    assert bad.returncode != 0 and "Access denied" in bad.stderr

    # efinstall.config holds the same JDBC URL (the portal host's address) and user; the file is 0600.
    config = Path(hosts["portal_lab_root"]).parent / "root" / "efinstall.config"
    if not config.exists():
        config = ROOT / ".lab" / "portal" / "root" / "efinstall.config"
    text = config.read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert f"jdbc\\:mysql\\://{address}\\:{secret['port']}/{secret['dbname']}" in text, text
    assert secret["username"] in text


def test_second_run_changes_nothing(first_run, run_playbook, inventory):
    result = portal(run_playbook, inventory)
    assert result.returncode == 0, result.stdout[-6000:]
    assert changed(result) == 0, changed_tasks(result)


def test_parallelcluster_mounts_the_same_file_systems(first_run, run_playbook, tmp_path, lab_env):
    config = tmp_path / "cluster.yaml"
    playbook = tmp_path / "render.yml"
    role_vars = {"parallelcluster_use_portal_storage": True, "parallelcluster_custom_ami": "ami-12345678",
                 "parallelcluster_subnet_ids": ["subnet-12345678"], "parallelcluster_scripts_bucket": "bucket"}
    playbook.write_text(yaml.safe_dump([{
        "name": "Render the ParallelCluster configuration with the portal's storage",
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {"group/hpcops.aws_hpc.aws": {"region": "us-east-1",
                                                         "endpoint_url": lab_env["AWS_ENDPOINT_URL"]}},
        "tasks": [
            {"name": "Find the portal's storage", "ansible.builtin.include_role": {
                "name": "hpcops.aws_hpc.parallelcluster", "tasks_from": "portal_storage"}, "vars": role_vars},
            {"name": "Check and render", "ansible.builtin.include_role": {
                "name": "hpcops.aws_hpc.parallelcluster", "tasks_from": "validate"}, "vars": role_vars},
            {"name": "Write the configuration", "ansible.builtin.copy": {
                "content": "{{ _parallelcluster_rendered.config | to_nice_json }}", "dest": str(config),
                "mode": "0644"}},
        ]}]))
    result = run_playbook(str(playbook), "-e", f"hpc_cluster_name={CLUSTER}", timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    rendered = yaml.safe_load(config.read_text())
    storage = {s["StorageType"]: s for s in rendered["SharedStorage"]}
    efs = next(f for f in lab_client(lab_env, "efs").describe_file_systems()["FileSystems"]
               if f.get("Name") == f"{CLUSTER}-portal-efs")
    assert storage["Efs"]["EfsSettings"]["FileSystemId"] == efs["FileSystemId"]
    assert storage["Efs"]["MountDir"] == "/efs" and storage["FsxLustre"]["MountDir"] == "/fsx"
    assert storage["FsxLustre"]["FsxLustreSettings"]["FileSystemId"].startswith("fs-")
    groups = rendered["HeadNode"]["Networking"]["AdditionalSecurityGroups"]
    assert len(groups) == 1 and groups[0].startswith("sg-")


def test_teardown_twice_leaves_nothing_and_keeps_the_efadmin_secret(
        first_run, run_playbook, inventory, lab_env, inputs):
    first = portal(run_playbook, inventory, "-e", "portal_state=absent")
    assert first.returncode == 0, first.stdout[-6000:]
    assert changed(first) > 0
    second = portal(run_playbook, inventory, "-e", "portal_state=absent")
    assert second.returncode == 0, second.stdout[-6000:]
    assert changed(second) == 0, changed_tasks(second)

    state = cluster_state(lab_env, CLUSTER)
    portal_kinds = ("rds_clusters", "rds_instances", "rds_subnet_groups", "efs_file_systems", "fsx_file_systems",
                    "load_balancers", "target_groups", "certificates", "autoscaling_groups", "launch_templates")
    left = {kind: state[kind] for kind in portal_kinds if state.get(kind)}
    left["security_groups"] = [g for g in state["security_groups"] if (g.get("tags") or {}).get("hpc:role") == "portal"]
    left = {kind: items for kind, items in left.items() if items}
    assert left == {}, left
    secrets = lab_client(lab_env, "secretsmanager")
    assert secrets.describe_secret(SecretId=inputs["secret_id"]).get("DeletedDate") is None
    assert secrets.describe_secret(SecretId=f"{CLUSTER}-portal/db").get("DeletedDate") is not None
