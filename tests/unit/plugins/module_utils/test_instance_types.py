"""Unit tests of the instance type offerings summary behind hpcops.aws_hpc.instance_type_info."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _instance_types as it


def offer(name, location="us-east-1"):
    return {"InstanceType": name, "Location": location}


def test_requests_ask_each_type_once_in_chunks():
    types = ["m5.xlarge", "m5.xlarge", "", " c5.large "] + [f"t3.n{n}" for n in range(150)]
    requests = it.offering_requests(types)
    assert [len(r["Filters"][0]["Values"]) for r in requests] == [100, 52]
    assert requests[0]["LocationType"] == "region"
    assert requests[0]["Filters"][0] == {"Name": "instance-type", "Values": ["m5.xlarge", "c5.large"] + [
        f"t3.n{n}" for n in range(98)]}
    assert it.offering_requests([], it.LOCATION_ZONE) == []


def test_summary_keeps_the_order_given_and_lists_what_is_not_offered():
    result = it.summarize(["m5.gigantic", "m5.xlarge", "c5.large"], [offer("c5.large"), offer("m5.xlarge")])
    assert result == {"offered": ["m5.xlarge", "c5.large"], "not_offered": ["m5.gigantic"], "all_offered": False,
                      "zones": {}}


def test_summary_with_zones_lists_each_offered_type_sorted():
    zones = [offer("m5.xlarge", "us-east-1b"), offer("m5.xlarge", "us-east-1a"), offer("m5.xlarge", "us-east-1a"),
             offer("c5.large", "us-east-1c")]
    result = it.summarize(["m5.xlarge", "c5.large"], [offer("m5.xlarge"), offer("c5.large")], zones)
    assert result["all_offered"] is True
    assert result["zones"] == {"m5.xlarge": ["us-east-1a", "us-east-1b"], "c5.large": ["us-east-1c"]}


def test_nothing_asked_is_not_all_offered():
    assert it.summarize([], [])["all_offered"] is False


def test_message_names_the_types_and_the_region():
    assert it.not_offered_message([], "us-east-1") == ""
    one = it.not_offered_message(["m5.gigantic"], "eu-west-1")
    assert one.startswith("instance type m5.gigantic is not offered in eu-west-1")
    assert it.not_offered_message(["a.b", "c.d"], "us-east-1").startswith("instance types a.b, c.d are not offered")
