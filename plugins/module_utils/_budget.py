# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the budget module (private: not a public API).

Nothing here talks to AWS. The module reads the budget (DescribeBudget), its notifications
(DescribeNotificationsForBudget) and their subscribers (DescribeSubscribersForNotification), hands
them to :func:`plan_budget` with what the task asks for, and carries out the returned plan.

Shapes follow the AWS Budgets API reference (``Budget``, ``Notification``, ``Subscriber``):
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_Operations_AWS_Budgets.html
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import CLUSTER_TAG

TIME_UNITS = ("DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY")
SUBSCRIBER_TYPES = ("EMAIL", "SNS")
UPDATE_MODES = ("update", "recreate")
COST = "COST"
ACTUAL = "ACTUAL"
FORECASTED = "FORECASTED"
GREATER_THAN = "GREATER_THAN"
PERCENTAGE = "PERCENTAGE"

# API reference, data type Notification: "A budget can have up to ten notifications. Each notification
# must have at least one subscriber. A notification can have one SNS subscriber and up to 10 email
# subscribers, for a total of 11 subscribers."
MAX_NOTIFICATIONS = 10
MAX_SUBSCRIBERS = {"EMAIL": 10, "SNS": 1}
THRESHOLD_MAX = 1000.0
# BudgetName: 1 to 100 characters, no colon or backslash (API reference, data type Budget).
NAME_MAX = 100
_NAME = re.compile(r"^[^:\\]+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w.-]{1,256}$")
TAG_KEY_MAX = 128


class BudgetInputError(ValueError):
    """A task option is wrong; the message names the option."""


# ---------------------------------------------------------------- validation
def _check_thresholds(option, values):
    seen = set()
    for value in values or []:
        if not 0 < value <= THRESHOLD_MAX:
            raise BudgetInputError(f"{option} must be percents more than 0 and at most {THRESHOLD_MAX:g}, "
                                   f"got {value:g}")
        if float(value) in seen:
            raise BudgetInputError(f"{option} has {value:g} more than once")
        seen.add(float(value))


def _check_subscribers(subscribers, notifications):
    if notifications and not subscribers:
        raise BudgetInputError("subscribers is required when thresholds or forecast_thresholds are given "
                               "(AWS Budgets needs at least one subscriber per notification); "
                               "set thresholds to [] for a budget without alerts")
    counts = {kind: 0 for kind in SUBSCRIBER_TYPES}
    seen = set()
    for entry in subscribers or []:
        kind, address = entry.get("type"), (entry.get("address") or "").strip()
        if kind not in SUBSCRIBER_TYPES:
            raise BudgetInputError(f"subscribers type must be one of {', '.join(SUBSCRIBER_TYPES)}, got {kind!r}")
        if kind == "EMAIL" and (not re.match(r"^[^@\s]+@[^@\s]+$", address)):
            raise BudgetInputError(f"subscribers address of an EMAIL subscriber must be an email address, "
                                   f"got {address!r}")
        if kind == "SNS" and not _SNS_ARN.match(address):
            raise BudgetInputError(f"subscribers address of an SNS subscriber must be an SNS topic ARN, "
                                   f"got {address!r}")
        if (kind, address) in seen:
            raise BudgetInputError(f"subscribers has {kind} {address} more than once")
        seen.add((kind, address))
        counts[kind] += 1
    for kind, count in counts.items():
        if count > MAX_SUBSCRIBERS[kind]:
            raise BudgetInputError(f"subscribers may hold at most {MAX_SUBSCRIBERS[kind]} {kind} subscriber(s) "
                                   f"per notification (an AWS Budgets limit), got {count}")


def validate(params):
    """Check the task's options before anything is read or changed; raise :class:`BudgetInputError`."""
    name = params.get("name") or ""
    if not name or len(name) > NAME_MAX or not _NAME.match(name):
        raise BudgetInputError(f"name must be 1 to {NAME_MAX} characters without ':' or '\\', got {name!r}")
    account = params.get("account_id")
    if account is not None and not _ACCOUNT.match(account):
        raise BudgetInputError(f"account_id must be 12 digits, got {account!r}")
    for key in params.get("cost_allocation_tags") or []:
        if not key or len(key) > TAG_KEY_MAX:
            raise BudgetInputError(f"cost_allocation_tags must be tag keys of 1 to {TAG_KEY_MAX} characters, "
                                   f"got {key!r}")
    if params.get("state") == "absent":
        return
    amount = params.get("limit_amount")
    if amount is None:
        raise BudgetInputError("limit_amount is required when state is present")
    if not amount > 0:
        raise BudgetInputError(f"limit_amount must be more than 0, got {amount:g}")
    if not (params.get("limit_unit") or "").strip():
        raise BudgetInputError("limit_unit must not be empty")
    if params.get("time_unit") not in TIME_UNITS:
        raise BudgetInputError(f"time_unit must be one of {', '.join(TIME_UNITS)}, got {params.get('time_unit')!r}")
    cluster = params.get("cluster")
    if cluster is not None and not cluster.strip():
        raise BudgetInputError("cluster must not be empty when given")
    _check_thresholds("thresholds", params.get("thresholds"))
    _check_thresholds("forecast_thresholds", params.get("forecast_thresholds"))
    count = len(params.get("thresholds") or []) + len(params.get("forecast_thresholds") or [])
    if count > MAX_NOTIFICATIONS:
        raise BudgetInputError(f"thresholds and forecast_thresholds together may hold at most {MAX_NOTIFICATIONS} "
                               f"values (an AWS Budgets limit of notifications per budget), got {count}")
    _check_subscribers(params.get("subscribers"), count)


# ---------------------------------------------------------------- desired state
def amount_text(value):
    """A budget amount as the API's decimal string, without exponent: 100.0 -> '100', 0.5 -> '0.5'."""
    return format(Decimal(repr(float(value))).normalize(), "f")


def amount_value(text):
    """The float of an API amount string (None when absent or not a number)."""
    try:
        return float(Decimal(str(text)))
    except (InvalidOperation, TypeError, ValueError):
        return None


def cost_filters(cluster):
    """The budget's CostFilters: the cost allocation tag ``hpc:cluster`` equal to ``cluster``.

    User-defined cost allocation tags are written ``user:<key>$<value>`` in the ``TagKeyValue`` filter
    (the example of ``aws budgets create-budget`` in the AWS CLI reference).
    """
    if not cluster:
        return {}
    return {"TagKeyValue": [f"user:{CLUSTER_TAG}${cluster}"]}


def desired_budget(params):
    """The ``Budget`` of CreateBudget for the task's options."""
    budget = {
        "BudgetName": params["name"],
        "BudgetType": COST,
        "BudgetLimit": {"Amount": amount_text(params["limit_amount"]), "Unit": params["limit_unit"].strip()},
        "TimeUnit": params["time_unit"],
    }
    filters = cost_filters(params.get("cluster"))
    if filters:
        budget["CostFilters"] = filters
    return budget


def notification(kind, threshold):
    return {"NotificationType": kind, "ComparisonOperator": GREATER_THAN, "Threshold": float(threshold),
            "ThresholdType": PERCENTAGE}


def subscriber(entry):
    return {"SubscriptionType": entry["type"], "Address": entry["address"].strip()}


def desired_notifications(params):
    """``NotificationsWithSubscribers`` for the task: one notification per threshold, each with every subscriber."""
    subscribers = sorted((subscriber(s) for s in params.get("subscribers") or []), key=subscriber_key)
    found = [notification(ACTUAL, t) for t in params.get("thresholds") or []]
    found += [notification(FORECASTED, t) for t in params.get("forecast_thresholds") or []]
    return [{"Notification": n, "Subscribers": list(subscribers)} for n in sorted(found, key=notification_key)]


# ---------------------------------------------------------------- comparing
def notification_key(item):
    """What identifies a notification of a budget (its state, OK or ALARM, is not part of it)."""
    return (item.get("NotificationType"), item.get("ComparisonOperator"), float(item.get("Threshold") or 0),
            item.get("ThresholdType") or PERCENTAGE)


def notification_identity(item):
    """The ``Notification`` to send in a request: the four fields that identify it."""
    kind, operator, threshold, threshold_type = notification_key(item)
    return {"NotificationType": kind, "ComparisonOperator": operator, "Threshold": threshold,
            "ThresholdType": threshold_type}


def subscriber_key(item):
    return (item.get("SubscriptionType"), item.get("Address"))


def normal_filters(filters):
    """CostFilters compared as sets of values per key; empty keys count as absent."""
    return {key: sorted(values) for key, values in (filters or {}).items() if values}


def budget_view(budget):
    """The budget definition the module manages, in snake_case (None for no budget)."""
    if not budget:
        return None
    limit = budget.get("BudgetLimit") or {}
    return {
        "name": budget.get("BudgetName"),
        "budget_type": budget.get("BudgetType"),
        "limit_amount": amount_value(limit.get("Amount")),
        "limit_unit": limit.get("Unit"),
        "time_unit": budget.get("TimeUnit"),
        "cost_filters": normal_filters(budget.get("CostFilters")),
    }


def budget_changes(current, desired):
    """The names of the fields of the budget definition that differ (empty when they match)."""
    before, after = budget_view(current), budget_view(desired)
    return [key for key in ("limit_amount", "limit_unit", "time_unit", "cost_filters") if before[key] != after[key]]


def update_body(current, desired):
    """``NewBudget`` of UpdateBudget: the desired definition, keeping the budget's own cost types, and its
    time period while the time unit stays the same."""
    body = dict(desired)
    body.setdefault("CostFilters", {})
    if current.get("CostTypes"):
        body["CostTypes"] = current["CostTypes"]
    if current.get("TimePeriod") and current.get("TimeUnit") == desired["TimeUnit"]:
        body["TimePeriod"] = current["TimePeriod"]
    return body


def plan_subscribers(current, desired):
    """How to turn ``current`` subscribers into ``desired``: (updates, creates, deletes).

    A subscriber that goes and one of the same type that comes make one UpdateSubscriber. Apply
    updates, then creates, then deletes: deleting the last subscriber of a notification deletes the
    notification (API reference, DeleteSubscriber).
    """
    current_keys = {subscriber_key(s) for s in current}
    desired_keys = {subscriber_key(s) for s in desired}
    gone = sorted(current_keys - desired_keys)
    new = sorted(desired_keys - current_keys)
    updates = []
    for kind in SUBSCRIBER_TYPES:
        old_of_kind = [k for k in gone if k[0] == kind]
        new_of_kind = [k for k in new if k[0] == kind]
        for index in range(min(len(old_of_kind), len(new_of_kind))):
            updates.append((old_of_kind[index], new_of_kind[index]))
            gone.remove(old_of_kind[index])
            new.remove(new_of_kind[index])

    def as_subscriber(key):
        return {"SubscriptionType": key[0], "Address": key[1]}
    return ([(as_subscriber(a), as_subscriber(b)) for a, b in updates], [as_subscriber(k) for k in new],
            [as_subscriber(k) for k in gone])


# ---------------------------------------------------------------- planning
class BudgetPlanError(ValueError):
    """The budget cannot be brought to the task's state (it exists as another kind of budget)."""


class BudgetPlan:
    """What to do to one budget. ``unverified`` lists notifications whose subscribers were not read."""

    def __init__(self):
        self.create = False
        self.delete = False
        self.update = False
        self.recreate = False
        self.budget_changes = []
        self.delete_notifications = []
        self.create_notifications = []
        self.subscriber_changes = []
        self.unverified = []

    @property
    def changed(self):
        return bool(self.create or self.delete or self.update or self.recreate or self.delete_notifications
                    or self.create_notifications or self.subscriber_changes)

    def actions(self):
        """What the plan does, one line per AWS change (the module returns them as ``actions``)."""
        lines = []
        if self.delete:
            lines.append("delete budget")
        if self.create:
            lines.append("create budget")
        if self.update:
            lines.append(f"update budget ({', '.join(self.budget_changes)})")
        if self.recreate:
            lines.append(f"delete and create budget ({', '.join(self.budget_changes)})")
        lines += [f"delete notification {describe_notification(n)}" for n in self.delete_notifications]
        lines += [f"create notification {describe_notification(n['Notification'])}" for n in self.create_notifications]
        for item, updates, creates, deletes in self.subscriber_changes:
            where = describe_notification(item)
            lines += [f"update subscriber {a['Address']} to {b['Address']} of {where}" for a, b in updates]
            lines += [f"create subscriber {s['Address']} of {where}" for s in creates]
            lines += [f"delete subscriber {s['Address']} of {where}" for s in deletes]
        return lines


def describe_notification(item):
    kind, operator, threshold, threshold_type = notification_key(item)
    unit = "%" if threshold_type == PERCENTAGE else f" {threshold_type}"
    return f"{kind} {operator} {threshold:g}{unit}"


def _plan_notifications(plan, current_notifications, desired_notifications):
    current = {notification_key(n["Notification"]): n for n in current_notifications}
    desired = {notification_key(n["Notification"]): n for n in desired_notifications}
    plan.delete_notifications = [notification_identity(current[k]["Notification"]) for k in sorted(current)
                                 if k not in desired]
    plan.create_notifications = [desired[k] for k in sorted(desired) if k not in current]
    for key in sorted(set(current) & set(desired)):
        have = current[key].get("Subscribers")
        identity = notification_identity(current[key]["Notification"])
        if have is None:
            plan.unverified.append(identity)
            continue
        updates, creates, deletes = plan_subscribers(have, desired[key]["Subscribers"])
        if updates or creates or deletes:
            plan.subscriber_changes.append((identity, updates, creates, deletes))


def plan_budget(current, state, desired=None, notifications=None, update_mode="update"):
    """The plan that brings ``current`` (``{"budget": Budget, "notifications": [NotificationWithSubscribers]}``
    or None; ``Subscribers`` None when not read) to ``state`` with the ``desired`` Budget and notifications."""
    plan = BudgetPlan()
    if state == "absent":
        plan.delete = current is not None
        return plan
    if current is None:
        plan.create = True
        return plan
    budget_type = current["budget"].get("BudgetType")
    if budget_type != COST:
        raise BudgetPlanError(f"budget {desired['BudgetName']} exists as a {budget_type} budget; this module "
                              f"manages COST budgets and never converts one (delete it or choose another name)")
    plan.budget_changes = budget_changes(current["budget"], desired)
    if plan.budget_changes and update_mode == "recreate":
        plan.recreate = True
        return plan
    plan.update = bool(plan.budget_changes)
    _plan_notifications(plan, current["notifications"], notifications)
    return plan


def expected_state(current, plan, desired, notifications):
    """The budget and notifications after ``plan`` (what check mode predicts); None when there is no budget.

    Subscribers stay None (unknown) on notifications whose subscribers were not read and not written.
    """
    if plan.delete or (current is None and not plan.create):
        return None
    if plan.create or plan.recreate:
        return {"budget": desired, "notifications": notifications}
    unverified = {notification_key(n) for n in plan.unverified}
    after = []
    for item in notifications:
        key = notification_key(item["Notification"])
        after.append({"Notification": item["Notification"],
                      "Subscribers": None if key in unverified else item["Subscribers"]})
    return {"budget": desired if plan.update else current["budget"], "notifications": after}


# ---------------------------------------------------------------- results
def notification_view(item):
    kind, operator, threshold, threshold_type = notification_key(item["Notification"])
    subscribers = item.get("Subscribers")
    if subscribers is not None:
        subscribers = [{"type": s["SubscriptionType"], "address": s["Address"]}
                       for s in sorted(subscribers, key=subscriber_key)]
    return {"notification_type": kind, "comparison_operator": operator, "threshold": threshold,
            "threshold_type": threshold_type, "subscribers": subscribers}


def notifications_view(state):
    if not state:
        return []
    items = sorted(state["notifications"], key=lambda n: notification_key(n["Notification"]))
    return [notification_view(n) for n in items]


def describe_state(state):
    """The diff's view of a budget: whether it exists, its definition and its notifications."""
    if not state:
        return {"exists": False}
    return {"exists": True, "budget": budget_view(state["budget"]), "notifications": notifications_view(state)}


def build_diff(name, before, after):
    return {"before_header": f"budget {name}", "after_header": f"budget {name}",
            "before": describe_state(before), "after": describe_state(after)}


# ---------------------------------------------------------------- cost allocation tags
def tags_to_activate(listed, wanted):
    """(keys to activate, keys Billing does not list yet) from ListCostAllocationTags' ``CostAllocationTags``.

    A user-defined tag key appears there only after it has been applied to a resource (AWS says it can
    take up to 24 hours); such keys cannot be activated yet.
    """
    status = {tag.get("TagKey"): tag.get("Status") for tag in listed or []}
    keys = list(dict.fromkeys(wanted or []))
    activate = [key for key in keys if key in status and status[key] != "Active"]
    unknown = [key for key in keys if key not in status]
    return activate, unknown


def chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]
