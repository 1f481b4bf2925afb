# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input checks of the portal tier (private: not a public API).

Pure functions, no I/O: each takes one group of the ``portal`` role's inputs (the keys of the
``portal_check`` module's options, which are the role variables without the ``portal_`` prefix) and
returns a list of problems, one string each, that starts with the role variable (``portal_...``),
says what is wrong and states the rule. They never raise for bad input and never put the efadmin
password into a message.
"""

from __future__ import annotations

import ipaddress
import json
import re

# --- efadmin password -------------------------------------------------------------------------------
# Seed 001 (the AWS HPC blog "Highly available HPC infrastructure on AWS",
# https://aws.amazon.com/blogs/hpc/highly-available-hpc-infrastructure-on-aws): "The password must have letters,
# numbers, and one special character". Neither the blog nor EnginFrame gives a length: 8 is ours.
PASSWORD_MIN_LENGTH = 8
PASSWORD_POLICY = ("letters, digits and at least one special character (seed 001's rule), at least "
                   f"{PASSWORD_MIN_LENGTH} characters (our minimum) of printable ASCII without spaces (ours: the "
                   "password goes into efinstall.config)")
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")
# A Linux user name as useradd accepts it by default (NAME_REGEX of adduser.conf)
_LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def password_problems(password, key="efadminPassword"):
    """Problems of the efadmin password against the policy; the password itself never appears."""
    where = f"portal_efadmin_secret_key: the password under key {key!r} of the efadmin secret"
    if not isinstance(password, str) or not password:
        return [f"{where} is empty; it needs {PASSWORD_POLICY}"]
    missing = []
    if not any(char.isascii() and char.isalpha() for char in password):
        missing.append("a letter")
    if not any(char.isascii() and char.isdigit() for char in password):
        missing.append("a digit")
    if not any(char.isascii() and not char.isalnum() and not char.isspace() for char in password):
        missing.append("a special character")
    faults = [f"lacks {' and '.join(missing)}"] if missing else []
    if len(password) < PASSWORD_MIN_LENGTH:
        faults.append(f"is shorter than {PASSWORD_MIN_LENGTH} characters")
    if not _PRINTABLE.match(password):
        faults.append("holds a space, a control character or a non-ASCII character")
    if not faults:
        return []
    return [f"{where} {', '.join(faults)}; the policy is {PASSWORD_POLICY}"]


def efadmin_user_problems(user):
    if isinstance(user, str) and _LINUX_USER.match(user):
        return []
    return [f"portal_efadmin_user: {user!r} is not a Linux user name (a lowercase letter or _, then up to 31 "
            "lowercase letters, digits, _ or -)"]


def secret_password(secret_id, key, secret_value):
    """``(password, problems)`` from a GetSecretValue answer: SecretString must be a JSON object with ``key``.

    The problems name ``portal_efadmin_secret_id`` or ``portal_efadmin_secret_key`` and never echo the value.
    """
    seed = "as seed 001 creates it: --secret-string '{\"efadminPassword\": \"...\"}'"
    if not isinstance(key, str) or not key:
        return None, ["portal_efadmin_secret_key: is empty; name the JSON key of the secret that holds the "
                      "efadmin password (efadminPassword in seed 001)"]
    text = (secret_value or {}).get("SecretString")
    if text is None:
        what = "holds a SecretBinary" if (secret_value or {}).get("SecretBinary") is not None else "has no value"
        return None, [f"portal_efadmin_secret_id: secret {secret_id} {what}; it must hold a SecretString that is "
                      f"a JSON object with the key {key!r}, {seed}"]
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return None, [f"portal_efadmin_secret_id: the SecretString of secret {secret_id} is not a JSON object; it "
                      f"must be a JSON object with the key {key!r}, {seed}"]
    if key not in data:
        return None, [f"portal_efadmin_secret_key: the secret {secret_id} has no key {key!r} (its keys: "
                      f"{', '.join(sorted(map(str, data))) or 'none'}); set portal_efadmin_secret_key to the key "
                      "that holds the efadmin password"]
    password = data[key]
    if not isinstance(password, str) or not password:
        return None, [f"portal_efadmin_secret_key: the value under key {key!r} of secret {secret_id} is not a "
                      "non-empty string"]
    return password, []


# --- shared helpers -------------------------------------------------------------------------------------
def number(value):
    """``value`` as a float when it is a number or a numeric string (not a bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def whole(value):
    """``value`` as an int when it is a whole number (or such a string), else None."""
    found = number(value)
    return int(found) if found is not None and found.is_integer() else None


def truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def unknown_keys(group, values, known):
    """A problem per key of ``values`` the group does not know (a typo would otherwise be ignored)."""
    return [f"portal_{group}: unknown key {name!r} (known keys: {', '.join(sorted(known))})"
            for name in sorted(set(values or {}) - set(known))]


def _port_problem(variable, value, low=1):
    port = whole(value)
    if port is None or not low <= port <= 65535:
        return [f"{variable}: {value!r} is not a port number from {low} to 65535"]
    return []


# --- FSx for Lustre ---------------------------------------------------------------------------------------
# Amazon FSx API Reference, CreateFileSystem StorageCapacity
# (https://docs.aws.amazon.com/fsx/latest/APIReference/API_CreateFileSystem.html): SCRATCH_2, PERSISTENT_2 and
# PERSISTENT_1 SSD take 1200, 2400 and increments of 2400 GiB; PERSISTENT_1 HDD increments of 6000 GiB at
# 12 MB/s/TiB and of 1800 GiB at 40 MB/s/TiB; SCRATCH_1 1200, 2400 and increments of 3600 GiB.
# CreateFileSystemLustreConfiguration PerUnitStorageThroughput
# (https://docs.aws.amazon.com/fsx/latest/APIReference/API_CreateFileSystemLustreConfiguration.html): required for
# PERSISTENT_1 and PERSISTENT_2; PERSISTENT_1 SSD 50, 100, 200; PERSISTENT_1 HDD 12, 40; PERSISTENT_2 125, 250,
# 500, 1000 MB/s/TiB.
FSX_DEPLOYMENT_TYPES = ("SCRATCH_1", "SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2")
FSX_STORAGE_TYPES = ("SSD", "HDD")
FSX_THROUGHPUT = {("PERSISTENT_1", "SSD"): (50, 100, 200), ("PERSISTENT_1", "HDD"): (12, 40),
                  ("PERSISTENT_2", "SSD"): (125, 250, 500, 1000)}
FSX_HDD_STEP = {12: 6000, 40: 1800}
FSX_KEYS = ("enabled", "mount_dir", "storage_capacity", "deployment_type", "per_unit_storage_throughput",
            "storage_type")
EFS_KEYS = ("enabled", "mount_dir", "performance_mode", "throughput_mode")
# Amazon EFS User Guide, "Performance modes" and "Throughput modes"
# (https://docs.aws.amazon.com/efs/latest/ug/performance.html), from memory of the page: Elastic throughput is not
# available with Max I/O; Provisioned needs a throughput figure, which the role has no variable for.
EFS_PERFORMANCE_MODES = ("generalPurpose", "maxIO")
EFS_THROUGHPUT_MODES = ("bursting", "elastic")


def fsx_capacity_rule(deployment_type, storage_type, throughput):
    """``(valid(capacity) -> bool, text of the rule)`` for one FSx for Lustre configuration."""
    if deployment_type == "PERSISTENT_1" and storage_type == "HDD":
        step = FSX_HDD_STEP.get(throughput)
        if step is None:
            return None, "PERSISTENT_1 HDD takes multiples of 6000 GiB (12 MB/s/TiB) or of 1800 GiB (40 MB/s/TiB)"
        rule = f"PERSISTENT_1 HDD at {throughput} MB/s/TiB takes multiples of {step} GiB"
        return (lambda size: size % step == 0), rule
    step = 3600 if deployment_type == "SCRATCH_1" else 2400
    return ((lambda size: size in (1200, 2400) or size % step == 0),
            f"{deployment_type} {storage_type} takes 1200, 2400 or a multiple of {step} GiB")


def _fsx_kind_problems(deployment, storage):
    if deployment not in FSX_DEPLOYMENT_TYPES:
        return [f"portal_fsx_deployment_type: {deployment!r} is not one of {', '.join(FSX_DEPLOYMENT_TYPES)}"]
    if storage not in FSX_STORAGE_TYPES:
        return [f"portal_fsx_storage_type: {storage!r} is not one of {', '.join(FSX_STORAGE_TYPES)}"]
    if storage == "HDD" and deployment != "PERSISTENT_1":
        return [f"portal_fsx_storage_type: HDD is only available with deployment type PERSISTENT_1, not {deployment}"]
    return []


def _fsx_types(fsx):
    """Problems of deployment type, storage type and throughput; returns (problems, throughput or None)."""
    deployment, storage = fsx.get("deployment_type", "SCRATCH_2"), fsx.get("storage_type", "SSD")
    problems = _fsx_kind_problems(deployment, storage)
    if problems:
        return problems, None
    raw = fsx.get("per_unit_storage_throughput", 0)
    throughput = whole(raw if raw not in (None, "") else 0)
    allowed = FSX_THROUGHPUT.get((deployment, storage))
    if throughput is None:
        problems = [f"portal_fsx_per_unit_storage_throughput: {raw!r} is not a whole number of MB/s/TiB"]
    elif allowed is None and throughput:
        problems = [f"portal_fsx_per_unit_storage_throughput: {deployment} takes no throughput per unit of storage; "
                    f"set 0 (not set), not {throughput}"]
    elif allowed is not None and throughput not in allowed:
        values = ", ".join(map(str, allowed))
        problems = [f"portal_fsx_per_unit_storage_throughput: {deployment} {storage} needs one of {values} "
                    f"MB/s/TiB, got {throughput}{' (0 = not set)' if not throughput else ''}"]
    return problems, (None if problems else throughput)


def fsx_problems(fsx):
    """Problems of the FSx for Lustre group (nothing when it is disabled, beyond unknown keys)."""
    fsx = fsx or {}
    problems = unknown_keys("fsx", fsx, FSX_KEYS)
    if not truthy(fsx.get("enabled", True)):
        return problems
    found, throughput = _fsx_types(fsx)
    problems += found
    raw = fsx.get("storage_capacity", 1200)
    capacity = whole(raw)
    if capacity is None or capacity <= 0:
        problems.append(f"portal_fsx_storage_capacity: {raw!r} is not a whole number of GiB")
    elif not found:
        valid, rule = fsx_capacity_rule(fsx.get("deployment_type", "SCRATCH_2"), fsx.get("storage_type", "SSD"),
                                        throughput)
        if valid is not None and not valid(capacity):
            problems.append(f"portal_fsx_storage_capacity: {capacity} GiB is not a size FSx for Lustre accepts: "
                            f"{rule}")
    return problems


def efs_problems(efs):
    efs = efs or {}
    problems = unknown_keys("efs", efs, EFS_KEYS)
    if not truthy(efs.get("enabled", True)):
        return problems
    performance, throughput = efs.get("performance_mode", "generalPurpose"), efs.get("throughput_mode", "bursting")
    if performance not in EFS_PERFORMANCE_MODES:
        problems.append(f"portal_efs_performance_mode: {performance!r} is not one of "
                        f"{', '.join(EFS_PERFORMANCE_MODES)}")
    if throughput not in EFS_THROUGHPUT_MODES:
        problems.append(f"portal_efs_throughput_mode: {throughput!r} is not one of {', '.join(EFS_THROUGHPUT_MODES)}"
                        " (provisioned needs a throughput figure the role has no variable for)")
    elif throughput == "elastic" and performance == "maxIO":
        problems.append("portal_efs_throughput_mode: elastic throughput is not available with performance mode "
                        "maxIO; use generalPurpose or bursting")
    return problems


def mount_dir_problems(efs, fsx):
    """Mount dirs of the enabled file systems: absolute, not ``/``, no ``..``, and distinct."""
    problems, seen = [], {}
    for name, group in (("efs", efs or {}), ("fsx", fsx or {})):
        if not truthy(group.get("enabled", True)):
            continue
        variable, path = f"portal_{name}_mount_dir", group.get("mount_dir", f"/{name}")
        if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == "":
            problems.append(f"{variable}: {path!r} must be an absolute path other than /")
            continue
        if ".." in path.split("/") or any(char.isspace() for char in path):
            problems.append(f"{variable}: {path!r} must not hold '..' or spaces")
            continue
        normal = path.rstrip("/")
        for other, other_path in seen.items():
            if normal == other_path or normal.startswith(other_path + "/") or other_path.startswith(normal + "/"):
                problems.append(f"{variable}: {path!r} is the same as or nested with {other} ({other_path}); "
                                "the two file systems need distinct mount dirs")
        seen[variable] = normal
    return problems


# --- Aurora Serverless v2 (aurora-mysql) --------------------------------------------------------------------
# Amazon RDS API Reference, ServerlessV2ScalingConfiguration
# (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ServerlessV2ScalingConfiguration.html): ACUs in
# half-step increments; the largest maximum is 256 for recent Aurora versions, 128 for older ones; the smallest
# minimum is 0 for versions with auto-pause, 0.5 otherwise. The versions (from memory of the Aurora User Guide page
# "Aurora Serverless v2 capacity", https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/
# aurora-serverless-v2.how-it-works.html): Serverless v2 needs Aurora MySQL 3.02.0 or later, 256 ACUs 3.06.0 or
# later, a minimum of 0 ACUs (auto-pause) 3.08.0 or later. CloudFormation AWS::RDS::DBCluster
# ServerlessV2ScalingConfiguration: the maximum must be higher than 0.5.
# CreateDBCluster (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html): MasterUsername
# 1 to 16 letters or numbers, first a letter, not a reserved word of the engine; ModifyDBCluster Port 1150-65535;
# BackupRetentionPeriod 1 to 35 days. CreateDBInstance DBName for MySQL: 1 to 64 letters, digits or underscores,
# first a letter, not a reserved word.
AURORA_VERSION = re.compile(r"^8\.0\.mysql_aurora\.3\.(\d+)\.(\d+)$")
DEFAULT_ENGINE_VERSION = "8.0.mysql_aurora.3.05.2"
SERVERLESS_V2_SINCE, MAX_256_SINCE, ZERO_MIN_SINCE = (3, 2, 0), (3, 6, 0), (3, 8, 0)
DB_KEYS = ("engine_version", "min_capacity", "max_capacity", "name", "master_username", "port", "backup_retention",
           "aurora", "local")
_DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_MASTER_USER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
# Some reserved words of MySQL 8.0 ("Keywords and Reserved Words", https://dev.mysql.com/doc/refman/8.0/en/
# keywords.html; a short list, not all of them), RDS's own administrative account rdsadmin (from memory of the RDS
# User Guide) and root (ours: the local MariaDB's administrator the role logs in as). admin is not reserved.
RESERVED_DB_WORDS = frozenset(("select", "insert", "update", "delete", "create", "drop", "table", "database",
                               "databases", "schema", "grant", "group", "order", "index", "key", "from", "where",
                               "usage", "system", "rank", "rdsadmin", "root"))


def _aurora_version(version):
    match = AURORA_VERSION.match(version or "") if isinstance(version, str) else None
    return (3, int(match.group(1)), int(match.group(2))) if match else None


def _capacity_problems(db, version):
    problems, values = [], {}
    floor = 0.0 if version and version >= ZERO_MIN_SINCE else 0.5
    ceiling = 256.0 if version is None or version >= MAX_256_SINCE else 128.0
    for name, default, low in (("min_capacity", 0.5, floor), ("max_capacity", 2, 1.0)):
        raw, variable = db.get(name, default), f"portal_db_{name}"
        value = number(raw)
        if value is None or not (value * 2).is_integer():
            problems.append(f"{variable}: {raw!r} is not a number of ACUs in steps of 0.5")
        elif not low <= value <= ceiling:
            why = " (0 needs Aurora MySQL 3.08.0 or later)" if name == "min_capacity" and floor else ""
            problems.append(f"{variable}: {raw!r} ACUs is outside {low:g} to {ceiling:g} for engine version "
                            f"{db.get('engine_version', DEFAULT_ENGINE_VERSION)}{why}")
        else:
            values[name] = value
    if len(values) == 2 and values["min_capacity"] > values["max_capacity"]:
        problems.append(f"portal_db_min_capacity: {values['min_capacity']:g} ACUs is more than portal_db_max_capacity "
                        f"({values['max_capacity']:g})")
    return problems


def db_problems(db):
    """Problems of the database group: Aurora Serverless v2 (unless ``aurora`` is false), names, port, retention."""
    db = db or {}
    problems = unknown_keys("db", db, DB_KEYS)
    raw_version = db.get("engine_version", DEFAULT_ENGINE_VERSION)
    version = _aurora_version(raw_version)
    if truthy(db.get("aurora", True)):
        if version is None or version < SERVERLESS_V2_SINCE:
            problems.append(f"portal_db_engine_version: {raw_version!r} is not an Aurora MySQL 3 version that "
                            "Serverless v2 runs (8.0.mysql_aurora.3.02.0 or later)")
        problems += _capacity_problems(db, version)
        problems += _port_problem("portal_db_port", db.get("port", 3306), low=1150)
    else:
        problems += _port_problem("portal_db_port", db.get("port", 3306))
    name = db.get("name", "enginframe")
    if not isinstance(name, str) or not _DB_NAME.match(name) or name.lower() in RESERVED_DB_WORDS:
        problems.append(f"portal_db_name: {name!r} must be 1 to 64 letters, digits or underscores starting with a "
                        "letter, and not a reserved word")
    user = db.get("master_username", "efdbadmin")
    if not isinstance(user, str) or not _MASTER_USER.match(user) or user.lower() in RESERVED_DB_WORDS:
        problems.append(f"portal_db_master_username: {user!r} must be 1 to 16 letters, digits or underscores "
                        "starting with a letter, and not a reserved word (rdsadmin, root, MySQL's reserved words)")
    retention = whole(db.get("backup_retention", 7))
    if retention is None or not 1 <= retention <= 35:
        problems.append(f"portal_db_backup_retention: {db.get('backup_retention')!r} is not a whole number of days "
                        "from 1 to 35")
    return problems


def jdbc_url(host, port, dbname):
    """The JDBC URL of EnginFrame's database (MySQL Connector/J form)."""
    return f"jdbc:mysql://{host}:{int(port)}/{dbname}"


# --- network and instance --------------------------------------------------------------------------------------
NETWORK_KEYS = ("vpc_id", "subnet_ids", "alb_subnet_ids", "alb_ingress_cidrs", "https_port")
INSTANCE_KEYS = ("instance_type", "root_volume_size", "image_id", "key_name")
_VPC = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_AMI = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
# Amazon EBS User Guide, "General Purpose SSD volumes" (https://docs.aws.amazon.com/ebs/latest/userguide/
# general-purpose.html): gp3 volumes are 1 GiB to 16 TiB. The 8 GiB floor is ours (the usual size of an AMI's root).
ROOT_VOLUME_MIN, ROOT_VOLUME_MAX = 8, 16384


def _subnet_list(variable, value, least):
    if not isinstance(value, (list, tuple)) or len(set(value)) < least:
        return [f"{variable}: needs at least {least} distinct subnet id(s), got {value!r}"]
    bad = [item for item in value if not (isinstance(item, str) and _SUBNET.match(item))]
    return [f"{variable}: {', '.join(map(repr, bad))} not a subnet id (subnet-...)"] if bad else []


def network_problems(network, db=None):
    network = network or {}
    problems = unknown_keys("network", network, NETWORK_KEYS)
    if "vpc_id" in network and not (isinstance(network["vpc_id"], str) and _VPC.match(network["vpc_id"])):
        problems.append(f"portal_vpc_id: {network['vpc_id']!r} is not a VPC id (vpc-...); set it or "
                        "portal_foundation.vpc_id")
    # The subnets are checked when given: before the foundation ran they are still unknown (its hpc_foundation fact
    # fills them), and the role leaves them out of the check then.
    if "subnet_ids" in network:
        problems += _subnet_list("portal_subnet_ids", network.get("subnet_ids"), 1)
    # an Application Load Balancer needs subnets in at least two Availability Zones (Elastic Load Balancing,
    # CreateLoadBalancer Subnets, https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/
    # API_CreateLoadBalancer.html)
    if "alb_subnet_ids" in network:
        problems += _subnet_list("portal_alb_subnet_ids", network.get("alb_subnet_ids"), 2)
    cidrs = network.get("alb_ingress_cidrs")
    if not isinstance(cidrs, (list, tuple)) or not cidrs:
        problems.append(f"portal_alb_ingress_cidrs: needs a list of at least one CIDR allowed to reach 443, "
                        f"got {cidrs!r}")
    else:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(str(cidr), strict=True)
            except ValueError as exc:
                problems.append(f"portal_alb_ingress_cidrs: {cidr!r} is not a CIDR ({exc})")
    port = network.get("https_port", 8443)
    found = _port_problem("portal_https_port", port)
    problems += found
    if not found and whole(port) == 22:
        problems.append("portal_https_port: 22 is the portal host's SSH port")
    elif not found and db is not None and truthy(db.get("local")) and whole(port) == whole(db.get("port", 3306)):
        problems.append(f"portal_https_port: {port} is also portal_db_port, and with portal_db_local the database "
                        "listens on the portal host")
    return problems


def instance_problems(instance):
    instance = instance or {}
    problems = unknown_keys("instance", instance, INSTANCE_KEYS)
    kind = instance.get("instance_type", "m5.xlarge")
    if not isinstance(kind, str) or not _INSTANCE_TYPE.match(kind):
        problems.append(f"portal_instance_type: {kind!r} is not an EC2 instance type (family.size, m5.xlarge)")
    raw = instance.get("root_volume_size", 50)
    size = whole(raw)
    if size is None or not ROOT_VOLUME_MIN <= size <= ROOT_VOLUME_MAX:
        problems.append(f"portal_root_volume_size: {raw!r} is not a whole number of GiB from {ROOT_VOLUME_MIN} "
                        f"(ours) to {ROOT_VOLUME_MAX} (gp3's largest)")
    image = instance.get("image_id") or ""
    if image and not (isinstance(image, str) and _AMI.match(image)):
        problems.append(f"portal_image_id: {image!r} is not an AMI id (ami-...); leave it empty to use "
                        "portal_image_name_filter")
    key = instance.get("key_name") or ""
    if not isinstance(key, str) or len(key) > 255:
        problems.append("portal_key_name: must be an EC2 key pair name of at most 255 characters")
    return problems


def input_problems(params):
    """Every problem of the groups that need no AWS call but the certificate's (``params`` are the module's options)."""
    problems = efadmin_user_problems(params.get("efadmin_user", "efadmin"))
    problems += db_problems(params.get("db"))
    problems += efs_problems(params.get("efs"))
    problems += fsx_problems(params.get("fsx"))
    problems += mount_dir_problems(params.get("efs"), params.get("fsx"))
    if params.get("network") is not None:
        problems += network_problems(params.get("network"), params.get("db"))
    if params.get("instance") is not None:
        problems += instance_problems(params.get("instance"))
    return problems
