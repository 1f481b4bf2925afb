"""hpcops.aws_hpc.budget run by ansible-playbook against the embedded lab endpoint.

moto 5.2.5 has CreateBudget, DescribeBudget, DeleteBudget, CreateNotification, DeleteNotification and
DescribeNotificationsForBudget only (no UpdateBudget, no subscriber calls, no Cost Explorer cost allocation
tags), so the tasks use ``update_mode: recreate`` and no ``cost_allocation_tags``; the calls of the default
``update_mode`` are checked against botocore's API model in tests/unit/plugins/module_utils/test_budget.py.
Every test works on budgets of its own (uuid) and removes them.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest
from conftest import lab_client

pytestmark = pytest.mark.lab

SUBSCRIBERS = [{"type": "EMAIL", "address": "hpc-admins@example.com"}]


# ---------------------------------------------------------------- helpers
def _json_results(output):
    """Per-task localhost results from the ansible.posix.json callback's output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


@pytest.fixture
def run(run_playbook, tmp_path):
    """Run one budget task on localhost (with any extra ansible-playbook arguments); returns its result."""

    def _run(args, *extra):
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        task = {"name": "budget", "hpcops.aws_hpc.budget": args, "ignore_errors": True}
        path.write_text(json.dumps([{"name": "budget", "hosts": "localhost", "gather_facts": False,
                                     "tasks": [task]}]))  # JSON is YAML
        proc = run_playbook(str(path), *extra, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        (result,) = _json_results(proc.stdout)
        return result

    return _run


@pytest.fixture(scope="module")
def budgets(lab_env):
    return lab_client(lab_env, "budgets")


@pytest.fixture(scope="module")
def account(lab_env):
    return lab_client(lab_env, "sts").get_caller_identity()["Account"]


@pytest.fixture
def name(budgets, account):
    """A budget name of the test's own; the budget is deleted afterwards."""
    name = f"hpcops-it-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(budgets.exceptions.NotFoundException):
        budgets.delete_budget(AccountId=account, BudgetName=name)


def described(budgets, account, name):
    try:
        return budgets.describe_budget(AccountId=account, BudgetName=name)["Budget"]
    except budgets.exceptions.NotFoundException:
        return None


def notifications(budgets, account, name):
    found = budgets.describe_notifications_for_budget(AccountId=account, BudgetName=name)["Notifications"]
    return sorted((n["NotificationType"], n["ComparisonOperator"], n["Threshold"]) for n in found)


def budget_args(name, **extra):
    args = {"name": name, "limit_amount": 100, "cluster": "it", "forecast_thresholds": [120],
            "subscribers": SUBSCRIBERS, "update_mode": "recreate"}
    args.update(extra)
    return args


# ---------------------------------------------------------------- tests
def test_create_rerun_change_and_remove(run, budgets, account, name):
    args = budget_args(name)

    # check mode: reports the creation, creates nothing
    result = run(args, "--check", "--diff")
    assert result["changed"] is True, result
    assert result["actions"] == ["create budget"]
    assert result["diff"]["before"] == {"exists": False}
    assert result["diff"]["after"]["budget"]["limit_amount"] == 100.0
    assert described(budgets, account, name) is None

    # create: the cluster's cost allocation tag filter and one notification per threshold
    result = run(args)
    assert result["changed"] is True, result
    assert result["account_id"] == account
    budget = described(budgets, account, name)
    assert budget["BudgetType"] == "COST"
    assert float(budget["BudgetLimit"]["Amount"]) == 100.0
    assert budget["BudgetLimit"]["Unit"] == "USD"
    assert budget["TimeUnit"] == "MONTHLY"
    assert budget["CostFilters"] == {"TagKeyValue": ["user:hpc:cluster$it"]}
    assert notifications(budgets, account, name) == [
        ("ACTUAL", "GREATER_THAN", 80.0), ("ACTUAL", "GREATER_THAN", 100.0), ("FORECASTED", "GREATER_THAN", 120.0)]
    assert [n["subscribers"] for n in result["notifications"]] == [
        [{"type": "EMAIL", "address": "hpc-admins@example.com"}]] * 3

    # rerun: nothing to do; the lab cannot show subscribers, and the module says so instead of pretending
    result = run(args, "--diff")
    assert result["changed"] is False, result
    assert result["actions"] == []
    assert any("were not read or compared" in w for w in result.get("warnings", [])), result
    assert all(n["subscribers"] is None for n in result["notifications"])

    # a new limit and another threshold set: check mode first, then the change
    changed = budget_args(name, limit_amount=250.5, thresholds=[90], forecast_thresholds=[])
    result = run(changed, "--check", "--diff")
    assert result["changed"] is True, result
    assert result["diff"]["before"]["budget"]["limit_amount"] == 100.0
    assert result["diff"]["after"]["budget"]["limit_amount"] == 250.5
    assert float(described(budgets, account, name)["BudgetLimit"]["Amount"]) == 100.0
    assert len(notifications(budgets, account, name)) == 3
    result = run(changed)
    assert result["changed"] is True, result
    assert result["actions"] == ["delete and create budget (limit_amount)"]
    assert float(described(budgets, account, name)["BudgetLimit"]["Amount"]) == 250.5
    assert notifications(budgets, account, name) == [("ACTUAL", "GREATER_THAN", 90.0)]
    assert run(changed)["changed"] is False

    # only the notifications change: the budget stays, notifications are created and deleted
    result = run(budget_args(name, limit_amount=250.5, thresholds=[50, 90], forecast_thresholds=[]))
    assert result["changed"] is True, result
    assert result["actions"] == ["create notification ACTUAL GREATER_THAN 50%"]
    assert notifications(budgets, account, name) == [("ACTUAL", "GREATER_THAN", 50.0),
                                                     ("ACTUAL", "GREATER_THAN", 90.0)]

    # removal: check mode keeps it, then it goes, then nothing to do
    result = run({"name": name, "state": "absent"}, "--check")
    assert result["changed"] is True
    assert described(budgets, account, name) is not None
    result = run({"name": name, "state": "absent"}, "--diff")
    assert result["changed"] is True, result
    assert result["diff"]["after"] == {"exists": False}
    assert described(budgets, account, name) is None
    result = run({"name": name, "state": "absent"})
    assert result["changed"] is False, result
    assert result["budget"] is None


def test_whole_account_budget_without_alerts(run, budgets, account, name):
    args = {"name": name, "limit_amount": 1000, "time_unit": "QUARTERLY", "thresholds": [],
            "update_mode": "recreate"}
    result = run(args)
    assert result["changed"] is True, result
    budget = described(budgets, account, name)
    assert not budget.get("CostFilters")
    assert budget["TimeUnit"] == "QUARTERLY"
    assert notifications(budgets, account, name) == []
    result = run(args)
    assert result["changed"] is False, result
    assert not result.get("warnings")


@pytest.mark.parametrize(
    "case",
    [
        ({"limit_amount": 0}, "limit_amount must be more than 0, got 0"),
        ({"limit_amount": -10}, "limit_amount must be more than 0, got -10"),
        ({"thresholds": [0]}, "thresholds must be percents more than 0 and at most 1000, got 0"),
        ({"forecast_thresholds": [2000]}, "forecast_thresholds must be percents more than 0 and at most 1000"),
        ({"subscribers": []}, "subscribers is required when thresholds or forecast_thresholds are given"),
        ({"subscribers": [{"type": "SNS", "address": "alerts"}]},
         "subscribers address of an SNS subscriber must be an SNS topic ARN"),
        ({"account_id": "42"}, "account_id must be 12 digits"),
    ],
)
def test_bad_input_fails_naming_the_option_and_creates_nothing(run, budgets, account, name, case):
    args, message = case
    result = run(budget_args(name, **args))
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert described(budgets, account, name) is None


def test_missing_limit_fails_naming_the_option(run, budgets, account, name):
    result = run({"name": name, "subscribers": SUBSCRIBERS})
    assert result.get("failed") is True, result
    assert "limit_amount" in result["msg"]
    assert described(budgets, account, name) is None


def test_the_lab_lacks_describe_subscribers_for_notification(run, budgets, account, name, lab_env):
    """Why the lab runs with update_mode: recreate: the endpoint answers HTTP 500 to DescribeSubscribersForNotification.

    The module's message for that answer (naming the call and update_mode) is unit-tested with the same answer in
    tests/unit/plugins/module_utils/test_budget.py; here one call without retries shows the lab gives it.
    """
    import boto3
    import botocore.config
    import botocore.exceptions

    args = budget_args(name, update_mode="update")
    assert run(args)["changed"] is True  # creating needs no missing call
    notification = budgets.describe_notifications_for_budget(AccountId=account, BudgetName=name)["Notifications"][0]
    session = boto3.session.Session(aws_access_key_id=lab_env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=lab_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    once = session.client("budgets", endpoint_url=lab_env["AWS_ENDPOINT_URL"],
                          config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        once.describe_subscribers_for_notification(AccountId=account, BudgetName=name, Notification=notification)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
