# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The EC2 instance types the pcluster_cluster module accepts before any AWS call (private: not a public API).

Data only, plus the one check that reads it: an instance type whose family is not listed, or whose size is
not a known size, is refused; ``pcluster``'s own validators then check the type against the region's
offerings in the dry run.
"""

from __future__ import annotations

import re

# EC2 instance families (the part before the dot), grouped by their first letter.
INSTANCE_FAMILIES = frozenset(
    [
        "a1",
        "c1", "c3", "c4", "c5", "c5a", "c5ad", "c5d", "c5n", "c6a", "c6g", "c6gd", "c6gn", "c6i", "c6id", "c6in",
        "c7a", "c7g", "c7gd", "c7gn", "c7i", "c7i-flex", "c8g", "c8gd",
        "d2", "d3", "d3en", "dl1", "dl2q",
        "f1", "f2",
        "g3", "g3s", "g4ad", "g4dn", "g5", "g5g", "g6", "g6e", "gr6",
        "h1", "hpc6a", "hpc6id", "hpc7a", "hpc7g",
        "i2", "i3", "i3en", "i4g", "i4i", "i7ie", "i8g", "im4gn", "inf1", "inf2", "is4gen",
        "m1", "m2", "m3", "m4", "m5", "m5a", "m5ad", "m5d", "m5dn", "m5n", "m5zn", "m6a", "m6g", "m6gd", "m6i",
        "m6id", "m6idn", "m6in", "m7a", "m7g", "m7gd", "m7i", "m7i-flex", "m8g", "m8gd", "mac1", "mac2",
        "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en",
        "r3", "r4", "r5", "r5a", "r5ad", "r5b", "r5d", "r5dn", "r5n", "r6a", "r6g", "r6gd", "r6i", "r6id", "r6idn",
        "r6in", "r7a", "r7g", "r7gd", "r7i", "r7iz", "r8g", "r8gd",
        "t1", "t2", "t3", "t3a", "t4g", "trn1", "trn1n", "trn2",
        "vt1",
        "x1", "x1e", "x2gd", "x2idn", "x2iedn", "x2iezn", "x8g",
        "z1d",
    ]
)
INSTANCE_SIZE = re.compile(r"^(nano|micro|small|medium|large|xlarge|[1-9][0-9]?xlarge|metal|metal-[0-9]+xl)$")
NOT_AN_INSTANCE_TYPE = "is not an EC2 instance type such as c5.large"


def instance_type_problem(value):
    """Why ``value`` is not a known EC2 instance type ('' when it is one)."""
    if not isinstance(value, str) or "." not in value:
        return NOT_AN_INSTANCE_TYPE
    family, _dot, size = value.partition(".")
    if family.startswith("u-") or family.startswith("u7"):  # high-memory types: u-6tb1.metal, u7i-12tb.224xlarge
        return "" if size else NOT_AN_INSTANCE_TYPE
    if family not in INSTANCE_FAMILIES:
        return f"has an unknown instance family '{family}'"
    if not INSTANCE_SIZE.match(size):
        return f"has an unknown instance size '{size}'"
    return ""
