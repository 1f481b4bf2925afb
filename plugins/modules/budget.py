#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: budget
short_description: Keep an AWS Budgets cost budget of a cluster, with its alerts and cost allocation tags
version_added: 0.1.0
description:
  - Makes sure an AWS Budgets C(COST) budget exists with the given limit and time unit, optionally
    restricted to the costs of one cluster (resources tagged C(hpc:cluster=<cluster>)), and that its
    notifications and their subscribers are exactly the ones the task lists.
  - Creates the budget when it is missing (CreateBudget), changes the limit, time unit and cost filter
    with UpdateBudget, and reconciles notifications (CreateNotification, DeleteNotification) and
    subscribers (CreateSubscriber, UpdateSubscriber, DeleteSubscriber). O(state=absent) deletes the budget
    with its notifications.
  - Activates the listed cost allocation tags in Billing (Cost Explorer C(ListCostAllocationTags) and
    C(UpdateCostAllocationTagsStatus)); a budget filtered on a tag only counts costs once that tag is active.
  - Why this module exists - neither amazon.aws 10 nor community.aws 10 has a module for AWS Budgets or
    for cost allocation tags.
author: hpcops developers (@hpcops)
options:
  name:
    description:
      - The name of the budget, unique in the account (1 to 100 characters, no C(:) or C(\)).
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the budget exists as described; V(absent) deletes it with its notifications.
    type: str
    choices: [present, absent]
    default: present
  limit_amount:
    description:
      - The budgeted amount per O(time_unit), in O(limit_unit). Must be more than V(0).
      - Required when O(state=present).
    type: float
  limit_unit:
    description:
      - The unit of O(limit_amount), a currency such as V(USD).
    type: str
    default: USD
  time_unit:
    description:
      - The period after which the budget's spend starts again from zero.
    type: str
    choices: [DAILY, MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  cluster:
    description:
      - Count only the costs of resources whose cost allocation tag C(hpc:cluster) is this cluster's name.
      - Sent as the Budgets API cost filter C(TagKeyValue) with the value C(user:hpc:cluster$<cluster>), the
        form of user-defined cost allocation tags in AWS Budgets (see the C(aws budgets create-budget) example
        in the AWS CLI reference).
      - The tag key must be an active cost allocation tag (see O(cost_allocation_tags)), or the budget counts
        nothing.
      - When omitted, the budget counts every cost of the account.
    type: str
  thresholds:
    description:
      - Percents of O(limit_amount) of B(actual) spend that send an alert, each more than V(0) and at most V(1000).
      - One notification (C(ACTUAL), C(GREATER_THAN), C(PERCENTAGE)) per value, each with every subscriber
        of O(subscribers).
      - Pass V([]) for a budget without actual spend alerts.
    type: list
    elements: float
    default: [80, 100]
  forecast_thresholds:
    description:
      - Percents of O(limit_amount) of B(forecasted) spend that send an alert (notifications of type
        C(FORECASTED)), each more than V(0) and at most V(1000).
      - O(thresholds) and O(forecast_thresholds) together hold at most 10 values (AWS allows ten notifications
        per budget).
    type: list
    elements: float
    default: []
  subscribers:
    description:
      - Who receives every alert of the budget. Subscribers of the notifications that are not listed are removed.
      - Required when O(state=present) and O(thresholds) or O(forecast_thresholds) is not empty, because AWS
        Budgets needs at least one subscriber per notification.
      - At most 10 C(EMAIL) subscribers and 1 C(SNS) subscriber (the AWS Budgets limits per notification).
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - V(EMAIL) for an email address, V(SNS) for an SNS topic.
        type: str
        choices: [EMAIL, SNS]
        required: true
      address:
        description:
          - The email address, or the ARN of the SNS topic.
          - The topic's access policy must let C(budgets.amazonaws.com) publish to it.
        type: str
        required: true
  account_id:
    description:
      - The account (12 digits) the budget belongs to.
      - Defaults to the caller's account, read with STS C(GetCallerIdentity).
    type: str
  cost_allocation_tags:
    description:
      - Tag keys to activate as cost allocation tags (only those not C(Active) yet are changed), for example
        V(hpc:cluster) for a budget with O(cluster).
      - A tag key is listed by Billing only after it has been applied to a resource (AWS says this takes up to
        24 hours); a key Billing does not list yet is left out with a warning and reported in RV(pending_tags),
        so a later run activates it.
      - Tags are never deactivated (other budgets and reports of the account may use them), also not with
        O(state=absent).
    type: list
    elements: str
    default: []
  update_mode:
    description:
      - How an existing budget is changed.
      - V(update) - the limit, time unit and cost filter change with UpdateBudget, and the subscribers of each
        notification are read (C(DescribeSubscribersForNotification)) and reconciled one by one.
      - V(recreate) - only the calls CreateBudget, DescribeBudget, DeleteBudget, CreateNotification,
        DeleteNotification and DescribeNotificationsForBudget are used, for endpoints that have no more
        (moto 5.2.5, the embedded lab). A changed limit, time unit or cost filter deletes the budget and creates
        it again (on AWS this resets its history and alert states). The subscribers of existing notifications
        cannot be read with these calls - they are written when a notification is created and then not
        compared; the module warns every run and returns them as V(null).
    type: str
    choices: [update, recreate]
    default: update
notes:
  - "AWS Budgets and Cost Explorer are global services: their calls go to C(us-east-1) (the China and GovCloud
    partitions have their own endpoints)."
  - The budget's cost types, time period and auto-adjust settings are not managed; UpdateBudget keeps the budget's
    cost types, and its time period while O(time_unit) stays the same.
  - "moto 5.2.5 (the embedded lab) implements CreateBudget, DescribeBudget(s), DeleteBudget, CreateNotification,
    DeleteNotification and DescribeNotificationsForBudget only. It answers HTTP 500 to UpdateBudget,
    UpdateNotification, DescribeSubscribersForNotification, CreateSubscriber, UpdateSubscriber, DeleteSubscriber,
    the budgets tagging calls, and Cost Explorer C(ListCostAllocationTags) and
    C(UpdateCostAllocationTagsStatus). Use O(update_mode=recreate) and O(cost_allocation_tags=[]) there; when
    one of those calls fails so, the error message says which call the endpoint may lack and which option avoids it."
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)); the message names the budget.
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    details:
      - Check mode reads the budget, its notifications and the cost allocation tags, and changes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows whether the budget exists, its definition (limit, unit, time unit, cost filters) and its
        notifications with their subscribers.
  idempotent:
    support: full
seealso:
  - name: AWS Budgets API reference
    description: The calls and data types this module uses.
    link: https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_Operations_AWS_Budgets.html
  - name: Cost allocation tags
    description: How user-defined tags become cost allocation tags.
    link: https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/cost-alloc-tags.html
"""

EXAMPLES = r"""
- name: A monthly budget of 5000 USD for the cluster prod, with alerts at 80 and 100 percent
  hpcops.aws_hpc.budget:
    name: hpc-prod
    limit_amount: 5000
    cluster: prod
    cost_allocation_tags: [hpc:cluster]
    subscribers:
      - type: EMAIL
        address: hpc-admins@example.com
      - type: SNS
        address: arn:aws:sns:us-east-1:123456789012:hpc-alerts

- name: A forecast alert as well, quarterly
  hpcops.aws_hpc.budget:
    name: hpc-prod
    limit_amount: 15000
    time_unit: QUARTERLY
    cluster: prod
    thresholds: [50, 90]
    forecast_thresholds: [100]
    subscribers:
      - type: EMAIL
        address: hpc-admins@example.com

- name: The same budget against the embedded lab (moto), which lacks UpdateBudget and the subscriber calls
  hpcops.aws_hpc.budget:
    name: hpc-lab
    limit_amount: 100
    cluster: lab
    update_mode: recreate
    subscribers:
      - type: EMAIL
        address: root@localhost.localdomain

- name: Remove the budget
  hpcops.aws_hpc.budget:
    name: hpc-prod
    state: absent
"""

RETURN = r"""
account_id:
  description: The account the budget belongs to.
  returned: always
  type: str
  sample: "123456789012"
budget:
  description: The budget definition as the module left it (predicted in check mode); V(null) when there is none.
  returned: always
  type: dict
  contains:
    name:
      description: The name of the budget.
      type: str
      sample: hpc-prod
    budget_type:
      description: Always V(COST).
      type: str
      sample: COST
    limit_amount:
      description: The budgeted amount.
      type: float
      sample: 5000.0
    limit_unit:
      description: The unit of the amount.
      type: str
      sample: USD
    time_unit:
      description: The budget's period.
      type: str
      sample: MONTHLY
    cost_filters:
      description: The budget's cost filters (API names), each with its sorted values; empty for the whole account.
      type: dict
      sample: {"TagKeyValue": ["user:hpc:cluster$prod"]}
notifications:
  description: The budget's notifications as the module left them (predicted in check mode), sorted.
  returned: always
  type: list
  elements: dict
  contains:
    notification_type:
      description: V(ACTUAL) or V(FORECASTED).
      type: str
      sample: ACTUAL
    comparison_operator:
      description: Always V(GREATER_THAN) for notifications of this module.
      type: str
      sample: GREATER_THAN
    threshold:
      description: The threshold.
      type: float
      sample: 80.0
    threshold_type:
      description: Always V(PERCENTAGE) for notifications of this module.
      type: str
      sample: PERCENTAGE
    subscribers:
      description:
        - The subscribers, each with C(type) and C(address).
        - V(null) when they were not read (O(update_mode=recreate) and the notification existed before).
      type: list
      elements: dict
      sample: [{"type": "EMAIL", "address": "hpc-admins@example.com"}]
actions:
  description: The changes made (in check mode - that would be made), one line each.
  returned: always
  type: list
  elements: str
  sample: ["update budget (limit_amount)", "create notification FORECASTED GREATER_THAN 100%"]
activated_tags:
  description: The cost allocation tags this run activated (in check mode - would activate).
  returned: always
  type: list
  elements: str
  sample: ["hpc:cluster"]
pending_tags:
  description: Tag keys of O(cost_allocation_tags) that Billing does not list yet, so they could not be activated.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    AWSCallError,
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._budget import (
    SUBSCRIBER_TYPES,
    TIME_UNITS,
    UPDATE_MODES,
    BudgetInputError,
    BudgetPlanError,
    budget_view,
    build_diff,
    chunks,
    describe_notification,
    desired_budget,
    desired_notifications,
    expected_state,
    notification_identity,
    notifications_view,
    plan_budget,
    tags_to_activate,
    update_body,
    validate,
)

# How an endpoint that lacks a call answers (moto: HTTP 500 with an HTML page); AWS itself names its errors.
UNIMPLEMENTED_CODES = ("500", "501", "NotImplemented")
RECREATE_HINT = "set update_mode: recreate for an endpoint without it"
TAGS_HINT = "set cost_allocation_tags: [] for an endpoint without it"


def explain_gap(exc, call, remedy):
    """Name the call an endpoint may lack (and the option that avoids it) in an AWS failure."""
    if exc.code in UNIMPLEMENTED_CODES:
        status = exc.http_status_code or exc.code
        exc.msg = (f"Failed to {exc.what}: the endpoint answered HTTP {status} to {call}, which it may not "
                   f"implement (moto 5.2.5 does not): {remedy}")
    return exc


def warn(module, text):
    """A warning of the task. AnsibleAWSModule.warn of amazon.aws 10.1 also passes its warnings to exit_json,
    which ansible-core 2.19 reports as deprecated; the AnsibleModule underneath warns the supported way."""
    getattr(module, "_module", module).warn(text)


class BudgetManager:
    """Reads and changes one budget. AWS failures raise AWSCallError naming the budget."""

    def __init__(self, module):
        self.module = module
        self.name = module.params["name"]
        self.budgets = client_from_module(module, "budgets")
        self.account_id = module.params["account_id"] or self._caller_account()
        self.ids = {"AccountId": self.account_id, "BudgetName": self.name}

    def _caller_account(self):
        sts = client_from_module(self.module, "sts")
        return aws_call("read the caller's account with STS GetCallerIdentity", sts.get_caller_identity)["Account"]

    def what(self, action):
        return f"{action} budget {self.name}"

    def call(self, what, method, gap=None, **kwargs):
        try:
            return aws_call(self.what(what), method, **kwargs)
        except AWSCallError as exc:
            raise (explain_gap(exc, *gap) if gap else exc) from exc.exception

    # ------------------------------------------------------------------ reading
    def read(self, read_subscribers=True):
        """``{"budget", "notifications"}`` or None; ``Subscribers`` None unless ``read_subscribers``."""
        answer = self.call("read", self.budgets.describe_budget, ignore=("NotFoundException",), **self.ids)
        if answer is None:
            return None
        found = paginate(self.what("read the notifications of"), self.budgets, "describe_notifications_for_budget",
                         "Notifications", **self.ids)
        notifications = [{"Notification": item, "Subscribers": self.subscribers(item) if read_subscribers else None}
                         for item in found]
        return {"budget": answer["Budget"], "notifications": notifications}

    def subscribers(self, item):
        what = self.what(f"read the subscribers of notification {describe_notification(item)} of")
        try:
            return paginate(what, self.budgets, "describe_subscribers_for_notification", "Subscribers",
                            Notification=notification_identity(item), **self.ids)
        except AWSCallError as exc:
            raise explain_gap(exc, "DescribeSubscribersForNotification", RECREATE_HINT) from exc.exception

    # ------------------------------------------------------------------ changing
    def create(self, desired, notifications):
        kwargs = {"AccountId": self.account_id, "Budget": desired}
        if notifications:
            kwargs["NotificationsWithSubscribers"] = notifications
        self.call("create", self.budgets.create_budget, **kwargs)

    def delete(self):
        # A budget deleted meanwhile: the goal is reached.
        self.call("delete", self.budgets.delete_budget, ignore=("NotFoundException",), **self.ids)

    def apply(self, plan, current, desired, notifications):
        if plan.delete or plan.recreate:
            self.delete()
        if plan.create or plan.recreate:
            self.create(desired, notifications)
            return
        if plan.update:
            self.call("update", self.budgets.update_budget, gap=("UpdateBudget", RECREATE_HINT),
                      AccountId=self.account_id, NewBudget=update_body(current["budget"], desired))
        for item in plan.delete_notifications:
            self.call(f"delete notification {describe_notification(item)} of", self.budgets.delete_notification,
                      Notification=item, **self.ids)
        for item in plan.create_notifications:
            self.call(f"create notification {describe_notification(item['Notification'])} of",
                      self.budgets.create_notification, Notification=item["Notification"],
                      Subscribers=item["Subscribers"], **self.ids)
        for item, updates, creates, deletes in plan.subscriber_changes:
            self.reconcile_subscribers(item, updates, creates, deletes)

    def reconcile_subscribers(self, item, updates, creates, deletes):
        """Updates, then creates, then deletes: deleting the last subscriber would delete the notification."""
        where = f"of notification {describe_notification(item)} of"
        for old, new in updates:
            self.call(f"update subscriber {old['Address']} {where}", self.budgets.update_subscriber,
                      gap=("UpdateSubscriber", RECREATE_HINT), Notification=item, OldSubscriber=old,
                      NewSubscriber=new, **self.ids)
        for entry in creates:
            self.call(f"create subscriber {entry['Address']} {where}", self.budgets.create_subscriber,
                      gap=("CreateSubscriber", RECREATE_HINT), Notification=item, Subscriber=entry, **self.ids)
        for entry in deletes:
            self.call(f"delete subscriber {entry['Address']} {where}", self.budgets.delete_subscriber,
                      gap=("DeleteSubscriber", RECREATE_HINT), Notification=item, Subscriber=entry, **self.ids)


def cost_allocation_tags(module, wanted):
    """Activate the ``wanted`` tag keys not active yet: (activated, pending) (in check mode - would activate)."""
    if not wanted:
        return [], []
    ce = client_from_module(module, "ce")
    listed = []
    try:
        for keys in chunks(list(dict.fromkeys(wanted)), 100):
            listed += paginate("list cost allocation tags", ce, "list_cost_allocation_tags", "CostAllocationTags",
                               TagKeys=keys)
    except AWSCallError as exc:
        raise explain_gap(exc, "ListCostAllocationTags", TAGS_HINT) from exc.exception
    activate, pending = tags_to_activate(listed, wanted)
    if module.check_mode:
        return activate, pending
    for keys in chunks(activate, 20):
        try:
            answer = aws_call(f"activate cost allocation tags {', '.join(keys)}", ce.update_cost_allocation_tags_status,
                              CostAllocationTagsStatus=[{"TagKey": key, "Status": "Active"} for key in keys])
        except AWSCallError as exc:
            raise explain_gap(exc, "UpdateCostAllocationTagsStatus", TAGS_HINT) from exc.exception
        errors = answer.get("Errors") or []
        if errors:
            causes = "; ".join(f"{e.get('TagKey')}: {e.get('Code')}: {e.get('Message')}" for e in errors)
            raise ModuleFailure(f"Failed to activate cost allocation tags: {causes}")
    return activate, pending


def ensure(module, manager):
    """The module's result: the plan carried out (or only predicted in check mode)."""
    params = module.params
    present = params["state"] == "present"
    desired = desired_budget(params) if present else None
    notifications = desired_notifications(params) if present else []
    # Subscribers matter only to a budget that stays (and update_mode=recreate cannot read them).
    current = manager.read(read_subscribers=present and params["update_mode"] == "update")
    try:
        plan = plan_budget(current, params["state"], desired, notifications, params["update_mode"])
    except BudgetPlanError as exc:
        raise ModuleFailure(str(exc)) from exc
    if plan.unverified:
        unverified = ", ".join(describe_notification(n) for n in plan.unverified)
        warn(module, f"update_mode=recreate: the subscribers of the existing notifications {unverified} of budget "
                     f"{manager.name} were not read or compared (they are written only when a notification is "
                     f"created)")
    if plan.changed and not module.check_mode:
        manager.apply(plan, current, desired, notifications)
    after = expected_state(current, plan, desired, notifications)
    activated, pending = cost_allocation_tags(module, params["cost_allocation_tags"] if present else [])
    if pending:
        warn(module, f"cost_allocation_tags: Billing does not list {', '.join(pending)} yet (a tag key appears "
                     f"there up to 24 hours after it is first applied to a resource); a later run activates it")
    result = {
        "changed": plan.changed or bool(activated),
        "account_id": manager.account_id,
        "budget": budget_view(after["budget"]) if after else None,
        "notifications": notifications_view(after),
        "actions": plan.actions() + [f"activate cost allocation tag {key}" for key in activated],
        "activated_tags": activated,
        "pending_tags": pending,
    }
    if module._diff:
        result["diff"] = build_diff(manager.name, current, after)
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        limit_amount=dict(type="float"),
        limit_unit=dict(type="str", default="USD"),
        time_unit=dict(type="str", choices=list(TIME_UNITS), default="MONTHLY"),
        cluster=dict(type="str"),
        thresholds=dict(type="list", elements="float", default=[80, 100]),
        forecast_thresholds=dict(type="list", elements="float", default=[]),
        subscribers=dict(type="list", elements="dict", options=dict(
            type=dict(type="str", choices=list(SUBSCRIBER_TYPES), required=True),
            address=dict(type="str", required=True),
        )),
        account_id=dict(type="str"),
        cost_allocation_tags=dict(type="list", elements="str", default=[], no_log=False),
        update_mode=dict(type="str", choices=list(UPDATE_MODES), default="update"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["limit_amount"])],
        supports_check_mode=True,
    )
    try:
        validate(module.params)
    except BudgetInputError as exc:
        module.fail_json(msg=str(exc))
    run_module(module, lambda: ensure(module, BudgetManager(module)))


if __name__ == "__main__":
    main()
