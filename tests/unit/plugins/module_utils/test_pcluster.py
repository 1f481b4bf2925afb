"""Unit tests of the ParallelCluster logic: rendering (golden files), spec checks, update decisions.

Golden files: tests/unit/fixtures/pcluster/<case>.spec.yml renders to <case>.config.yml. After an
intended change of the rendering, regenerate them with `UPDATE_GOLDEN=1 pytest tests/unit -k golden`
and review the diff.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _pcluster_policy as pcp
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_instances import instance_type_problem
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_spec import SpecError, render, validate_spec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pcluster"
CASES = sorted(p.name.removesuffix(".spec.yml") for p in FIXTURES.glob("*.spec.yml"))


class IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint (the repository's style) wants."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def load_spec(case="minimal"):
    return yaml.safe_load((FIXTURES / f"{case}.spec.yml").read_text())


# ---------------------------------------------------------------- rendering
@pytest.mark.parametrize("case", CASES)
def test_render_golden(case):
    rendered = render(load_spec(case))
    golden = FIXTURES / f"{case}.config.yml"
    text = yaml.dump(rendered, Dumper=IndentedDumper, sort_keys=False, default_flow_style=False)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text("---\n" + text)
    assert yaml.safe_load(golden.read_text()) == rendered


def test_render_minimal_matches_seed_003_shape():
    config = render(load_spec("minimal"))
    queue = config["Scheduling"]["SlurmQueues"][0]
    assert queue["Name"] == "queue1"
    assert queue["ComputeResources"][0] == {
        "Name": "t3micro",
        "Instances": [{"InstanceType": "t3.micro"}],
        "MinCount": 0,
        "MaxCount": 10,
    }
    assert queue["Networking"] == {"SubnetIds": ["subnet-12121212"]}
    assert config["HeadNode"]["Networking"]["SubnetId"] == "subnet-12121212"
    assert config["HeadNode"]["Imds"] == {"Secured": True}
    assert "Ssh" not in config["HeadNode"]  # no key pair: SSM access
    assert {"Key": "hpc:cluster", "Value": "hello"} in config["Tags"]


def test_render_queue_scripts_override_and_inherit():
    config = render(load_spec("full"))
    compute, spot = config["Scheduling"]["SlurmQueues"]
    assert compute["CustomActions"]["OnNodeConfigured"]["Sequence"][0]["Args"] == ["/shared"]
    assert "CustomActions" not in spot  # explicit empty list: no scripts on that queue
    assert spot["Networking"]["SubnetIds"] == ["subnet-0dddddddddddddddd"]
    assert spot["ComputeResources"][0]["Instances"] == [
        {"InstanceType": "c6i.4xlarge"},
        {"InstanceType": "c6a.4xlarge"},
    ]


def test_render_refuses_invalid_spec():
    spec = load_spec()
    spec["scaledown_idletime"] = 0
    with pytest.raises(SpecError) as err:
        render(spec)
    assert any("spec.scaledown_idletime" in e for e in err.value.errors)


# ---------------------------------------------------------------- validation
def errors_for(mutate, subnets_pending=False):
    spec = load_spec()
    mutate(spec)
    return validate_spec(spec, subnets_pending=subnets_pending)


def test_valid_specs_have_no_errors():
    for case in CASES:
        assert validate_spec(load_spec(case)) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # the four bad variables of the issue
        (
            lambda s: s["queues"][0]["compute_resources"][0].update(instance_type="c5.huge"),
            "spec.queues[0].compute_resources[0].instance_type 'c5.huge' "
            "has an unknown instance size 'huge'",
        ),
        (
            lambda s: s["queues"][0]["compute_resources"][0].update(instance_type="zz9.large"),
            "spec.queues[0].compute_resources[0].instance_type 'zz9.large' "
            "has an unknown instance family 'zz9'",
        ),
        (
            lambda s: s["queues"][0]["compute_resources"][0].update(min_count=5, max_count=2),
            "spec.queues[0].compute_resources[0].max_count (2) is less than its min_count (5)",
        ),
        (lambda s: s["queues"][0].update(subnet_ids=[]), "spec.queues[0] (queue1).subnet_ids is empty"),
        (
            lambda s: s.update(subnet_ids=[]),
            "spec.queues[0] (queue1) has no subnets: "
            "set spec.queues[0].subnet_ids or spec.subnet_ids",
        ),
        (
            lambda s: s.update(scaledown_idletime=0),
            "spec.scaledown_idletime must be a whole number of minutes of at least 1; got 0",
        ),
        # more
        (lambda s: s["head_node"].update(instance_type="t3"), "spec.head_node.instance_type 't3'"),
        (lambda s: s.update(os="windows"), "spec.os must be one of"),
        (lambda s: s.update(custom_ami="image-1"), "spec.custom_ami must be an AMI id"),
        (lambda s: s.update(cluster_name="1bad"), "spec.cluster_name must be"),
        (lambda s: s.update(queues=[]), "spec.queues must list at least one Slurm queue"),
        (
            lambda s: s["queues"].append(copy.deepcopy(s["queues"][0])),
            "spec.queues[1].name 'queue1' is used by another queue",
        ),
        (lambda s: s["queues"][0].update(name="Queue_1"), "spec.queues[0].name must be"),
        (
            lambda s: s["queues"][0]["compute_resources"][0].update(max_count=0),
            ".max_count must be a whole number of at least 1",
        ),
        (lambda s: s["queues"][0].update(capacity_type="CHEAP"), ".capacity_type must be one of"),
        (lambda s: s.update(queue_update_strategy="NOW"), "spec.queue_update_strategy must be"),
        (
            lambda s: s.update(shared_storage=[{"name": "x", "type": "Nfs", "mount_dir": "/x"}]),
            "spec.shared_storage[0].type must be one of Ebs, Efs, FsxLustre",
        ),
        (
            lambda s: s.update(shared_storage=[{"name": "x", "type": "Efs", "mount_dir": "x"}]),
            "spec.shared_storage[0].mount_dir must be an absolute path",
        ),
        (
            lambda s: s.update(compute_on_node_configured=[{"script": "/tmp/x.sh"}]),
            "spec.compute_on_node_configured[0].script must be an s3:// or https:// URL",
        ),
        (lambda s: s.update(subnet_ids=["sub-1"]), "spec.subnet_ids: 'sub-1' is not a subnet id"),
    ],
)
def test_validation_messages_name_the_variable(mutate, expected):
    errors = errors_for(mutate)
    assert any(expected in e for e in errors), errors


def test_every_problem_reported_at_once():
    def mutate(spec):
        spec["scaledown_idletime"] = 0
        spec["queues"][0]["compute_resources"][0].update(instance_type="c5.huge", min_count=3, max_count=1)
        spec["queues"][0]["subnet_ids"] = []

    assert len(errors_for(mutate)) == 4


def test_subnets_pending_defers_only_inherited_subnets():
    assert errors_for(lambda s: s.update(subnet_ids=[]), subnets_pending=True) == []
    errors = errors_for(lambda s: (s.update(subnet_ids=[]), s["queues"][0].update(subnet_ids=[])), subnets_pending=True)
    assert any("subnet_ids is empty" in e for e in errors)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("c5.large", True),
        ("c5n.18xlarge", True),
        ("m7i-flex.large", True),
        ("t3.nano", True),
        ("c7g.metal", True),
        ("u-6tb1.metal", True),
        ("c5.", False),
        ("c5large", False),
        (None, False),
        ("c5.100xlarge", False),
        ("banana.large", False),
    ],
)
def test_instance_type_check(value, ok):
    assert (instance_type_problem(value) == "") is ok


# ---------------------------------------------------------------- update decision table
BASE = render(load_spec("full"))


def changed(path_setter):
    new = copy.deepcopy(BASE)
    path_setter(new)
    return new


def queue(config, name):
    return next(q for q in config["Scheduling"]["SlurmQueues"] if q["Name"] == name)


def resource(config, qname, rname):
    return next(r for r in queue(config, qname)["ComputeResources"] if r["Name"] == rname)


def no_strategy(config):
    config["Scheduling"]["SlurmSettings"].pop("QueueUpdateStrategy", None)


@pytest.mark.parametrize(
    ("name", "mutate", "decision"),
    [
        ("identical", lambda c: None, pcp.NO_CHANGE),
        ("list order of tags is not a change", lambda c: c["Tags"].reverse(), pcp.NO_CHANGE),
        # live updates
        ("grow max_count", lambda c: resource(c, "compute", "c5n18").update(MaxCount=32), pcp.LIVE_UPDATE),
        ("cluster tags", lambda c: c["Tags"].append({"Key": "project", "Value": "x"}), pcp.LIVE_UPDATE),
        ("allowed ssh ips", lambda c: c["HeadNode"]["Ssh"].update(AllowedIps="203.0.113.0/24"), pcp.LIVE_UPDATE),
        (
            "add a queue",
            lambda c: c["Scheduling"]["SlurmQueues"].append(
                {
                    "Name": "gpu",
                    "ComputeResources": [{"Name": "g5", "InstanceType": "g5.xlarge", "MinCount": 0, "MaxCount": 2}],
                    "Networking": {"SubnetIds": ["subnet-0bbbbbbbbbbbbbbbb"]},
                }
            ),
            pcp.LIVE_UPDATE,
        ),
        (
            "queue script with DRAIN strategy",
            lambda c: queue(c, "compute")["CustomActions"]["OnNodeConfigured"]["Sequence"][0].update(Args=["/other"]),
            pcp.LIVE_UPDATE,
        ),
        # fleet stop
        ("scaledown idletime", lambda c: c["Scheduling"]["SlurmSettings"].update(ScaledownIdletime=30), pcp.FLEET_STOP),
        (
            "instance type of a compute resource",
            lambda c: resource(c, "compute", "c5n18").update(Instances=[{"InstanceType": "c5n.9xlarge"}]),
            pcp.FLEET_STOP,
        ),
        ("shrink max_count", lambda c: resource(c, "compute", "c5n18").update(MaxCount=4), pcp.FLEET_STOP),
        ("remove a queue", lambda c: c["Scheduling"]["SlurmQueues"].pop(), pcp.FLEET_STOP),
        (
            "queue subnets without strategy",
            lambda c: (
                no_strategy(c),
                queue(c, "compute")["Networking"].update(SubnetIds=["subnet-0dddddddddddddddd"]),
            ),
            pcp.FLEET_STOP,
        ),
        (
            "queue script without strategy",
            lambda c: (
                no_strategy(c),
                queue(c, "compute")["CustomActions"]["OnNodeConfigured"]["Sequence"][0].update(Args=["/other"]),
            ),
            pcp.FLEET_STOP,
        ),
        # replacement
        ("head node instance type", lambda c: c["HeadNode"].update(InstanceType="c5.2xlarge"), pcp.REPLACEMENT),
        ("custom ami", lambda c: c["Image"].update(CustomAmi="ami-0aaaaaaaaaaaaaaaa"), pcp.REPLACEMENT),
        ("os", lambda c: c["Image"].update(Os="ubuntu2204"), pcp.REPLACEMENT),
        ("imds secured", lambda c: c["HeadNode"]["Imds"].update(Secured=False), pcp.REPLACEMENT),
        (
            "head node subnet",
            lambda c: c["HeadNode"]["Networking"].update(SubnetId="subnet-0dddddddddddddddd"),
            pcp.REPLACEMENT,
        ),
        ("key pair", lambda c: c["HeadNode"]["Ssh"].update(KeyName="other"), pcp.REPLACEMENT),
        ("ebs size", lambda c: c["SharedStorage"][0]["EbsSettings"].update(Size=200), pcp.REPLACEMENT),
        (
            "worst change wins",
            lambda c: (
                c["HeadNode"].update(InstanceType="c5.2xlarge"),
                resource(c, "compute", "c5n18").update(MaxCount=32),
            ),
            pcp.REPLACEMENT,
        ),
    ],
)
def test_decision_table(name, mutate, decision):
    new = changed(mutate)
    result = pcp.decide_update(BASE, new)
    assert result["decision"] == decision, (name, result["changes"])
    if decision == pcp.NO_CHANGE:
        assert result["changes"] == []
    else:
        assert all({"path", "old", "new", "policy", "decision", "reason"} <= set(c) for c in result["changes"])


def test_shrinking_with_terminate_strategy_is_live():
    old = copy.deepcopy(BASE)
    old["Scheduling"]["SlurmSettings"]["QueueUpdateStrategy"] = "TERMINATE"
    new = copy.deepcopy(old)
    resource(new, "compute", "c5n18")["MaxCount"] = 4
    assert pcp.decide_update(old, new)["decision"] == pcp.LIVE_UPDATE


def test_removed_queue_is_one_change_naming_it():
    new = changed(lambda c: c["Scheduling"]["SlurmQueues"].pop())
    changes = pcp.decide_update(BASE, new)["changes"]
    assert [c["path"] for c in changes] == ["Scheduling.SlurmQueues[spot]"]


def test_explain_names_paths_and_policies():
    new = changed(lambda c: c["Scheduling"]["SlurmSettings"].update(ScaledownIdletime=30))
    lines = pcp.explain(pcp.decide_update(BASE, new), pcp.FLEET_STOP)
    assert lines == [
        "Scheduling.SlurmSettings.ScaledownIdletime: 15 -> 30 (COMPUTE_FLEET_STOP: "
        "ParallelCluster changes this setting only while the compute fleet is stopped)"
    ]


@pytest.mark.parametrize(
    ("path", "policy"),
    [
        ("Region", pcp.UNSUPPORTED),
        ("Scheduling.SlurmQueues[a].ComputeResources[b].MaxCount", pcp.RESIZE_UPDATE_STRATEGY_ON_REMOVE),
        ("Scheduling.SlurmQueues[a].ComputeResources[b].Instances[0]", pcp.COMPUTE_FLEET_STOP),
        ("Scheduling.SlurmQueues[a].CustomActions.OnNodeConfigured.Sequence", pcp.QUEUE_UPDATE_STRATEGY),
        ("HeadNode.CustomActions.OnNodeConfigured.Sequence", pcp.UNSUPPORTED),
        ("HeadNode.CustomActions.OnNodeUpdated.Script", pcp.SUPPORTED),
        ("Tags[owner]", pcp.SUPPORTED),
        ("SomethingNew.Setting", pcp.COMPUTE_FLEET_STOP),
    ],
)
def test_policy_for(path, policy):
    assert pcp.policy_for(path) == policy
