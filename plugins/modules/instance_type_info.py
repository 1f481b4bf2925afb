#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: instance_type_info
short_description: Which of the given EC2 instance types the region offers
version_added: 0.1.0
description:
  - Asks EC2 (C(DescribeInstanceTypeOfferings), location type C(region)) which of O(instance_types) the region
    offers, and with O(zones=true) in which availability zones (location type C(availability-zone)).
  - A type the region does not offer - a typo such as V(m5.gigantic), or a type of another region - is listed in
    RV(not_offered) and RV(message) names it and the region. As other C(_info) modules, the module does B(not)
    fail for it; a caller that needs every type fails on RV(all_offered) with RV(message), as the input checks of
    C(playbooks/site.yml) do (C(roles/aws_tier/tasks/validate.yml)).
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)).
  - This module never changes anything.
author: hpcops developers (@hpcops)
options:
  instance_types:
    description:
      - The instance types to look up, for example V(m5.xlarge). Repeats and empty strings are ignored.
    type: list
    elements: str
    required: true
  zones:
    description:
      - Also return, for each offered type, the availability zones of the region that offer it (RV(zones)).
    type: bool
    default: false
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - hpcops.aws_hpc.attributes.info_module
  - hpcops.aws_hpc.attributes.idempotent_not_modify_state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: amazon.aws.ec2_instance_info
"""

EXAMPLES = r"""
- name: Check the instance types of every tier against the region's offerings
  hpcops.aws_hpc.instance_type_info:
    instance_types: [z1d.large, m5.xlarge, c5.xlarge]
  register: _types

- name: Fail naming the types the region does not offer
  ansible.builtin.fail:
    msg: "{{ _types.message }}"
  when: not _types.all_offered

- name: Where can c5n.18xlarge run?
  hpcops.aws_hpc.instance_type_info:
    instance_types: [c5n.18xlarge]
    zones: true
    region: eu-west-1
  register: _c5n

- name: Show the zones
  ansible.builtin.debug:
    msg: "{{ _c5n.zones['c5n.18xlarge'] | default([]) }}"
"""

RETURN = r"""
region:
  description: The region that was asked.
  returned: always
  type: str
  sample: us-east-1
offered:
  description: The types of O(instance_types) the region offers, in the order given.
  returned: always
  type: list
  elements: str
  sample: [m5.xlarge]
not_offered:
  description: The types of O(instance_types) the region does not offer, in the order given.
  returned: always
  type: list
  elements: str
  sample: [m5.gigantic]
all_offered:
  description: Whether the region offers every type of O(instance_types) (V(false) when none was given).
  returned: always
  type: bool
  sample: false
message:
  description:
    - Names the types RV(not_offered) and the region (or says that O(instance_types) names none); empty when
      RV(all_offered=true).
  returned: always
  type: str
  sample: "instance type m5.gigantic is not offered in us-east-1 (DescribeInstanceTypeOfferings lists no such
    type there): check the spelling, or choose a type the region offers"
zones:
  description:
    - With O(zones=true), each offered type and the availability zones that offer it (sorted); empty otherwise.
  returned: always
  type: dict
  sample: {"m5.xlarge": ["us-east-1a", "us-east-1b", "us-east-1c"]}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import client_from_module, paginate, run_module
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._instance_types import (
    LOCATION_REGION,
    LOCATION_ZONE,
    not_offered_message,
    offering_requests,
    summarize,
)


def offerings(ec2, region, instance_types, location_type):
    """Every offering of ``instance_types`` of ``location_type`` (AWS failures raise AWSCallError)."""
    found = []
    for kwargs in offering_requests(instance_types, location_type):
        what = "look up the %s offerings of %s in %s" % (location_type, ", ".join(kwargs["Filters"][0]["Values"]),
                                                         region)
        found.extend(paginate(what, ec2, "describe_instance_type_offerings", "InstanceTypeOfferings", **kwargs))
    return found


def lookup(module, ec2):
    """The module's result."""
    types = module.params["instance_types"]
    region = module.params.get("region") or ec2.meta.region_name
    by_region = offerings(ec2, region, types, LOCATION_REGION)
    by_zone = None
    if module.params["zones"]:
        offered = summarize(types, by_region)["offered"]
        by_zone = offerings(ec2, region, offered, LOCATION_ZONE) if offered else []
    result = summarize(types, by_region, by_zone)
    message = not_offered_message(result["not_offered"], region)
    if not result["offered"] and not result["not_offered"]:
        message = "instance_types names no instance type"
    return dict(changed=False, region=region, message=message, **result)


def main():
    argument_spec = dict(
        instance_types=dict(type="list", elements="str", required=True),
        zones=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    ec2 = client_from_module(module, "ec2")
    run_module(module, lambda: lookup(module, ec2))


if __name__ == "__main__":
    main()
