"""Unit tests of the budget logic: validation, the desired budget, the plan, the diff (no network).

Response shapes are those of the AWS Budgets API reference ("Response Syntax" of DescribeBudget,
DescribeNotificationsForBudget and DescribeSubscribersForNotification,
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_Operations_AWS_Budgets.html) and
of Cost Explorer's ListCostAllocationTags. The last tests run the module's AWS calls against botocore's
Stubber, which checks every request against the service model (the calls moto lacks included).
"""

from __future__ import annotations

import datetime
import re

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _budget
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import AWSCallError

ACCOUNT = "123456789012"
EMAIL = {"SubscriptionType": "EMAIL", "Address": "hpc-admins@example.com"}
SNS_ARN = "arn:aws:sns:us-east-1:123456789012:hpc-alerts"
SNS = {"SubscriptionType": "SNS", "Address": SNS_ARN}


def params(**overrides):
    base = {"name": "hpc-prod", "state": "present", "limit_amount": 5000.0, "limit_unit": "USD",
            "time_unit": "MONTHLY", "cluster": "prod", "thresholds": [80.0, 100.0], "forecast_thresholds": [],
            "subscribers": [{"type": "EMAIL", "address": "hpc-admins@example.com"}], "account_id": None,
            "cost_allocation_tags": [], "update_mode": "update"}
    base.update(overrides)
    return base


# DescribeBudget "Response Syntax", filled in as AWS answers for a budget this module created.
def described_budget(amount="5000.0", time_unit="MONTHLY", filters=None, budget_type="COST"):
    return {
        "BudgetName": "hpc-prod",
        "BudgetLimit": {"Amount": amount, "Unit": "USD"},
        "CostFilters": {"TagKeyValue": ["user:hpc:cluster$prod"]} if filters is None else filters,
        "CostTypes": {"IncludeTax": True, "IncludeSubscription": True, "UseBlended": False, "IncludeRefund": False,
                      "IncludeCredit": False, "IncludeUpfront": True, "IncludeRecurring": True,
                      "IncludeOtherSubscription": True, "IncludeSupport": True, "IncludeDiscount": True,
                      "UseAmortized": False},
        "TimeUnit": time_unit,
        "TimePeriod": {"Start": datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
                       "End": datetime.datetime(2087, 6, 15, tzinfo=datetime.UTC)},
        "CalculatedSpend": {"ActualSpend": {"Amount": "12.5", "Unit": "USD"},
                            "ForecastedSpend": {"Amount": "40.1", "Unit": "USD"}},
        "BudgetType": budget_type,
        "LastUpdatedTime": datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC),
    }


# DescribeNotificationsForBudget "Response Syntax": NotificationState is part of the answer.
def described_notification(kind="ACTUAL", threshold=80.0, state="OK"):
    return {"NotificationType": kind, "ComparisonOperator": "GREATER_THAN", "Threshold": threshold,
            "ThresholdType": "PERCENTAGE", "NotificationState": state}


def current_state(budget=None, notifications=None):
    """What the module reads: the budget, and each notification with DescribeSubscribersForNotification's list."""
    if notifications is None:
        notifications = [(described_notification("ACTUAL", 80.0), [EMAIL]),
                         (described_notification("ACTUAL", 100.0, "ALARM"), [EMAIL])]
    return {"budget": budget or described_budget(),
            "notifications": [{"Notification": n, "Subscribers": s} for n, s in notifications]}


def plan_for(current, **overrides):
    p = params(**overrides)
    return _budget.plan_budget(current, p["state"], _budget.desired_budget(p), _budget.desired_notifications(p),
                               p["update_mode"])


# ---------------------------------------------------------------- validation
def test_valid_options_pass():
    _budget.validate(params())
    _budget.validate(params(thresholds=[], subscribers=None))
    _budget.validate(params(state="absent", limit_amount=None, subscribers=None))
    _budget.validate(params(subscribers=[{"type": "EMAIL", "address": f"u{i}@example.com"} for i in range(10)]
                            + [{"type": "SNS", "address": SNS_ARN}]))
    _budget.validate(params(thresholds=[1000.0, 0.5], account_id=ACCOUNT, cost_allocation_tags=["hpc:cluster"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"limit_amount": 0.0}, "limit_amount must be more than 0, got 0"),
        ({"limit_amount": -5.0}, "limit_amount must be more than 0, got -5"),
        ({"limit_amount": None}, "limit_amount is required when state is present"),
        ({"name": "a:b"}, "name must be 1 to 100 characters without ':' or '\\', got 'a:b'"),
        ({"name": "x" * 101}, "name must be 1 to 100 characters"),
        ({"account_id": "12345"}, "account_id must be 12 digits, got '12345'"),
        ({"limit_unit": " "}, "limit_unit must not be empty"),
        ({"cluster": ""}, "cluster must not be empty when given"),
        ({"thresholds": [0.0]}, "thresholds must be percents more than 0 and at most 1000, got 0"),
        ({"thresholds": [1000.5]}, "thresholds must be percents more than 0 and at most 1000, got 1000.5"),
        ({"forecast_thresholds": [-1.0]}, "forecast_thresholds must be percents more than 0 and at most 1000"),
        ({"thresholds": [80.0, 80.0]}, "thresholds has 80 more than once"),
        ({"thresholds": [float(t) for t in range(1, 8)], "forecast_thresholds": [10.0, 20.0, 30.0, 40.0]},
         "thresholds and forecast_thresholds together may hold at most 10 values"),
        ({"subscribers": None}, "subscribers is required when thresholds or forecast_thresholds are given"),
        ({"subscribers": []}, "subscribers is required when thresholds or forecast_thresholds are given"),
        ({"subscribers": [{"type": "EMAIL", "address": "not-an-address"}]},
         "subscribers address of an EMAIL subscriber must be an email address, got 'not-an-address'"),
        ({"subscribers": [{"type": "SNS", "address": "hpc-alerts"}]},
         "subscribers address of an SNS subscriber must be an SNS topic ARN, got 'hpc-alerts'"),
        ({"subscribers": [{"type": "SLACK", "address": "x"}]}, "subscribers type must be one of EMAIL, SNS"),
        ({"subscribers": [{"type": "EMAIL", "address": "a@example.com"}] * 2},
         "subscribers has EMAIL a@example.com more than once"),
        ({"subscribers": [{"type": "EMAIL", "address": f"u{i}@example.com"} for i in range(11)]},
         "subscribers may hold at most 10 EMAIL subscriber(s) per notification (an AWS Budgets limit), got 11"),
        ({"subscribers": [{"type": "SNS", "address": SNS_ARN}, {"type": "SNS", "address": SNS_ARN + "2"}]},
         "subscribers may hold at most 1 SNS subscriber(s)"),
        ({"cost_allocation_tags": [""]}, "cost_allocation_tags must be tag keys of 1 to 128 characters"),
    ],
)
def test_bad_options_name_the_option(overrides, message):
    with pytest.raises(_budget.BudgetInputError, match="^" + re.escape(message)):
        _budget.validate(params(**overrides))


# ---------------------------------------------------------------- desired state
@pytest.mark.parametrize(("value", "text"), [(100.0, "100"), (0.5, "0.5"), (1234567.25, "1234567.25"),
                                             (1e20, "100000000000000000000"), (99.99, "99.99")])
def test_amount_text_is_plain_decimal(value, text):
    assert _budget.amount_text(value) == text


def test_cost_filter_is_the_cluster_cost_allocation_tag():
    assert _budget.cost_filters("prod") == {"TagKeyValue": ["user:hpc:cluster$prod"]}
    assert _budget.cost_filters(None) == {}


def test_desired_budget_and_notifications():
    p = params(forecast_thresholds=[120.0], subscribers=[{"type": "SNS", "address": SNS_ARN},
                                                         {"type": "EMAIL", "address": " hpc-admins@example.com "}])
    assert _budget.desired_budget(p) == {
        "BudgetName": "hpc-prod", "BudgetType": "COST", "BudgetLimit": {"Amount": "5000", "Unit": "USD"},
        "TimeUnit": "MONTHLY", "CostFilters": {"TagKeyValue": ["user:hpc:cluster$prod"]}}
    assert "CostFilters" not in _budget.desired_budget(params(cluster=None))
    found = _budget.desired_notifications(p)
    assert [(n["Notification"]["NotificationType"], n["Notification"]["Threshold"]) for n in found] == [
        ("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 120.0)]
    assert all(n["Notification"]["ComparisonOperator"] == "GREATER_THAN" for n in found)
    assert all(n["Notification"]["ThresholdType"] == "PERCENTAGE" for n in found)
    assert all(n["Subscribers"] == [EMAIL, SNS] for n in found)
    assert _budget.desired_notifications(params(thresholds=[], subscribers=None)) == []


# ---------------------------------------------------------------- comparing and planning
def test_budget_view_of_describe_budget():
    assert _budget.budget_view(described_budget()) == {
        "name": "hpc-prod", "budget_type": "COST", "limit_amount": 5000.0, "limit_unit": "USD",
        "time_unit": "MONTHLY", "cost_filters": {"TagKeyValue": ["user:hpc:cluster$prod"]}}
    assert _budget.budget_view(None) is None


def test_a_converged_budget_has_an_empty_plan():
    plan = plan_for(current_state())
    assert not plan.changed
    assert plan.actions() == []


def test_the_amount_is_compared_as_a_number():
    assert not plan_for(current_state(described_budget(amount="5000")), limit_amount=5000.0).changed


def test_missing_budget_is_created_and_absent_deletes():
    assert plan_for(None).create and plan_for(None).actions() == ["create budget"]
    absent = plan_for(current_state(), state="absent")
    assert absent.delete and absent.actions() == ["delete budget"]
    assert not plan_for(None, state="absent").changed


@pytest.mark.parametrize(
    ("overrides", "changes"),
    [
        ({"limit_amount": 6000.0}, ["limit_amount"]),
        ({"time_unit": "QUARTERLY"}, ["time_unit"]),
        ({"limit_unit": "EUR"}, ["limit_unit"]),
        ({"cluster": "dev"}, ["cost_filters"]),
        ({"cluster": None}, ["cost_filters"]),
    ],
)
def test_changed_definition_updates_or_recreates(overrides, changes):
    plan = plan_for(current_state(), **overrides)
    assert plan.update and not plan.recreate and plan.budget_changes == changes
    assert plan.actions() == [f"update budget ({', '.join(changes)})"]
    plan = plan_for(current_state(), update_mode="recreate", **overrides)
    assert plan.recreate and not plan.update
    assert plan.actions() == [f"delete and create budget ({', '.join(changes)})"]


def test_update_body_keeps_cost_types_and_period_of_the_same_time_unit():
    current = described_budget()
    body = _budget.update_body(current, _budget.desired_budget(params(limit_amount=6000.0)))
    assert body["BudgetLimit"] == {"Amount": "6000", "Unit": "USD"}
    assert body["CostTypes"] == current["CostTypes"]
    assert body["TimePeriod"] == current["TimePeriod"]
    body = _budget.update_body(current, _budget.desired_budget(params(time_unit="ANNUALLY", cluster=None)))
    assert "TimePeriod" not in body
    assert body["CostFilters"] == {}  # clears the filter


def test_notifications_are_reconciled_exactly():
    current = current_state(notifications=[
        (described_notification("ACTUAL", 80.0), [EMAIL]),
        (described_notification("ACTUAL", 90.0), [EMAIL]),
        ({**described_notification("ACTUAL", 100.0), "ComparisonOperator": "EQUAL_TO"}, [EMAIL]),
    ])
    plan = plan_for(current, forecast_thresholds=[110.0])
    assert [(n["ComparisonOperator"], n["Threshold"]) for n in plan.delete_notifications] == [
        ("EQUAL_TO", 100.0), ("GREATER_THAN", 90.0)]
    assert all("NotificationState" not in n for n in plan.delete_notifications)
    assert [(n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
            for n in plan.create_notifications] == [("ACTUAL", 100.0), ("FORECASTED", 110.0)]
    assert plan.actions() == [
        "delete notification ACTUAL EQUAL_TO 100%", "delete notification ACTUAL GREATER_THAN 90%",
        "create notification ACTUAL GREATER_THAN 100%", "create notification FORECASTED GREATER_THAN 110%"]


def test_subscribers_are_updated_created_and_deleted():
    other = {"SubscriptionType": "EMAIL", "Address": "old@example.com"}
    current = current_state(notifications=[(described_notification("ACTUAL", 80.0), [other]),
                                           (described_notification("ACTUAL", 100.0), [EMAIL, SNS])])
    plan = plan_for(current, subscribers=[{"type": "EMAIL", "address": "hpc-admins@example.com"},
                                          {"type": "EMAIL", "address": "ops@example.com"}])
    ops = {"SubscriptionType": "EMAIL", "Address": "ops@example.com"}
    (first, updates, creates, deletes), (second, updates2, creates2, deletes2) = plan.subscriber_changes
    assert first["Threshold"] == 80.0 and "NotificationState" not in first
    assert (updates, creates, deletes) == ([(other, EMAIL)], [ops], [])
    assert second["Threshold"] == 100.0
    assert (updates2, creates2, deletes2) == ([], [ops], [SNS])
    assert "update subscriber old@example.com to hpc-admins@example.com of ACTUAL GREATER_THAN 80%" in plan.actions()


def test_plan_subscribers_pairs_only_the_same_type():
    updates, creates, deletes = _budget.plan_subscribers([SNS], [EMAIL])
    assert (updates, creates, deletes) == ([], [EMAIL], [SNS])


def test_unread_subscribers_are_unverified_not_changed():
    current = current_state()
    for item in current["notifications"]:
        item["Subscribers"] = None
    plan = plan_for(current, update_mode="recreate")
    assert not plan.changed
    assert [n["Threshold"] for n in plan.unverified] == [80.0, 100.0]
    after = _budget.expected_state(current, plan, None, _budget.desired_notifications(params()))
    assert all(n["subscribers"] is None for n in _budget.notifications_view(after))


def test_another_kind_of_budget_is_never_converted():
    with pytest.raises(_budget.BudgetPlanError, match="budget hpc-prod exists as a USAGE budget"):
        plan_for(current_state(described_budget(budget_type="USAGE")))


def test_expected_state_and_diff():
    current = current_state()
    p = params(limit_amount=6000.0, forecast_thresholds=[100.0])
    desired, wanted = _budget.desired_budget(p), _budget.desired_notifications(p)
    plan = _budget.plan_budget(current, "present", desired, wanted)
    after = _budget.expected_state(current, plan, desired, wanted)
    diff = _budget.build_diff("hpc-prod", current, after)
    assert diff["before"]["budget"]["limit_amount"] == 5000.0
    assert diff["after"]["budget"]["limit_amount"] == 6000.0
    assert [n["notification_type"] for n in diff["after"]["notifications"]] == ["ACTUAL", "ACTUAL", "FORECASTED"]
    assert diff["after"]["notifications"][0]["subscribers"] == [{"type": "EMAIL", "address": "hpc-admins@example.com"}]
    gone = _budget.plan_budget(current, "absent")
    assert _budget.build_diff("hpc-prod", current, _budget.expected_state(current, gone, None, []))["after"] == {
        "exists": False}
    assert _budget.describe_state(None) == {"exists": False}


def test_cost_allocation_tags_to_activate():
    # ListCostAllocationTags "Response Syntax"
    listed = [{"TagKey": "hpc:cluster", "Type": "UserDefined", "Status": "Inactive"},
              {"TagKey": "hpc:role", "Type": "UserDefined", "Status": "Active"}]
    assert _budget.tags_to_activate(listed, ["hpc:cluster", "hpc:role", "team", "hpc:cluster"]) == (
        ["hpc:cluster"], ["team"])
    assert _budget.tags_to_activate([], []) == ([], [])
    assert _budget.chunks(list(range(45)), 20) == [list(range(20)), list(range(20, 40)), list(range(40, 45))]


# ---------------------------------------------------------------- the module's calls, against the API model
@pytest.fixture
def stubbed(monkeypatch):
    """The module's BudgetManager on a stubbed budgets client (no network)."""
    from ansible_collections.hpcops.aws_hpc.plugins.modules import budget as module_code

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("budgets", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    manager = module_code.BudgetManager.__new__(module_code.BudgetManager)
    manager.name, manager.account_id, manager.budgets = "hpc-prod", ACCOUNT, client
    manager.ids = {"AccountId": ACCOUNT, "BudgetName": "hpc-prod"}
    with Stubber(client) as stub:
        yield manager, stub
        stub.assert_no_pending_responses()


def test_read_uses_the_three_describe_calls(stubbed):
    manager, stub = stubbed
    ids = {"AccountId": ACCOUNT, "BudgetName": "hpc-prod"}
    stub.add_response("describe_budget", {"Budget": described_budget()}, ids)
    stub.add_response("describe_notifications_for_budget",
                      {"Notifications": [described_notification("ACTUAL", 80.0, "ALARM")]}, ids)
    stub.add_response("describe_subscribers_for_notification", {"Subscribers": [EMAIL]},
                      {**ids, "Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                                               "Threshold": 80.0, "ThresholdType": "PERCENTAGE"}})
    current = manager.read()
    assert current["notifications"][0]["Subscribers"] == [EMAIL]
    assert not plan_for(current, thresholds=[80.0]).changed


def test_read_of_a_missing_budget(stubbed):
    manager, stub = stubbed
    stub.add_client_error("describe_budget", "NotFoundException", "Unable to get budget: hpc-prod")
    assert manager.read() is None


def test_apply_update_mode_calls(stubbed):
    manager, stub = stubbed
    ids = {"AccountId": ACCOUNT, "BudgetName": "hpc-prod"}
    old = {"SubscriptionType": "EMAIL", "Address": "old@example.com"}
    current = current_state(notifications=[(described_notification("ACTUAL", 80.0), [old]),
                                           (described_notification("ACTUAL", 90.0), [EMAIL])])
    p = params(limit_amount=6000.0)
    desired, wanted = _budget.desired_budget(p), _budget.desired_notifications(p)
    plan = _budget.plan_budget(current, "present", desired, wanted)
    n80 = _budget.notification("ACTUAL", 80.0)
    stub.add_response("update_budget", {}, {"AccountId": ACCOUNT,
                                            "NewBudget": _budget.update_body(current["budget"], desired)})
    stub.add_response("delete_notification", {}, {**ids, "Notification": _budget.notification("ACTUAL", 90.0)})
    stub.add_response("create_notification", {}, {**ids, "Notification": _budget.notification("ACTUAL", 100.0),
                                                  "Subscribers": [EMAIL]})
    stub.add_response("update_subscriber", {}, {**ids, "Notification": n80, "OldSubscriber": old,
                                                "NewSubscriber": EMAIL})
    manager.apply(plan, current, desired, wanted)


def test_an_endpoint_without_update_budget_names_the_option(stubbed):
    manager, stub = stubbed
    current = current_state()
    p = params(limit_amount=6000.0)
    desired, wanted = _budget.desired_budget(p), _budget.desired_notifications(p)
    plan = _budget.plan_budget(current, "present", desired, wanted)
    stub.add_client_error("update_budget", "500", "<html>Internal Server Error</html>", http_status_code=500)
    with pytest.raises(AWSCallError) as caught:
        manager.apply(plan, current, desired, wanted)
    assert caught.value.msg == ("Failed to update budget hpc-prod: the endpoint answered HTTP 500 to UpdateBudget, "
                                "which it may not implement (moto 5.2.5 does not): set update_mode: recreate for an "
                                "endpoint without it")


def test_recreate_deletes_and_creates_with_every_notification(stubbed):
    manager, stub = stubbed
    current = current_state()
    p = params(limit_amount=6000.0, update_mode="recreate")
    desired, wanted = _budget.desired_budget(p), _budget.desired_notifications(p)
    plan = _budget.plan_budget(current, "present", desired, wanted, "recreate")
    stub.add_response("delete_budget", {}, {"AccountId": ACCOUNT, "BudgetName": "hpc-prod"})
    stub.add_response("create_budget", {}, {"AccountId": ACCOUNT, "Budget": desired,
                                            "NotificationsWithSubscribers": wanted})
    manager.apply(plan, current, desired, wanted)
