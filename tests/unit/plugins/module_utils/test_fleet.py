"""Unit tests of the autogrow actuator (_fleet.py): observe, one step against moto in-process, AWS errors.

Also checks that each policy setting has one name and one default: the Config field, the hpc_autogrow
option, the autogrow_service role's variable and the fleet role's variable.
"""

from __future__ import annotations

import datetime
import re
import time

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from conftest import ROOT

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _fleet, _tags
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import AWSCallError

REGION = "us-east-1"
CLUSTER = "unit"
NOW = 1_000_000.0


def instance(instance_id, state, name=None, launched=NOW - 3600, **tags):
    entry = {"InstanceId": instance_id, "State": {"Name": state}, "LaunchTime": launched,
             "Tags": [{"Key": key.replace("_", "-"), "Value": value} for key, value in tags.items()]}
    if name:
        entry["Tags"].append({"Key": _tags.NODE_NAME_TAG, "Value": name})
    return entry


# ------------------------------------------------------------------ observe (pure)
def test_observe_maps_ec2_and_scheduler_states():
    instances = [
        instance("i-1", "stopped", "n1"),
        instance("i-2", "pending", "n2"),
        instance("i-3", "running", "n3"),
        instance("i-4", "running", "n4"),
        instance("i-5", "running", "n5", launched=NOW - 100),  # unknown to the scheduler, booting
        instance("i-6", "running", "n6"),  # unknown to the scheduler for longer than a cold boot: idle
    ]
    sched = {"n3": "busy", "n4": {"state": "idle", "idle_since": NOW - 50}}
    nodes, names, tag_idle, untag = _fleet.observe(instances, sched, NOW, cold_boot_time=600)
    assert [(node.node_id, node.state) for node in nodes] == [
        ("i-1", _autogrow.STOPPED), ("i-2", _autogrow.STARTING), ("i-3", _autogrow.BUSY),
        ("i-4", _autogrow.IDLE), ("i-5", _autogrow.STARTING), ("i-6", _autogrow.IDLE)]
    assert names == {f"i-{n}": f"n{n}" for n in range(1, 7)}
    assert nodes[3].since == NOW - 50
    assert tag_idle == {"i-6": f"{NOW:.0f}"}
    assert untag == []


def test_observe_idle_time_from_the_tag_and_untag_when_busy_again():
    tagged = {"hpc:idle-since": f"{NOW - 300:.0f}"}
    instances = [
        {**instance("i-1", "running", "n1"), "Tags": [{"Key": _tags.NODE_NAME_TAG, "Value": "n1"},
                                                      {"Key": _tags.IDLE_TAG, "Value": tagged["hpc:idle-since"]}]},
        {**instance("i-2", "running", "n2"), "Tags": [{"Key": _tags.NODE_NAME_TAG, "Value": "n2"},
                                                      {"Key": _tags.IDLE_TAG, "Value": "1"}]},
    ]
    launched = datetime.datetime.fromtimestamp(NOW - 3600, tz=datetime.UTC).replace(tzinfo=None)
    instances[0]["LaunchTime"] = launched  # naive datetimes are UTC
    nodes, _names, tag_idle, untag = _fleet.observe(instances, {"n1": "idle", "n2": "busy"}, NOW, 600)
    assert nodes[0].since == NOW - 300
    assert nodes[0].billed_since == NOW - 3600
    assert tag_idle == {}
    assert untag == ["i-2"]


def test_observe_names_nodes_by_private_dns_without_the_tag():
    entry = {"InstanceId": "i-1", "State": {"Name": "stopped"}, "PrivateDnsName": "ip-10-0-0-1.ec2.internal"}
    assert _fleet.observe([entry], {}, NOW, 600)[1] == {"i-1": "ip-10-0-0-1"}


# ------------------------------------------------------------------ one step against moto (in-process)


def launch(ec2, names, stopped=True):
    ids = []
    for name in names:
        tags = [{"Key": _tags.CLUSTER_TAG, "Value": CLUSTER}, {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE},
                {"Key": _tags.NODE_NAME_TAG, "Value": name}]
        ids.append(ec2.run_instances(
            MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": _tags.compute_group_name(CLUSTER)},
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]["InstanceId"])
    if stopped:
        ec2.stop_instances(InstanceIds=ids)
    return ids


def states(ec2):
    return {tag_value(i, _tags.NODE_NAME_TAG): i["State"]["Name"] for i in _fleet.compute_instances(ec2, CLUSTER)}


def tag_value(item, key):
    return {tag["Key"]: tag["Value"] for tag in item.get("Tags") or []}.get(key)


def test_step_starts_stopped_nodes_and_launches_the_rest(fleet_moto):
    ec2, asg = fleet_moto
    launch(ec2, ["n1"])
    config = _autogrow.Config(max_nodes=3)
    done = _fleet.step(ec2, asg, CLUSTER, config, jobs=[{"nodes": 3}], running=[], scheduler_nodes={})
    assert done.decision.start and done.decision.launch == 2
    assert done.started_nodes == ["n1"]
    assert len(done.launched) == 2
    found = _fleet.compute_instances(ec2, CLUSTER)
    assert len(found) == 3
    assert {i["State"]["Name"] for i in found} <= {"pending", "running"}
    result = done.result(diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"in_service": 0, "stopped": 1}, "after": {"in_service": 3, "stopped": 0}}
    assert result["policy"]["cold_boot_time"] == _autogrow.DEFAULTS["cold_boot_time"]


def test_step_records_idle_time_then_stops_idle_nodes(fleet_moto):
    ec2, asg = fleet_moto
    ids = launch(ec2, ["n1", "n2"], stopped=False)
    now = float(int(time.time())) + 1  # after the launch
    sched = {"n1": "idle", "n2": "busy"}
    config = _autogrow.Config(max_nodes=2, idle_timeout=60, billing_minimum=0)
    first = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], scheduler_nodes=sched, now=now)
    assert first.decision.stop == []
    tagged = {i["InstanceId"]: tag_value(i, _tags.IDLE_TAG) for i in _fleet.compute_instances(ec2, CLUSTER)}
    assert tagged == {ids[0]: f"{now:.0f}", ids[1]: None}
    # 61 s later the idle time comes from the tag: stop n1, never the busy n2
    later = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], scheduler_nodes=sched, now=now + 61)
    assert later.stopped_nodes == ["n1"]
    assert states(ec2) == {"n1": "stopped", "n2": "running"}
    assert tag_value(_fleet.compute_instances(ec2, CLUSTER)[0], _tags.IDLE_TAG) is None


def test_step_without_apply_changes_nothing(fleet_moto):
    ec2, asg = fleet_moto
    launch(ec2, ["n1", "n2"])
    done = _fleet.step(ec2, asg, CLUSTER, _autogrow.Config(max_nodes=2), jobs=[{"nodes": 2}], apply=False)
    assert done.started_nodes == ["n1", "n2"]
    assert done.launched == []
    assert states(ec2) == {"n1": "stopped", "n2": "stopped"}


def test_warm_pool_mode_sets_the_desired_capacity_and_scales_in(fleet_moto):
    ec2, asg = fleet_moto
    name = _tags.compute_group_name(CLUSTER)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateName": name, "Version": "$Default"},
                                  VPCZoneIdentifier=subnet,
                                  Tags=[{"Key": _tags.CLUSTER_TAG, "Value": CLUSTER, "PropagateAtLaunch": True},
                                        {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE,
                                         "PropagateAtLaunch": True}])
    config = _autogrow.Config(max_nodes=4, idle_timeout=0, billing_minimum=0)
    now = time.time()
    grow = _fleet.step(ec2, asg, CLUSTER, config, jobs=[{"nodes": 3}], pool_mode="warm_pool", now=now)
    assert grow.decision.launch == 2  # one in service and starting, two more wanted
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 3
    running = [i["InstanceId"] for i in _fleet.compute_instances(ec2, CLUSTER)]
    shrink = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], pool_mode="warm_pool",
                         scheduler_nodes={}, now=now + 10_000)
    assert sorted(shrink.decision.stop) == sorted(running)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 0


def test_a_step_throttled_part_way_reports_what_it_did_and_the_next_goes_on(fleet_moto, monkeypatch):
    """A start call throttled past botocore's retries, after the first batch started: the step reports the one
    started (failed, with the error), the next step starts only the rest and launches nothing."""
    from botocore.exceptions import ClientError

    ec2, asg = fleet_moto
    launch(ec2, ["n1", "n2"])
    monkeypatch.setattr(_fleet, "BATCH", 1)  # one instance per StartInstances call
    calls = []
    real_start = ec2.start_instances

    def throttled_second(**kwargs):
        calls.append(kwargs["InstanceIds"])
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."},
                               "ResponseMetadata": {"RequestId": "req-9"}}, "StartInstances")
        return real_start(**kwargs)

    monkeypatch.setattr(ec2, "start_instances", throttled_second)
    config = _autogrow.Config(max_nodes=2)
    first = _fleet.step(ec2, asg, CLUSTER, config, jobs=[{"nodes": 2}], running=[], scheduler_nodes={})
    result = first.result()
    assert result["failed"] is True and result["changed"] is True
    assert "RequestLimitExceeded" in result["msg"] and "started 1, stopped 0" in result["msg"]
    names = {i["InstanceId"]: tag_value(i, _tags.NODE_NAME_TAG) for i in _fleet.compute_instances(ec2, CLUSTER)}
    done, refused = names[calls[0][0]], names[calls[1][0]]  # the pool picks the order: the first call went through
    assert first.started_nodes == [done] and first.launched == [] and result["decision"]["launch"] == 0
    assert states(ec2) == {done: "running", refused: "stopped"}

    monkeypatch.setattr(ec2, "start_instances", real_start)
    second = _fleet.step(ec2, asg, CLUSTER, config, jobs=[{"nodes": 2}], running=[], scheduler_nodes={})
    assert second.failed is None
    assert second.started_nodes == [refused] and second.launched == []  # none started twice, nothing launched
    assert states(ec2) == {"n1": "running", "n2": "running"}


def test_a_failed_launch_still_reports_the_nodes_started_before_it(fleet_moto, monkeypatch):
    """RunInstances refused (no capacity) after the warm nodes started: the step says which started (the role
    resumes them in Slurm), launched none, and failed with EC2's code."""
    from botocore.exceptions import ClientError

    ec2, asg = fleet_moto
    launch(ec2, ["n1"])

    def no_capacity(**kwargs):
        raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity", "Message": "no capacity"}}, "RunInstances")

    monkeypatch.setattr(ec2, "run_instances", no_capacity)
    done = _fleet.step(ec2, asg, CLUSTER, _autogrow.Config(max_nodes=3), jobs=[{"nodes": 3}], running=[],
                       scheduler_nodes={})
    result = done.result()
    assert result["failed"] is True and "InsufficientInstanceCapacity" in result["msg"]
    assert done.started_nodes == ["n1"] and result["launched"] == []
    assert states(ec2) == {"n1": "running"}


def test_a_step_without_rights_on_the_lock_acts_unserialized_and_says_so(fleet_moto):
    """An instance role without SSM rights (a service installed before the lock): the step still starts nodes."""
    from botocore.exceptions import ClientError

    class DeniedSSM:
        def get_parameter(self, **kwargs):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetParameter")

    ec2, asg = fleet_moto
    launch(ec2, ["n1"])
    done = _fleet.step(ec2, asg, CLUSTER, _autogrow.Config(max_nodes=1), jobs=[{"nodes": 1}], running=[],
                       scheduler_nodes={}, ssm=DeniedSSM())
    assert done.started_nodes == ["n1"] and done.failed is None
    assert any(reason.startswith("UNSERIALIZED: the autogrow lock /hpc/unit/locks/autogrow cannot be used")
               for reason in done.decision.reasons)


def test_an_aws_failure_raises_awscallerror_with_the_request_id():
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instances", service_error_code="UnauthorizedOperation",
                              service_message="not allowed", http_status_code=403,
                              response_meta={"RequestId": "req-1"})
        with pytest.raises(AWSCallError) as raised:
            _fleet.step(ec2, None, CLUSTER, _autogrow.Config(max_nodes=1), jobs=[])
    assert raised.value.code == "UnauthorizedOperation"
    assert str(raised.value) == ("Failed to describe the compute instances of cluster unit: "
                                 "UnauthorizedOperation: not allowed (request id req-1)")


# ------------------------------------------------------------------ one name and one default per setting
def _module_source():
    return (ROOT / "plugins" / "modules" / "hpc_autogrow.py").read_text(encoding="utf-8")


def _documented_options():
    return yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', _module_source(), re.DOTALL).group(1))["options"]


POLICY = [name for name in _autogrow.DEFAULTS if name != "use_warm_pool"]


@pytest.mark.parametrize("name", POLICY)
def test_each_setting_has_one_name_and_default_in_the_module(name):
    option = _documented_options()[name]
    if name == "max_nodes":
        assert option.get("required") is True
    else:
        assert option.get("default") == _autogrow.DEFAULTS[name], name
    assert option["type"] == ("bool" if isinstance(_autogrow.DEFAULTS[name], bool) else "int")


@pytest.mark.parametrize(("role", "prefix", "skip"), [
    ("autogrow_service", "autogrow_service_", {"hour_window", "max_nodes"}),
    ("fleet", "fleet_autogrow_", {"hour_window", "max_nodes"}),
])
def test_role_variables_have_the_module_names_and_defaults(role, prefix, skip):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8"))
    for name in POLICY:
        if name in skip:
            continue
        if name == "interval":  # the roles poll every 30 s; the module's interval is the caller's schedule
            assert defaults[prefix + name] == 30
            continue
        assert defaults[prefix + name] == _autogrow.DEFAULTS[name], prefix + name


def test_config_errors_name_the_option():
    with pytest.raises(_autogrow.PolicyError, match=r"^idle_timeout must be 0 or more"):
        _autogrow.Config(idle_timeout=-1)
    with pytest.raises(_autogrow.PolicyError, match=r"^interval must be a number of seconds"):
        _autogrow.Config(interval="soon")
    with pytest.raises(_autogrow.PolicyError, match="unknown setting idle_timeout_s"):
        _autogrow.Config(idle_timeout_s=5)
    assert _autogrow.Config(warm_boot_time="60").warm_boot_time == 60
