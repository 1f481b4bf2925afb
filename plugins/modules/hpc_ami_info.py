#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: hpc_ami_info
short_description: Resolve the AMI an HPC tier launches from
version_added: 0.1.0
description:
  - Finds the AMI that the instances of one tier (O(role)) launch from, trying in this order.
  - First, when O(prefer_baked=true), the newest available AMI owned by this account (owner C(self)) tagged
    C(hpc:role=<role>) that also carries an C(hpc:image) tag (the images C(playbooks/bake.yml) bakes).
  - Second, O(image_id) when given. It must exist and be available, else the module fails naming it.
  - Third, the newest available AMI whose name matches O(name_filter), owned by one of O(owners).
  - The newest image is the one with the latest C(CreationDate); images created in the same second go to the
    greatest name.
  - When nothing matches, the module does B(not) fail (as other C(_info) modules, it returns an empty result) -
    RV(found) is V(false), RV(image_id) and the other fields are empty, and RV(reason) names the role, says what
    was tried and what to set. A caller that needs an image fails on RV(found) with RV(reason), as the
    C(aws_tier) role does.
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)).
  - This module never changes anything.
author: hpcops developers (@hpcops)
options:
  role:
    description:
      - The tier, matched against the C(hpc:role) tag of baked images, for example V(sqlserver), V(headnode),
        V(computenode) or V(pcluster).
    type: str
    required: true
  cluster:
    description:
      - The cluster the image is for. When given, a baked image qualifies only when its C(hpc:cluster) tag
        equals O(cluster) B(or) it has no C(hpc:cluster) tag at all (an image baked for every cluster).
      - Not used for O(image_id) or O(name_filter).
    type: str
  image_id:
    description:
      - An AMI id to use when no baked image qualifies (or O(prefer_baked=false)).
    type: str
  name_filter:
    description:
      - An AMI name pattern (C(*) matches any characters), for example V(Windows_Server-2016-English-Full-Base-*).
        The newest available match owned by one of O(owners) is used.
    type: str
  owners:
    description:
      - Owners of the images O(name_filter) is matched against - account ids or aliases such as V(amazon),
        V(aws-marketplace), V(microsoft) or V(self).
      - Baked images are always looked up with owner C(self).
    type: list
    elements: str
    default: [amazon]
  prefer_baked:
    description:
      - Look for a baked image first. With V(false), only O(image_id) and O(name_filter) are tried.
    type: bool
    default: true
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - hpcops.aws_hpc.attributes.info_module
  - hpcops.aws_hpc.attributes.idempotent_not_modify_state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: amazon.aws.ec2_ami_info
"""

EXAMPLES = r"""
- name: Resolve the SQL Server image (baked first, then the published SQL Server 2017 image)
  hpcops.aws_hpc.hpc_ami_info:
    role: sqlserver
    cluster: prod
    name_filter: Windows_Server-2016-English-Full-SQL_2017_Standard-*
  register: _sqlserver_ami

- name: Fail with the reason when no image qualifies
  ansible.builtin.fail:
    msg: "{{ _sqlserver_ami.reason }}"
  when: not _sqlserver_ami.found

- name: Launch from it
  ansible.builtin.debug:
    msg: "{{ _sqlserver_ami.image_id }} ({{ _sqlserver_ami.source }}, {{ _sqlserver_ami.platform }})"

- name: Use a pinned image unless a baked one exists
  hpcops.aws_hpc.hpc_ami_info:
    role: headnode
    image_id: ami-0123456789abcdef0

- name: Ignore baked images and take the newest published Windows Server 2016 image
  hpcops.aws_hpc.hpc_ami_info:
    role: computenode
    prefer_baked: false
    name_filter: Windows_Server-2016-English-Full-Base-*
    owners: [amazon]
"""

RETURN = r"""
found:
  description: Whether an image qualified. With V(false) every other field but RV(reason) is empty.
  returned: always
  type: bool
  sample: true
reason:
  description:
    - Why no image qualified, naming the role, what was tried and what to set; empty when RV(found=true).
  returned: always
  type: str
  sample: "No AMI found for role sqlserver in us-east-1. Tried: no baked AMI tagged hpc:role=sqlserver (and
    hpc:image) owned by this account; image_id not given; name filter 'Windows_Server-2099-*' owned by amazon
    matched nothing in us-east-1. Set image_id or name_filter, or bake an image with playbooks/bake.yml."
image_id:
  description: The id of the chosen AMI; empty when RV(found=false).
  returned: always
  type: str
  sample: ami-0123456789abcdef0
name:
  description: The name of the chosen AMI; empty when RV(found=false).
  returned: always
  type: str
  sample: Windows_Server-2016-English-Full-SQL_2017_Standard-2017.10.13
creation_date:
  description: The creation date of the chosen AMI (ISO 8601); empty when RV(found=false).
  returned: always
  type: str
  sample: "2017-10-13T09:12:00.000Z"
source:
  description: Where the AMI came from; empty when RV(found=false).
  returned: always
  type: str
  choices: [baked, image_id, name_filter, ""]
  sample: baked
platform:
  description: The platform of the AMI; empty when RV(found=false).
  returned: always
  type: str
  choices: [windows, linux, ""]
  sample: windows
tags:
  description: The tags of the AMI, keys and values in their original case; empty when RV(found=false).
  returned: always
  type: dict
  sample: {"hpc:role": "sqlserver", "hpc:image": "sqlserver-2017", "hpc:bake-date": "2024-05-01"}
owner_id:
  description: The account that owns the AMI; empty when RV(found=false).
  returned: always
  type: str
  sample: "123456789012"
architecture:
  description: The architecture of the AMI; empty when RV(found=false).
  returned: always
  type: str
  sample: x86_64
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._ami import (
    SOURCE_BAKED,
    SOURCE_IMAGE_ID,
    baked_filters,
    describe_image,
    empty_description,
    failure_message,
    image_id_failure,
    name_filters,
    newest,
    newest_baked,
    resolution_order,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)

_NOT_FOUND = ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable")


class ImageFinder:
    """The EC2 side: AWS failures raise AWSCallError (``run_module`` fails the module once)."""

    def __init__(self, module):
        self.module = module
        self.role = module.params["role"]
        self.ec2 = client_from_module(module, "ec2")
        self.region = module.params.get("region") or self.ec2.meta.region_name

    def what(self, subject):
        return f"look up {subject} for role {self.role} in {self.region}"

    def baked(self, cluster):
        images = paginate(self.what("baked AMIs"), self.ec2, "describe_images", "Images",
                          Owners=["self"], Filters=baked_filters(self.role))
        return newest_baked(images, self.role, cluster)

    def by_id(self, image_id):
        """The given image; a missing or unavailable one fails the module naming it."""
        answer = aws_call(self.what(f"image_id {image_id}"), self.ec2.describe_images, ImageIds=[image_id],
                          ignore=_NOT_FOUND, default={})
        image = next((i for i in answer.get("Images") or [] if i.get("ImageId") == image_id), None)
        if image is None or image.get("State") != "available":
            state = None if image is None else image.get("State")
            raise ModuleFailure(image_id_failure(self.role, image_id, self.region, state))
        return image

    def by_name(self, pattern, owners):
        kwargs = {"Filters": name_filters(pattern)}
        if owners:
            kwargs["Owners"] = owners
        return newest(paginate(self.what(f"AMIs named '{pattern}'"), self.ec2, "describe_images", "Images", **kwargs))


def resolve(module, finder):
    """The module's result: the first source that yields an image, else empty fields and the reason."""
    params = module.params
    for source in resolution_order(params["prefer_baked"], params["image_id"], params["name_filter"]):
        if source == SOURCE_BAKED:
            image = finder.baked(params["cluster"])
        elif source == SOURCE_IMAGE_ID:
            image = finder.by_id(params["image_id"])
        else:
            image = finder.by_name(params["name_filter"], params["owners"])
        if image is not None:
            return dict(changed=False, found=True, reason="", **describe_image(image, source))
    reason = failure_message(
        params["role"],
        finder.region,
        prefer_baked=params["prefer_baked"],
        image_id=params["image_id"],
        name_filter=params["name_filter"],
        owners=params["owners"],
        cluster=params["cluster"],
    )
    return dict(changed=False, found=False, reason=reason, **empty_description())


def main():
    argument_spec = dict(
        role=dict(type="str", required=True),
        cluster=dict(type="str"),
        image_id=dict(type="str"),
        name_filter=dict(type="str"),
        owners=dict(type="list", elements="str", default=["amazon"]),
        prefer_baked=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    finder = ImageFinder(module)
    run_module(module, lambda: resolve(module, finder))


if __name__ == "__main__":
    main()
