"""Unit tests of the warm pool's size in the autogrow actuator (_fleet.py): stop times, the trim, its option.

A stopped instance's age is EC2's ``StateTransitionReason``; moto stamps it with the time of the stop, which the
tests set (moto's clock, patched while stopping) to make instances old or young. The trim runs against moto
in-process: check mode, the real run, the same run again, and an Auto Scaling group's desired capacity.
"""

from __future__ import annotations

import datetime
import math
import time

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from conftest import ROOT

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _fleet, _tags

REGION = "us-east-1"
CLUSTER = "unit"
KEEP = _autogrow.pool_keep_time(600, 60, _fleet.POOL_EBS_RATIO)  # the defaults: about 5.8 hours


# ------------------------------------------------------------------ stop times (pure)
@pytest.mark.parametrize(("reason", "expected"), [
    ("User initiated (2016-05-24 21:58:39 GMT)", datetime.datetime(2016, 5, 24, 21, 58, 39)),
    ("User initiated (2026-01-02 03:04:05 UTC)", datetime.datetime(2026, 1, 2, 3, 4, 5)),  # moto's spelling
    ("", None),
    ("Server.ScheduledStop", None),
    (None, None),
])
def test_stopped_since_reads_the_state_transition_reason(reason, expected):
    found = _fleet.stopped_since({"StateTransitionReason": reason})
    if expected is None:
        assert found is None
    else:
        assert found == expected.replace(tzinfo=datetime.UTC).timestamp()


def test_observe_gives_stopped_nodes_their_stop_time_and_stopping_ones_none():
    stopped = {"InstanceId": "i-1", "State": {"Name": "stopped"},
               "StateTransitionReason": "User initiated (2016-05-24 21:58:39 GMT)"}
    unknown = {"InstanceId": "i-2", "State": {"Name": "stopped"}, "StateTransitionReason": ""}
    stopping = {"InstanceId": "i-3", "State": {"Name": "stopping"},
                "StateTransitionReason": "User initiated (2016-05-24 21:58:39 GMT)"}
    nodes = _fleet.observe([stopped, unknown, stopping], {}, 2e9, 600)[0]
    assert [(node.state, node.warm, node.since) for node in nodes] == [
        (_autogrow.STOPPED, True, 1464127119.0), (_autogrow.STOPPED, True, None), (_autogrow.STOPPED, False, None)]


# ------------------------------------------------------------------ the option
@pytest.mark.parametrize("value", [-0.01, "cheap", True, None, float("nan"), float("inf")])
def test_a_wrong_pool_ebs_ratio_is_refused_by_name(value):
    with pytest.raises(_autogrow.PolicyError, match=r"^pool_ebs_ratio must be"):
        _fleet.ebs_ratio(value)


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), ("0.05", 0.05), (_fleet.POOL_EBS_RATIO, 0.0516)])
def test_pool_ebs_ratio_accepts_numbers(value, expected):
    assert _fleet.ebs_ratio(value) == expected


def test_the_default_is_the_simulators_and_the_same_everywhere():
    assert round(40 * 0.08 / 730 / 0.085, 4) == _fleet.POOL_EBS_RATIO
    assert 5.5 * 3600 < KEEP < 6 * 3600
    roles = (("fleet", "fleet_autogrow_pool_ebs_ratio"), ("autogrow_service", "autogrow_service_pool_ebs_ratio"))
    for role, name in roles:
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8"))
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
        entry = "autogrow" if role == "fleet" else "main"
        assert defaults[name] == _fleet.POOL_EBS_RATIO, name
        assert specs["argument_specs"][entry]["options"][name]["default"] == _fleet.POOL_EBS_RATIO, name
        assert specs["argument_specs"][entry]["options"][name]["type"] == "float", name


# ------------------------------------------------------------------ routing by group membership (pure)
def test_split_trim_by_group_membership():
    group = _tags.compute_group_name(CLUSTER)
    trim = _fleet.Trim(0.05, 100.0, ["i-free", "i-detached", "i-in", "i-warm", "i-other", "i-standby"], None)
    members = {"i-in": (group, "InService"), "i-warm": (group, "Warmed:Stopped"), "i-other": ("elsewhere", "InService"),
               "i-standby": (group, "Standby")}
    tagged = {"i-detached", "i-in", "i-warm", "i-other", "i-standby"}
    _fleet.split_trim(trim, group, tagged, members)
    assert trim.in_group == ["i-in"]
    assert trim.outside == ["i-free", "i-detached"]
    assert trim.terminated == ["i-detached", "i-free", "i-in"]
    assert "warm pool of hpc-unit-computenode" in trim.kept["i-warm"]
    assert trim.kept["i-other"] == "in the Auto Scaling group elsewhere, not hpc-unit-computenode"
    assert trim.kept["i-standby"] == "in hpc-unit-computenode in lifecycle state Standby"
    # without an Auto Scaling client, what a group launched is kept; the rest still goes
    _fleet.split_trim(trim, group, tagged, None)
    assert trim.outside == ["i-free"]
    assert trim.in_group == []
    assert set(trim.kept) == tagged


def test_a_group_at_its_minimum_size_keeps_the_instance_with_the_cause():
    asg = boto3.client("autoscaling", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    trim = _fleet.Trim(0.05, 100.0, ["i-1"], None)
    trim.in_group, trim.outside = ["i-1"], []
    with Stubber(asg) as stub:
        stub.add_client_error("terminate_instance_in_auto_scaling_group", service_error_code="ValidationError",
                              service_message="Terminating instance without replacement will violate group's min size",
                              response_meta={"RequestId": "req-2"})
        _fleet.terminate(None, asg, trim)
    assert trim.terminated == []
    assert trim.kept["i-1"].startswith("Failed to terminate i-1 in its Auto Scaling group: ValidationError")


# ------------------------------------------------------------------ against moto (in-process)


NOW = float(int(time.time()))


def launch(ec2, names):
    tags = [{"Key": _tags.CLUSTER_TAG, "Value": CLUSTER}, {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE}]
    ids = {}
    for name in names:
        ids[name] = ec2.run_instances(
            MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": _tags.compute_group_name(CLUSTER)},
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [*tags, {"Key": _tags.NODE_NAME_TAG, "Value": name}]}],
        )["Instances"][0]["InstanceId"]
    return ids


def stop_at(monkeypatch, ec2, ids, when):
    """Stop ``ids`` with moto's clock at ``when`` (epoch seconds): their StateTransitionReason carries it."""
    stamp = datetime.datetime.fromtimestamp(when, tz=datetime.UTC)
    with monkeypatch.context() as patch:
        patch.setattr("moto.ec2.models.instances.utcnow", lambda: stamp)
        ec2.stop_instances(InstanceIds=list(ids))


def hide_stop_time(ec2, instance_id):
    """DescribeInstances answers without a stop time for ``instance_id`` (EC2 may give an empty reason)."""
    def blank(parsed, **_kwargs):
        for reservation in parsed.get("Reservations", []):
            for item in reservation.get("Instances", []):
                if item["InstanceId"] == instance_id:
                    item["StateTransitionReason"] = ""
    ec2.meta.events.register("after-call.ec2.DescribeInstances", blank)


def states(ec2):
    found = ec2.describe_instances(Filters=_tags.cluster_filters(CLUSTER, _tags.COMPUTE_ROLE))["Reservations"]
    names = {}
    for reservation in found:
        for item in reservation["Instances"]:
            tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags") or []}
            names[tags[_tags.NODE_NAME_TAG]] = item["State"]["Name"]
    return names


def test_old_stopped_instances_go_young_and_unknown_stay_check_mode_first_then_rerun(fleet_moto, monkeypatch):
    ec2, asg = fleet_moto
    ids = launch(ec2, ["old1", "old2", "young", "unknown"])
    stop_at(monkeypatch, ec2, [ids["old1"]], NOW - KEEP - 600)
    stop_at(monkeypatch, ec2, [ids["old2"]], NOW - KEEP - 1)
    stop_at(monkeypatch, ec2, [ids["young"], ids["unknown"]], NOW - 60)
    hide_stop_time(ec2, ids["unknown"])
    config = _autogrow.Config(max_nodes=4)

    def run(apply):
        return _fleet.step(ec2, asg, CLUSTER, config, jobs=[], running=[], now=NOW, apply=apply)

    check = run(apply=False)
    assert check.terminated == sorted([ids["old1"], ids["old2"]])
    assert check.result()["changed"] is True
    assert set(states(ec2).values()) == {"stopped"}  # check mode terminates nothing
    done = run(apply=True)
    assert done.terminated == check.terminated
    assert states(ec2) == {"old1": "terminated", "old2": "terminated", "young": "stopped", "unknown": "stopped"}
    result = done.result()
    assert result["terminated"] == check.terminated
    assert result["recheck_at"] == pytest.approx(NOW - 60 + KEEP)  # when "young" falls due
    assert result["policy"]["pool_ebs_ratio"] == _fleet.POOL_EBS_RATIO
    assert result["policy"]["pool_keep_time"] == pytest.approx(KEEP)
    assert any(reason.startswith("pool: terminate 2 stopped") for reason in result["decision"]["reasons"])
    again = run(apply=True).result()
    assert again["changed"] is False
    assert again["terminated"] == []


def test_the_instances_a_step_starts_are_never_terminated(fleet_moto, monkeypatch):
    ec2, asg = fleet_moto
    ids = launch(ec2, ["a", "b", "c"])
    for offset, name in enumerate(["a", "b", "c"]):  # all due; "c" stopped last
        stop_at(monkeypatch, ec2, [ids[name]], NOW - KEEP - 1000 + offset)
    done = _fleet.step(ec2, asg, CLUSTER, _autogrow.Config(max_nodes=4), jobs=[{"nodes": 2}], running=[], now=NOW)
    assert done.started_nodes == ["b", "c"]  # the most recently stopped
    assert done.terminated == [ids["a"]]
    assert states(ec2)["a"] == "terminated"
    assert {states(ec2)["b"], states(ec2)["c"]} <= {"pending", "running"}


def test_zero_ratio_keeps_every_stopped_instance(fleet_moto, monkeypatch):
    ec2, asg = fleet_moto
    ids = launch(ec2, ["old"])
    stop_at(monkeypatch, ec2, ids.values(), NOW - 10 * KEEP)
    done = _fleet.step(ec2, asg, CLUSTER, _autogrow.Config(max_nodes=1), jobs=[], now=NOW, pool_ebs_ratio=0)
    assert done.terminated == []
    assert done.result()["policy"]["pool_keep_time"] is None
    assert done.recheck_at is None
    assert states(ec2) == {"old": "stopped"}


def test_a_protected_instance_is_kept_with_ec2s_reason_and_the_others_still_go(fleet_moto, monkeypatch):
    """EC2 refuses a whole TerminateInstances call for one instance with termination protection
    (OperationNotPermitted): the others are terminated one by one and the protected one is kept, so later steps
    do not fail on it for ever."""
    ec2, asg = fleet_moto
    ids = launch(ec2, ["a", "b", "c"])
    ec2.modify_instance_attribute(InstanceId=ids["b"], DisableApiTermination={"Value": True})
    stop_at(monkeypatch, ec2, list(ids.values()), NOW - KEEP - 1)
    config = _autogrow.Config(max_nodes=4)
    done = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], now=NOW)
    assert done.terminated == sorted([ids["a"], ids["c"]])
    assert "OperationNotPermitted" in done.trim.kept[ids["b"]]
    assert done.result(diff=True)["diff"] == {"before": {"in_service": 0, "stopped": 3},
                                              "after": {"in_service": 0, "stopped": 1}}
    assert states(ec2) == {"a": "terminated", "b": "stopped", "c": "terminated"}
    again = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], now=NOW)
    assert again.terminated == []
    assert ids["b"] in again.trim.kept


def test_no_trim_when_a_warm_start_saves_nothing(fleet_moto, monkeypatch):
    """cold_boot_time <= warm_boot_time gives a keep time of 0: the pool is kept rather than emptied."""
    ec2, asg = fleet_moto
    ids = launch(ec2, ["a"])
    stop_at(monkeypatch, ec2, [ids["a"]], NOW - 10 * KEEP)
    config = _autogrow.Config(max_nodes=4, cold_boot_time=60, warm_boot_time=60)
    assert _fleet.step(ec2, asg, CLUSTER, config, jobs=[], now=NOW).terminated == []
    assert states(ec2) == {"a": "stopped"}


def test_a_stopped_group_member_goes_through_the_group_and_the_desired_capacity_follows(fleet_moto, monkeypatch):
    ec2, asg = fleet_moto
    name = _tags.compute_group_name(CLUSTER)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=2,
                                  LaunchTemplate={"LaunchTemplateName": name, "Version": "$Default"},
                                  VPCZoneIdentifier=subnet,
                                  Tags=[{"Key": _tags.CLUSTER_TAG, "Value": CLUSTER, "PropagateAtLaunch": True},
                                        {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE,
                                         "PropagateAtLaunch": True}])
    members = sorted(item["InstanceId"] for item in asg.describe_auto_scaling_instances()["AutoScalingInstances"])
    stop_at(monkeypatch, ec2, [members[0]], NOW - KEEP - 1)
    config = _autogrow.Config(max_nodes=4)
    check = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], now=NOW, apply=False)
    assert check.trim.in_group == [members[0]]
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 2
    done = _fleet.step(ec2, asg, CLUSTER, config, jobs=[], now=NOW)
    assert done.terminated == [members[0]]
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1
    assert [item["InstanceId"] for item in group["Instances"]] == [members[1]]
    assert _fleet.step(ec2, asg, CLUSTER, config, jobs=[], now=NOW).terminated == []


def test_trim_batches_ec2_terminations_by_1000():
    calls = []
    trim = _fleet.Trim(0.05, 100.0, [f"i-{n:04d}" for n in range(2001)], None)

    class Recorder:
        def terminate_instances(self, InstanceIds):
            calls.append(len(InstanceIds))

    _fleet.terminate(Recorder(), None, trim)
    assert calls == [1000, 1000, 1]
    assert math.isinf(_autogrow.pool_keep_time(600, 60, 0))
