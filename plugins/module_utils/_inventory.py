# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the ``hpcops.aws_hpc.hpc_ec2`` inventory plugin (private: not a public API).

Nothing here does I/O: the functions turn DescribeInstances data into lean host records, choose
hostnames, name and sanitise groups, build the EC2 API filters and shape the cache payload. The
plugin does the AWS calls and feeds Ansible's inventory; the unit tests call these directly.
The lean DescribeInstances response parser is in ``_inventory_parser.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import CLUSTER_TAG, ROLE_TAG

ROLE_GROUPS = ("sqlserver", "headnode", "computenode", "pcluster")
PLATFORM_GROUPS = ("windows", "linux")
DEFAULT_STATES = ("pending", "running", "stopping", "stopped")
DEFAULT_HOSTNAMES = ("tag:Name", "private-dns-name", "instance-id")
HOSTVARS_LEVELS = ("lean", "full")
CACHE_FORMAT = 1

# hostnames preference -> field of the (CamelCase) instance
HOSTNAME_FIELDS = {
    "instance-id": "InstanceId",
    "private-dns-name": "PrivateDnsName",
    "dns-name": "PublicDnsName",
    "public-dns-name": "PublicDnsName",
    "private-ip-address": "PrivateIpAddress",
    "ip-address": "PublicIpAddress",
    "public-ip-address": "PublicIpAddress",
}

# ansible_host source -> field of the instance
ANSIBLE_HOST_FIELDS = {
    "private_ip_address": "PrivateIpAddress",
    "public_ip_address": "PublicIpAddress",
    "private_dns_name": "PrivateDnsName",
    "public_dns_name": "PublicDnsName",
    "instance_id": "InstanceId",
}

_INVALID_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


class InventoryOptionError(ValueError):
    """An option value is wrong; ``option`` names it, the message says why."""

    def __init__(self, option, message):
        super(InventoryOptionError, self).__init__("option %s: %s" % (option, message))
        self.option = option


# ------------------------------------------------------------------ options

def build_filters(filters=None, cluster=None):
    """Return the DescribeInstances ``Filters`` list for the ``filters`` and ``cluster`` options.

    Values may be scalars or lists; booleans become ``true``/``false`` as the API expects. Unless
    ``instance-state-name`` is given, only pending, running, stopping and stopped instances are
    listed. ``cluster`` becomes a server-side ``tag:hpc:cluster`` filter.
    """
    filters = {} if filters is None else filters
    if not isinstance(filters, dict):
        raise InventoryOptionError("filters", "must be a dictionary of EC2 filter names to values, got %s"
                                   % type(filters).__name__)
    merged = {}
    for name, value in filters.items():
        if not isinstance(name, str) or not name:
            raise InventoryOptionError("filters", "filter names must be non-empty strings, got %r" % (name,))
        merged[name] = _filter_values(name, value)
    if cluster:
        if not isinstance(cluster, str):
            raise InventoryOptionError("cluster", "must be a string, got %s" % type(cluster).__name__)
        key = "tag:" + CLUSTER_TAG
        if key in merged and merged[key] != [cluster]:
            raise InventoryOptionError("cluster", "%r conflicts with filters[%r] = %r" % (cluster, key, merged[key]))
        merged[key] = [cluster]
    if "instance-state-name" not in merged:
        merged["instance-state-name"] = list(DEFAULT_STATES)
    return [{"Name": name, "Values": merged[name]} for name in sorted(merged)]


def _filter_values(name, value):
    values = value if isinstance(value, (list, tuple)) else [value]
    result = []
    for item in values:
        if isinstance(item, bool):
            result.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            result.append(str(item))
        else:
            raise InventoryOptionError("filters", "value of %r must be a string, number or list of them, got %r"
                                       % (name, item))
    if not result:
        raise InventoryOptionError("filters", "%r has no values" % name)
    return result


def validate_hostnames(hostnames):
    """Check the ``hostnames`` preference list; return it as a tuple of strings."""
    if hostnames is None:
        return DEFAULT_HOSTNAMES
    if not isinstance(hostnames, (list, tuple)) or not hostnames:
        raise InventoryOptionError("hostnames", "must be a non-empty list")
    for pref in hostnames:
        if not isinstance(pref, str):
            raise InventoryOptionError("hostnames", "entries must be strings, got %r" % (pref,))
        if pref.startswith("tag:"):
            if len(pref) == 4:
                raise InventoryOptionError("hostnames", "%r names no tag key" % pref)
        elif pref not in HOSTNAME_FIELDS:
            raise InventoryOptionError("hostnames", "unknown entry %r; use tag:<key> or one of %s"
                                       % (pref, ", ".join(sorted(HOSTNAME_FIELDS))))
    return tuple(hostnames)


def validate_ansible_host(sources):
    """Check the ``ansible_host`` source list (an empty list means: do not set ``ansible_host``)."""
    if sources is None:
        return ("private_ip_address",)
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, (list, tuple)):
        raise InventoryOptionError("ansible_host", "must be a list of sources")
    for source in sources:
        if source not in ANSIBLE_HOST_FIELDS:
            raise InventoryOptionError("ansible_host", "unknown source %r; use one of %s"
                                       % (source, ", ".join(sorted(ANSIBLE_HOST_FIELDS))))
    return tuple(sources)


def validate_regions(regions, default_region=None):
    """Return the regions to query: the option, else the session's default region."""
    if regions is None or regions == []:
        if not default_region:
            raise InventoryOptionError("regions", "is empty and no default region is configured "
                                       "(set regions, region, AWS_REGION or a profile region)")
        return [str(default_region)]
    if not isinstance(regions, (list, tuple)):
        raise InventoryOptionError("regions", "must be a list of region names")
    result = []
    for name in regions:
        if not isinstance(name, str) or not re.match(r"^[a-z0-9-]+$", name):
            raise InventoryOptionError("regions", "invalid region name %r" % (name,))
        # a plain str: option values may carry Ansible's data tags (origin, template trust), and
        # the region goes into every host's vars and into the cache
        region = name.encode("utf-8").decode("utf-8")
        if region not in result:
            result.append(region)
    return result


def validate_region(name, option="region"):
    """Check one region name (the ``region`` option); return it as a plain ``str`` (None when unset)."""
    if name is None or name == "":
        return None
    if not isinstance(name, str) or not re.match(r"^[a-z0-9-]+$", name):
        raise InventoryOptionError(option, "invalid region name %r" % (name,))
    return name.encode("utf-8").decode("utf-8")


# ------------------------------------------------------------------ credentials

CREDENTIAL_KEYS = ("access_key", "secret_key", "session_token")


def choose_credentials(values, sources):
    """Decide which credentials the plugin uses, from option values and where each value came from.

    ``values`` maps ``profile``, ``access_key``, ``secret_key`` and ``session_token`` to their values;
    ``sources`` maps the same names to ``"file"`` (set in the inventory file), ``"env:<NAME>"`` (set
    by that environment variable) or None (unset). In order:

    1. keys set in the inventory file (``access_key`` and ``secret_key``, with ``session_token`` when
       given there too); a ``profile`` in the same file is an error, since the two exclude each other;
    2. a ``profile`` set in the inventory file;
    3. a profile from the environment (``AWS_PROFILE``, ``AWS_DEFAULT_PROFILE``);
    4. keys from the environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and
       ``AWS_SESSION_TOKEN``, or the older ``AWS_ACCESS_KEY``/``AWS_SECRET_KEY``);
    5. nothing: boto3's own chain (shared files, SSO, container or instance role).

    Returns ``{"profile", "access_key", "secret_key", "session_token", "description"}``; the
    description says where the credentials come from, for error messages, and holds no value
    but a profile name.
    """
    def origin(name):
        return sources.get(name) if values.get(name) else None

    file_keys = [name for name in CREDENTIAL_KEYS if origin(name) == "file"]
    chosen = {"profile": None, "access_key": None, "secret_key": None, "session_token": None}
    if file_keys:
        if origin("profile") == "file":
            raise InventoryOptionError("profile", "cannot be combined with %s in the inventory file; "
                                       "set one or the other" % "/".join(file_keys))
        for name in ("access_key", "secret_key"):
            if origin(name) != "file":
                raise InventoryOptionError(name, "must be set in the inventory file together with %s"
                                           % "/".join(n for n in file_keys if n != name))
        chosen.update({name: values[name] for name in file_keys})
        chosen["description"] = "options %s of the inventory file" % "/".join(file_keys)
        return chosen
    profile_origin = origin("profile")
    if profile_origin:
        chosen["profile"] = values["profile"]
        where = "the inventory file" if profile_origin == "file" else profile_origin[4:]
        chosen["description"] = "profile %r (from %s)" % (str(values["profile"]), where)
        return chosen
    env_keys = [name for name in ("access_key", "secret_key") if origin(name)]
    if env_keys:
        if len(env_keys) == 1:
            other = "secret_key" if env_keys[0] == "access_key" else "access_key"
            raise InventoryOptionError(other, "is not set although %s is (from %s); set both"
                                       % (env_keys[0], origin(env_keys[0])[4:]))
        used = [name for name in CREDENTIAL_KEYS if origin(name)]
        chosen.update({name: values[name] for name in used})
        chosen["description"] = "the environment (%s)" % ", ".join(origin(name)[4:] for name in used)
        return chosen
    chosen["description"] = "boto3's default credential chain"
    return chosen


def credentials_identity(credentials, assume_role_arn=None):
    """What tells one AWS identity from another in the cache fingerprint, with no secret in it.

    The profile name and the role ARN are not secrets; the access key id is hashed; the secret key
    and the session token are left out (a refreshed token is the same identity).
    """
    access_key = credentials.get("access_key")
    digest = hashlib.sha256(("hpc_ec2:" + access_key).encode("utf-8")).hexdigest()[:16] if access_key else None
    return {"profile": credentials.get("profile"), "access_key_sha256": digest,
            "assume_role_arn": assume_role_arn or None}


def redact(text, secrets):
    """``text`` with every given secret value replaced by ``********`` (empty values are ignored)."""
    text = str(text)
    for secret in secrets:
        if secret and isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


def options_fingerprint(**options):
    """A short stable digest of the options that shape host records (part of the cache payload)."""
    blob = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------ host records

def iso_timestamp(value):
    """Render a launch time (datetime or AWS ISO 8601 string) as ``YYYY-MM-DDTHH:MM:SS+00:00``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    text = str(value)
    # The API's own form is 2024-05-01T12:00:00.000Z: avoid a datetime round trip for it.
    if len(text) >= 20 and text[10] == "T" and text.endswith("Z"):
        return text[:19] + "+00:00"
    try:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return text
    return parsed.astimezone(timezone.utc).isoformat()


def tags_dict(instance):
    """The instance's tags as ``{key: value}``, keys and values in their original case."""
    return {t.get("Key", ""): t.get("Value", "") for t in instance.get("Tags") or ()}


def platform_of(instance):
    """``windows`` or ``linux`` (EC2 only sets Platform for Windows; moto says Linux/UNIX)."""
    return "windows" if (instance.get("Platform") or "").lower() == "windows" else "linux"


def sanitize_group_name(name):
    """Make ``name`` a safe Ansible group name: letters, digits and ``_`` only, not starting with a digit."""
    safe = _INVALID_GROUP_CHARS.sub("_", str(name))
    if not safe or safe[0].isdigit():
        safe = "_" + safe
    return safe


def host_groups(tags, platform):
    """The built-in groups of a host: its ``hpc:role`` tag value (sanitised) and its platform."""
    groups = []
    role = tags.get(ROLE_TAG)
    if role:
        groups.append(sanitize_group_name(role))
    groups.append(platform)
    return groups


def preferred_hostname(instance, tags, hostnames):
    """The first non-empty name from the ``hostnames`` preferences, else the instance id."""
    for pref in hostnames:
        value = tags.get(pref[4:]) if pref.startswith("tag:") else instance.get(HOSTNAME_FIELDS[pref])
        if value:
            return value
    return instance["InstanceId"]


def ansible_host_of(instance, sources):
    """The first non-empty address from the ``ansible_host`` sources (None when there is none)."""
    for source in sources:
        value = instance.get(ANSIBLE_HOST_FIELDS[source])
        if value:
            return value
    return None


def host_record(instance, region, hostnames=DEFAULT_HOSTNAMES, ansible_host=("private_ip_address",),
                hostvars_level="lean"):
    """Turn one instance (CamelCase, from either parser) into a host record.

    A record is ``{"name": str, "groups": [str], "vars": {...}}``; the lean vars are
    ``ec2_instance_id``, ``ec2_image_id``, ``ec2_instance_type``, ``ec2_launch_time``, ``ec2_state``,
    ``ec2_tags`` (original case), ``ec2_region``, ``ec2_availability_zone``,
    ``ec2_private_ip_address``, ``ec2_platform`` and, when an address is found, ``ansible_host``.
    ``hostvars_level="full"`` adds every other attribute as ``ec2_<snake_case_name>``.
    Nothing connection-specific (ansible_connection, ansible_port, ...) is ever set.
    """
    tags = tags_dict(instance)
    platform = platform_of(instance)
    hostvars = {
        "ec2_instance_id": instance["InstanceId"],
        "ec2_image_id": instance.get("ImageId"),
        "ec2_instance_type": instance.get("InstanceType"),
        "ec2_launch_time": iso_timestamp(instance.get("LaunchTime")),
        "ec2_state": (instance.get("State") or {}).get("Name"),
        "ec2_tags": tags,
        "ec2_region": region,
        "ec2_availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
        "ec2_private_ip_address": instance.get("PrivateIpAddress") or None,
        "ec2_platform": platform,
    }
    if hostvars_level == "full":
        for key, value in instance.items():
            if key == "Tags":
                continue
            name = "ec2_" + camel_to_snake(key)
            if name not in hostvars:
                hostvars[name] = to_plain(value)
    address = ansible_host_of(instance, ansible_host)
    if address:
        hostvars["ansible_host"] = address
    return {
        "name": preferred_hostname(instance, tags, hostnames),
        "groups": host_groups(tags, platform),
        "vars": hostvars,
    }


def unique_hostnames(records):
    """Give every host a unique name: a name claimed by two or more instances falls back to their ids.

    The rule does not depend on the order the API returned the instances in. Records are updated
    in place and returned, sorted by name for a stable inventory.
    """
    counts = {}
    for record in records:
        counts[record["name"]] = counts.get(record["name"], 0) + 1
    for record in records:
        if counts[record["name"]] > 1:
            record["name"] = record["vars"]["ec2_instance_id"]
    records.sort(key=lambda r: r["name"])
    return records


def build_records(instances_by_region, hostnames=DEFAULT_HOSTNAMES, ansible_host=("private_ip_address",),
                  hostvars_level="lean"):
    """Host records for ``{region: [instance, ...]}``, with unique hostnames."""
    records = []
    for region, instances in instances_by_region.items():
        for instance in instances:
            records.append(host_record(instance, region, hostnames, ansible_host, hostvars_level))
    return unique_hostnames(records)


def instances_of(pages):
    """Flatten DescribeInstances pages (either parser) into their instances."""
    result = []
    for page in pages:
        for reservation in page.get("Reservations") or ():
            result.extend(reservation.get("Instances") or ())
    return result


# ------------------------------------------------------------------ cache payload

def cache_payload(records, fingerprint):
    """What the plugin stores in the inventory cache: the finished host records, no API output."""
    return {"format": CACHE_FORMAT, "fingerprint": fingerprint, "hosts": records}


def records_from_cache(payload, fingerprint):
    """The host records of a cache payload, or None when it is unusable (other format or options)."""
    if not isinstance(payload, dict):
        return None
    if payload.get("format") != CACHE_FORMAT or payload.get("fingerprint") != fingerprint:
        return None
    hosts = payload.get("hosts")
    return hosts if isinstance(hosts, list) else None


# ------------------------------------------------------------------ helpers

_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")


def camel_to_snake(name):
    """``PrivateIpAddress`` -> ``private_ip_address``; ``EbsOptimized`` -> ``ebs_optimized``."""
    return _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()


def to_plain(value):
    """A JSON-friendly copy of a botocore value: snake_case keys (tag lists left alone), ISO dates."""
    if isinstance(value, dict):
        return {camel_to_snake(k): (v if k == "Tags" else to_plain(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, datetime):
        return iso_timestamp(value)
    return value
