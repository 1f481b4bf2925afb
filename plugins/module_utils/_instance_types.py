# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which EC2 instance types a region offers (private: not a public API).

Pure logic behind ``hpcops.aws_hpc.instance_type_info``: the filters of ``DescribeInstanceTypeOfferings`` and the
summary of its answer. An instance type a region does not offer (a typo such as ``m5.gigantic``, or a type of
another region) is caught before any launch template is written with it.
"""

from __future__ import annotations

# Values of one filter of one DescribeInstanceTypeOfferings call; more types are asked in several calls.
FILTER_CHUNK = 100
LOCATION_REGION = "region"
LOCATION_ZONE = "availability-zone"


def unique(values):
    """The values in their first order, without repeats or empty ones."""
    seen = []
    for value in values or []:
        name = (value or "").strip()
        if name and name not in seen:
            seen.append(name)
    return seen


def offering_requests(instance_types, location_type=LOCATION_REGION):
    """The keyword arguments of each DescribeInstanceTypeOfferings call that asks about ``instance_types``."""
    types = unique(instance_types)
    return [
        {"LocationType": location_type,
         "Filters": [{"Name": "instance-type", "Values": types[start:start + FILTER_CHUNK]}]}
        for start in range(0, len(types), FILTER_CHUNK)
    ]


def summarize(instance_types, region_offerings, zone_offerings=None):
    """The module's result fields from the offerings AWS returned.

    ``region_offerings`` are the ``InstanceTypeOfferings`` items of LocationType ``region``; ``zone_offerings``
    (or None when zones were not asked) those of LocationType ``availability-zone``.
    """
    requested = unique(instance_types)
    offered_set = {item.get("InstanceType") for item in region_offerings or []}
    offered = [name for name in requested if name in offered_set]
    not_offered = [name for name in requested if name not in offered_set]
    zones = {}
    if zone_offerings is not None:
        zones = {name: [] for name in offered}
        for item in zone_offerings:
            name = item.get("InstanceType")
            if name in zones and item.get("Location") not in zones[name]:
                zones[name].append(item.get("Location"))
        zones = {name: sorted(found) for name, found in zones.items()}
    return {"offered": offered, "not_offered": not_offered, "all_offered": not not_offered and bool(requested),
            "zones": zones}


def not_offered_message(not_offered, region):
    """Why the types are refused, naming them and the region; empty when every type is offered."""
    if not not_offered:
        return ""
    names = ", ".join(not_offered)
    kind = "instance type %s is" if len(not_offered) == 1 else "instance types %s are"
    return ("%s not offered in %s (DescribeInstanceTypeOfferings lists no such type there): check the "
            "spelling, or choose a type the region offers" % (kind % names, region))
