# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the hpc_ami_info module (private: not a public API).

Which AMI a tier launches from: the order in which sources are tried, which image of a source
wins, and the explanation when none matches. The module does the EC2 calls.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import CLUSTER_TAG, IMAGE_TAG, ROLE_TAG

SOURCE_BAKED = "baked"
SOURCE_IMAGE_ID = "image_id"
SOURCE_NAME_FILTER = "name_filter"

BAKE_HINT = "Set image_id or name_filter, or bake an image with playbooks/bake.yml."

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def tag_dict(image):
    """The tags of an EC2 image as a dict, keys and values in their original case."""
    return {t["Key"]: t.get("Value", "") for t in image.get("Tags") or []}


def creation_time(image):
    """The image's CreationDate as an aware datetime (the epoch when missing or unreadable)."""
    raw = image.get("CreationDate")
    if not raw:
        return _EPOCH
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _EPOCH
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def is_available(image):
    return image.get("State") == "available"


def newest(images):
    """The newest available image by CreationDate, None when there is none.

    Ties (images published in the same second) go to the greatest name, since published image
    names carry their date, then to the greatest image id, so the answer is stable.
    """
    candidates = [i for i in images if is_available(i)]
    if not candidates:
        return None
    return max(candidates, key=lambda i: (creation_time(i), i.get("Name") or "", i.get("ImageId") or ""))


def matches_cluster(tags, cluster):
    """A baked image serves ``cluster`` when it carries no hpc:cluster tag or one equal to it."""
    if not cluster:
        return True
    return CLUSTER_TAG not in tags or tags[CLUSTER_TAG] == cluster


def is_baked_for(image, role, cluster=None):
    """Whether ``image`` is a baked image of tier ``role`` usable by ``cluster``."""
    tags = tag_dict(image)
    return tags.get(ROLE_TAG) == role and IMAGE_TAG in tags and matches_cluster(tags, cluster)


def newest_baked(images, role, cluster=None):
    return newest([i for i in images if is_baked_for(i, role, cluster)])


def baked_filters(role):
    """EC2 DescribeImages filters narrowing the account's own images to baked ones of ``role``."""
    return [
        {"Name": f"tag:{ROLE_TAG}", "Values": [role]},
        {"Name": "tag-key", "Values": [IMAGE_TAG]},
        {"Name": "state", "Values": ["available"]},
    ]


def name_filters(pattern):
    return [{"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]}]


def resolution_order(prefer_baked, image_id, name_filter):
    """The sources to try, in order."""
    order = []
    if prefer_baked:
        order.append(SOURCE_BAKED)
    if image_id:
        order.append(SOURCE_IMAGE_ID)
    if name_filter:
        order.append(SOURCE_NAME_FILTER)
    return order


def image_platform(image):
    """``windows`` or ``linux``."""
    if (image.get("Platform") or "").lower() == "windows":
        return "windows"
    if (image.get("PlatformDetails") or "").lower().startswith("windows"):
        return "windows"
    return "linux"


def describe_image(image, source):
    """The module's result for the chosen image."""
    return {
        "image_id": image.get("ImageId"),
        "name": image.get("Name"),
        "creation_date": image.get("CreationDate"),
        "source": source,
        "platform": image_platform(image),
        "tags": tag_dict(image),
        "owner_id": image.get("OwnerId"),
        "architecture": image.get("Architecture"),
    }


def empty_description():
    """The module's result fields when no image qualifies (an ``_info`` module returns empty, not a failure)."""
    return {"image_id": "", "name": "", "creation_date": "", "source": "", "platform": "", "tags": {},
            "owner_id": "", "architecture": ""}


def baked_description(role, cluster=None):
    text = f"baked AMI tagged {ROLE_TAG}={role} (and {IMAGE_TAG})"
    if cluster:
        text += f" with {CLUSTER_TAG}={cluster} or no {CLUSTER_TAG} tag"
    return text


def image_id_failure(role, image_id, region, state=None):
    """The message when the given image_id is missing or not available."""
    if state is None:
        return (f"image_id {image_id} given for role {role} does not exist in {region} "
                "(or is not visible to this account).")
    return f"image_id {image_id} given for role {role} is not available in {region} (state: {state})."


def failure_message(role, region, *, prefer_baked, image_id, name_filter, owners, cluster=None):
    """Why no source yielded an image (the module's ``reason``): names the role, what was tried and what to set."""
    tried = []
    if prefer_baked:
        tried.append(f"no {baked_description(role, cluster)} owned by this account")
    else:
        tried.append("baked AMIs not considered (prefer_baked=false)")
    if image_id:
        tried.append(f"image_id {image_id} not usable")
    else:
        tried.append("image_id not given")
    if name_filter:
        owner_text = ", ".join(owners or []) or "any owner"
        tried.append(f"name filter '{name_filter}' owned by {owner_text} matched nothing in {region}")
    else:
        tried.append("name_filter not given")
    return f"No AMI found for role {role} in {region}. Tried: {'; '.join(tried)}. {BAKE_HINT}"
