"""The portal tier's input checks (_portal, _portal_cert): every rule with good and bad values.

Each problem starts with the role variable (portal_...) it is about; the efadmin password never appears in one.
"""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _portal as portal
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _portal_cert as cert


def variables(problems):
    return [problem.split(":", 1)[0] for problem in problems]


# ---------------------------------------------------------------- efadmin password and secret
@pytest.mark.parametrize("password", ["test123456!", "Efadm1n!Pass", "a1-b2c3d4", "x" * 60 + "9#"])
def test_passwords_that_follow_the_policy(password):
    assert portal.password_problems(password) == []


@pytest.mark.parametrize(("password", "fault"), [
    ("abcdefgh!", "lacks a digit"),
    ("12345678!", "lacks a letter"),
    ("abcd12345", "lacks a special character"),
    ("abcdefgh", "lacks a digit and a special character"),
    ("ab1!", "is shorter than 8 characters"),
    ("abcd 1234!", "holds a space"),
    ("abcdé1234!", "non-ASCII"),
    ("abc\t1234!", "control character"),
])
def test_passwords_that_break_the_policy_are_named_but_never_shown(password, fault):
    (problem,) = portal.password_problems(password)
    assert problem.startswith("portal_efadmin_secret_key: the password under key 'efadminPassword'")
    assert fault in problem
    assert "letters, digits and at least one special character" in problem and "our minimum" in problem
    assert password not in problem


@pytest.mark.parametrize("password", ["", None, 12345678])
def test_an_empty_or_odd_password(password):
    assert variables(portal.password_problems(password)) == ["portal_efadmin_secret_key"]


@pytest.mark.parametrize(("user", "ok"), [("efadmin", True), ("_ef-admin1", True), ("EfAdmin", False),
                                          ("1admin", False), ("", False), ("a" * 33, False)])
def test_efadmin_user(user, ok):
    problems = portal.efadmin_user_problems(user)
    assert (problems == []) is ok
    assert all(problem.startswith("portal_efadmin_user: ") for problem in problems)


SECRET_PASSWORD = "S3cret!pass"  # a test value


def test_a_secret_of_the_seed_shape_gives_the_password():
    value = {"SecretString": json.dumps({"efadminPassword": SECRET_PASSWORD})}
    assert portal.secret_password("sid", "efadminPassword", value) == (SECRET_PASSWORD, [])


@pytest.mark.parametrize(("value", "variable", "text"), [
    ({"SecretBinary": b"S3cret!pass"}, "portal_efadmin_secret_id", "holds a SecretBinary"),
    ({}, "portal_efadmin_secret_id", "has no value"),
    ({"SecretString": SECRET_PASSWORD}, "portal_efadmin_secret_id", "is not a JSON object"),
    ({"SecretString": json.dumps([SECRET_PASSWORD])}, "portal_efadmin_secret_id", "is not a JSON object"),
    ({"SecretString": json.dumps({"password": SECRET_PASSWORD})}, "portal_efadmin_secret_key",
     "has no key 'efadminPassword' (its keys: password)"),
    ({"SecretString": json.dumps({"efadminPassword": ""})}, "portal_efadmin_secret_key", "not a non-empty string"),
    ({"SecretString": json.dumps({"efadminPassword": 1234})}, "portal_efadmin_secret_key", "not a non-empty string"),
])
def test_secrets_of_the_wrong_shape_name_the_variable_and_the_secret(value, variable, text):
    password, problems = portal.secret_password("my/secret", "efadminPassword", value)
    assert password is None
    (problem,) = problems
    assert variables(problems) == [variable]
    assert text in problem and "my/secret" in problem
    assert SECRET_PASSWORD not in problem


def test_an_empty_secret_key():
    assert variables(portal.secret_password("sid", "", {"SecretString": "{}"})[1]) == ["portal_efadmin_secret_key"]


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), (0.5, 0.5), ("2.5", 2.5), (" 8 ", 8.0), (True, None),
                                                 ("x", None), (None, None), ([1], None)])
def test_number(value, expected):
    assert portal.number(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(1200, 1200), ("2400", 2400), (1200.0, 1200), (1200.5, None),
                                                 (False, None)])
def test_whole(value, expected):
    assert portal.whole(value) == expected


# ---------------------------------------------------------------- FSx for Lustre
@pytest.mark.parametrize(("deployment", "storage", "throughput", "capacity"), [
    ("SCRATCH_1", "SSD", 0, 1200), ("SCRATCH_1", "SSD", 0, 2400), ("SCRATCH_1", "SSD", 0, 3600),
    ("SCRATCH_1", "SSD", 0, 7200),
    ("SCRATCH_2", "SSD", 0, 1200), ("SCRATCH_2", "SSD", 0, 2400), ("SCRATCH_2", "SSD", 0, 4800),
    ("PERSISTENT_1", "SSD", 50, 1200), ("PERSISTENT_1", "SSD", 200, 9600),
    ("PERSISTENT_2", "SSD", 125, 2400), ("PERSISTENT_2", "SSD", 1000, 1200),
    ("PERSISTENT_1", "HDD", 12, 6000), ("PERSISTENT_1", "HDD", 12, 12000),
    ("PERSISTENT_1", "HDD", 40, 1800), ("PERSISTENT_1", "HDD", 40, 3600),
])
def test_fsx_sizes_fsx_accepts(deployment, storage, throughput, capacity):
    fsx = {"deployment_type": deployment, "storage_type": storage, "per_unit_storage_throughput": throughput,
           "storage_capacity": capacity}
    assert portal.fsx_problems(fsx) == []


@pytest.mark.parametrize(("deployment", "storage", "throughput", "capacity", "rule"), [
    ("SCRATCH_2", "SSD", 0, 1000, "SCRATCH_2 SSD takes 1200, 2400 or a multiple of 2400 GiB"),
    ("SCRATCH_2", "SSD", 0, 3600, "SCRATCH_2 SSD takes 1200, 2400 or a multiple of 2400 GiB"),
    ("SCRATCH_1", "SSD", 0, 4800, "SCRATCH_1 SSD takes 1200, 2400 or a multiple of 3600 GiB"),
    ("PERSISTENT_1", "SSD", 100, 3600, "multiple of 2400"),
    ("PERSISTENT_2", "SSD", 250, 1300, "multiple of 2400"),
    ("PERSISTENT_1", "HDD", 12, 1800, "PERSISTENT_1 HDD at 12 MB/s/TiB takes multiples of 6000 GiB"),
    ("PERSISTENT_1", "HDD", 40, 6000, "PERSISTENT_1 HDD at 40 MB/s/TiB takes multiples of 1800 GiB"),
])
def test_fsx_sizes_fsx_refuses(deployment, storage, throughput, capacity, rule):
    fsx = {"deployment_type": deployment, "storage_type": storage, "per_unit_storage_throughput": throughput,
           "storage_capacity": capacity}
    (problem,) = portal.fsx_problems(fsx)
    assert problem.startswith(f"portal_fsx_storage_capacity: {capacity} GiB is not a size FSx for Lustre accepts")
    assert rule in problem


@pytest.mark.parametrize(("fsx", "variable", "text"), [
    ({"deployment_type": "SCRATCH_3"}, "portal_fsx_deployment_type", "is not one of SCRATCH_1, SCRATCH_2"),
    ({"storage_type": "NVME"}, "portal_fsx_storage_type", "is not one of SSD, HDD"),
    ({"storage_type": "HDD", "deployment_type": "PERSISTENT_2", "per_unit_storage_throughput": 125},
     "portal_fsx_storage_type", "only available with deployment type PERSISTENT_1"),
    ({"deployment_type": "SCRATCH_2", "per_unit_storage_throughput": 200}, "portal_fsx_per_unit_storage_throughput",
     "SCRATCH_2 takes no throughput"),
    ({"deployment_type": "PERSISTENT_1"}, "portal_fsx_per_unit_storage_throughput",
     "PERSISTENT_1 SSD needs one of 50, 100, 200 MB/s/TiB, got 0 (0 = not set)"),
    ({"deployment_type": "PERSISTENT_2", "per_unit_storage_throughput": 200},
     "portal_fsx_per_unit_storage_throughput", "needs one of 125, 250, 500, 1000"),
    ({"deployment_type": "PERSISTENT_1", "storage_type": "HDD", "per_unit_storage_throughput": 50,
      "storage_capacity": 6000}, "portal_fsx_per_unit_storage_throughput", "needs one of 12, 40"),
    ({"per_unit_storage_throughput": "fast"}, "portal_fsx_per_unit_storage_throughput", "not a whole number"),
    ({"storage_capacity": "big"}, "portal_fsx_storage_capacity", "not a whole number of GiB"),
    ({"storage_capacity": -1200}, "portal_fsx_storage_capacity", "not a whole number of GiB"),
    ({"size": 1200}, "portal_fsx", "unknown key 'size'"),
])
def test_fsx_settings_fsx_refuses(fsx, variable, text):
    problems = portal.fsx_problems(fsx)
    assert variables(problems) == [variable]
    assert text in problems[0]


def test_fsx_disabled_is_not_checked_and_the_defaults_pass():
    assert portal.fsx_problems({"enabled": False, "storage_capacity": 1}) == []
    assert portal.fsx_problems({"enabled": "false", "storage_capacity": 1}) == []
    assert portal.fsx_problems({}) == []
    assert portal.fsx_problems({"storage_capacity": "2400", "per_unit_storage_throughput": ""}) == []


# ---------------------------------------------------------------- EFS and mount dirs
@pytest.mark.parametrize(("efs", "variable"), [
    ({"performance_mode": "fast"}, "portal_efs_performance_mode"),
    ({"throughput_mode": "provisioned"}, "portal_efs_throughput_mode"),
    ({"throughput_mode": "elastic", "performance_mode": "maxIO"}, "portal_efs_throughput_mode"),
])
def test_efs_modes(efs, variable):
    assert variables(portal.efs_problems(efs)) == [variable]


def test_efs_good_modes_pass():
    assert portal.efs_problems({"throughput_mode": "elastic"}) == []
    assert portal.efs_problems({"performance_mode": "maxIO", "throughput_mode": "bursting"}) == []
    assert portal.efs_problems({"enabled": False, "throughput_mode": "x"}) == []


@pytest.mark.parametrize(("efs_dir", "fsx_dir", "variable", "text"), [
    ("efs", "/fsx", "portal_efs_mount_dir", "absolute path other than /"),
    ("/", "/fsx", "portal_efs_mount_dir", "absolute path other than /"),
    ("/efs", "//", "portal_fsx_mount_dir", "absolute path other than /"),
    ("/shared", "/shared/", "portal_fsx_mount_dir", "same as or nested with portal_efs_mount_dir"),
    ("/shared", "/shared/scratch", "portal_fsx_mount_dir", "nested"),
    ("/data/../etc", "/fsx", "portal_efs_mount_dir", "must not hold '..'"),
    ("/my efs", "/fsx", "portal_efs_mount_dir", "spaces"),
])
def test_mount_dirs(efs_dir, fsx_dir, variable, text):
    problems = portal.mount_dir_problems({"mount_dir": efs_dir}, {"mount_dir": fsx_dir})
    assert variables(problems) == [variable]
    assert text in problems[0]


def test_mount_dirs_of_a_disabled_file_system_are_not_checked():
    assert portal.mount_dir_problems({"mount_dir": "/x"}, {"mount_dir": "/x", "enabled": False}) == []
    assert portal.mount_dir_problems({}, {}) == []
    assert portal.mount_dir_problems({"mount_dir": "/shared"}, {"mount_dir": "/shared2"}) == []


# ---------------------------------------------------------------- Aurora Serverless v2
@pytest.mark.parametrize("db", [
    {},
    {"min_capacity": 0.5, "max_capacity": 1},
    {"min_capacity": "1.5", "max_capacity": "2.5"},
    {"engine_version": "8.0.mysql_aurora.3.08.0", "min_capacity": 0, "max_capacity": 256},
    {"engine_version": "8.0.mysql_aurora.3.06.1", "max_capacity": 256},
    {"engine_version": "8.0.mysql_aurora.3.02.0", "max_capacity": 128},
    {"name": "enginframe_db", "master_username": "admin", "port": 1150, "backup_retention": 35},
    {"aurora": False, "port": 3306, "engine_version": "mariadb", "min_capacity": 99},
    {"aurora": "false", "local": True, "port": 1024},
    {"local": True},
])
def test_database_settings_aurora_accepts(db):
    assert portal.db_problems(db) == []


@pytest.mark.parametrize(("db", "variable", "text"), [
    ({"min_capacity": 0}, "portal_db_min_capacity", "outside 0.5 to 128 for engine version 8.0.mysql_aurora.3.05.2 "
                                                    "(0 needs Aurora MySQL 3.08.0 or later)"),
    ({"min_capacity": 0.75}, "portal_db_min_capacity", "steps of 0.5"),
    ({"min_capacity": "half"}, "portal_db_min_capacity", "steps of 0.5"),
    ({"max_capacity": 0.5}, "portal_db_max_capacity", "outside 1 to 128"),
    ({"max_capacity": 256}, "portal_db_max_capacity", "outside 1 to 128"),
    ({"engine_version": "8.0.mysql_aurora.3.08.0", "max_capacity": 256.5}, "portal_db_max_capacity",
     "outside 1 to 256"),
    ({"min_capacity": 4, "max_capacity": 2}, "portal_db_min_capacity", "more than portal_db_max_capacity (2)"),
    ({"engine_version": "5.7.mysql_aurora.2.11.2"}, "portal_db_engine_version", "not an Aurora MySQL 3 version"),
    ({"engine_version": "8.0.mysql_aurora.3.01.1"}, "portal_db_engine_version", "3.02.0 or later"),
    ({"port": 1024}, "portal_db_port", "from 1150 to 65535"),
    ({"port": 70000}, "portal_db_port", "from 1150 to 65535"),
    ({"aurora": False, "port": 0}, "portal_db_port", "from 1 to 65535"),
    ({"local": True, "port": 1024}, "portal_db_port", "from 1150 to 65535"),
    ({"name": "1enginframe"}, "portal_db_name", "starting with a letter"),
    ({"name": "engin-frame"}, "portal_db_name", "letters, digits or underscores"),
    ({"name": "e" * 65}, "portal_db_name", "1 to 64"),
    ({"name": "database"}, "portal_db_name", "reserved word"),
    ({"master_username": "efdbadmin_is_too_long"}, "portal_db_master_username", "1 to 16"),
    ({"master_username": "rdsadmin"}, "portal_db_master_username", "reserved word"),
    ({"master_username": "root"}, "portal_db_master_username", "reserved word"),
    ({"master_username": "_ef"}, "portal_db_master_username", "starting with a letter"),
    ({"backup_retention": 0}, "portal_db_backup_retention", "from 1 to 35"),
    ({"backup_retention": 36}, "portal_db_backup_retention", "from 1 to 35"),
    ({"min_acu": 1}, "portal_db", "unknown key 'min_acu'"),
])
def test_database_settings_aurora_refuses(db, variable, text):
    problems = portal.db_problems(db)
    assert variables(problems) == [variable]
    assert text in problems[0]


def test_jdbc_url():
    assert portal.jdbc_url("db.example.internal", "3306", "enginframe") == \
        "jdbc:mysql://db.example.internal:3306/enginframe"


# ---------------------------------------------------------------- certificate inputs
ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0b3c6e1a-1111-2222-3333-444455556666"


@pytest.mark.parametrize("certificate", [
    {"arn": ARN},
    {"domain": "portal.example.com"},
    {"domain": "portal.example.com", "request": True},
    {"file": "cert.pem", "key_file": "key.pem", "chain_file": "chain.pem", "arn": "", "domain": ""},
])
def test_certificate_inputs_that_are_well_formed(certificate):
    assert cert.certificate_problems(certificate) == []


@pytest.mark.parametrize(("certificate", "wanted"), [
    ({}, ["portal_certificate_arn"]),
    ({"arn": ARN, "domain": "portal.example.com"}, ["portal_certificate_arn"]),
    ({"arn": "arn:aws:iam::123456789012:server-certificate/portal"}, ["portal_certificate_arn"]),
    ({"domain": "portal_example.com"}, ["portal_certificate_domain"]),
    ({"domain": "localhost"}, ["portal_certificate_domain"]),
    ({"domain": "*.example.com"}, ["portal_certificate_domain"]),
    ({"domain": "-bad.example.com"}, ["portal_certificate_domain"]),
    ({"arn": ARN, "request": True}, ["portal_certificate_request"]),
    ({"file": "cert.pem"}, ["portal_certificate_key_file"]),
    ({"arn": ARN, "key_file": "key.pem"}, ["portal_certificate_key_file"]),
    ({"arn": ARN, "chain_file": "chain.pem"}, ["portal_certificate_chain_file"]),
    ({"arn": ARN, "domian": "x"}, ["portal_certificate"]),
])
def test_certificate_inputs_that_are_not(certificate, wanted):
    assert variables(cert.certificate_problems(certificate)) == wanted


def test_exactly_one_names_what_is_set():
    (problem,) = cert.certificate_problems({"arn": ARN, "file": "c.pem", "key_file": "k.pem"})
    assert "set exactly one of" in problem and "set: portal_certificate_arn, portal_certificate_file" in problem
    assert "set: none" in cert.certificate_problems({})[0]


def test_pem_blocks_are_checked_and_never_echoed():
    key_text = "-----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY-----\n"
    assert cert.pem_problems("portal_certificate_key_file", key_text, "PRIVATE KEY") == []
    assert cert.pem_problems("portal_certificate_file", "-----BEGIN CERTIFICATE-----\nx", "CERTIFICATE") == []
    (problem,) = cert.pem_problems("portal_certificate_file", key_text, "CERTIFICATE")
    assert problem.startswith("portal_certificate_file: the file holds no PEM CERTIFICATE block")
    assert "MIIsecret" not in problem


@pytest.mark.parametrize(("name", "domain", "expected"), [
    ("portal.example.com", "portal.example.com", True),
    ("PORTAL.example.com", "portal.EXAMPLE.com.", True),
    ("*.example.com", "portal.example.com", True),
    ("*.example.com", "a.portal.example.com", False),
    ("*.example.com", "example.com", False),
    ("portal.example.com", "other.example.com", False),
    (None, "portal.example.com", False),
])
def test_which_certificate_names_cover_a_domain(name, domain, expected):
    assert cert.covers(name, domain) is expected


def summary(arn, name, status, days_ago, sans=None):
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) - datetime.timedelta(days=days_ago)
    item = {"CertificateArn": arn, "DomainName": name, "Status": status, "CreatedAt": when}
    if status == "ISSUED":
        item["IssuedAt"] = when
    if sans:
        item["SubjectAlternativeNameSummaries"] = sans
    return item


def test_the_newest_issued_certificate_for_the_domain_wins():
    summaries = [summary("old", "*.example.com", "ISSUED", 30), summary("new", "example.com", "ISSUED", 1,
                                                                        ["example.com", "portal.example.com"]),
                 summary("other", "other.example.org", "ISSUED", 0), summary("pending", "portal.example.com",
                                                                             "PENDING_VALIDATION", 0)]
    picked = cert.pick_certificate(summaries, "portal.example.com")
    assert picked == {"action": "existing", "arn": "new", "pending_arn": "", "problems": []}
    assert cert.pick_certificate(summaries[:1], "portal.example.com")["arn"] == "old"


def test_no_certificate_for_the_domain():
    picked = cert.pick_certificate([summary("other", "other.example.org", "ISSUED", 0)], "portal.example.com",
                                   region="eu-west-1")
    assert picked["action"] == "request" and picked["arn"] == ""
    assert picked["problems"] == ["portal_certificate_domain: no ACM certificate for domain portal.example.com is "
                                  "ISSUED in eu-west-1; request or import one, or set portal_certificate_request: true"]


def test_a_pending_certificate_is_requested_and_waiting():
    pending = [summary("p1", "portal.example.com", "PENDING_VALIDATION", 3),
               summary("p2", "portal.example.com", "PENDING_VALIDATION", 1)]
    assert cert.pick_certificate(pending, "portal.example.com", request=True) == {
        "action": "request", "arn": "", "pending_arn": "p2", "problems": []}
    (problem,) = cert.pick_certificate(pending, "portal.example.com")["problems"]
    assert "certificate p2 is still PENDING_VALIDATION" in problem
    assert cert.pick_certificate([], "portal.example.com", request="true")["problems"] == []


# ---------------------------------------------------------------- network and instance
NETWORK = {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123abcd"],
           "alb_subnet_ids": ["subnet-0123abcd", "subnet-0123456789abcdef0"],
           "alb_ingress_cidrs": ["10.0.0.0/8", "2001:db8::/32"], "https_port": 8443}


def test_a_good_network():
    assert portal.network_problems(NETWORK) == []
    assert portal.network_problems({**NETWORK, "https_port": "443"}) == []


@pytest.mark.parametrize(("change", "variable", "text"), [
    ({"vpc_id": ""}, "portal_vpc_id", "not a VPC id"),
    ({"vpc_id": "vpc-xyz"}, "portal_vpc_id", "not a VPC id"),
    ({"subnet_ids": []}, "portal_subnet_ids", "at least 1 distinct"),
    ({"subnet_ids": "subnet-0123abcd"}, "portal_subnet_ids", "at least 1 distinct"),
    ({"subnet_ids": ["sn-1"]}, "portal_subnet_ids", "'sn-1' not a subnet id"),
    ({"alb_subnet_ids": ["subnet-0123abcd"]}, "portal_alb_subnet_ids", "at least 2 distinct"),
    ({"alb_subnet_ids": ["subnet-0123abcd", "subnet-0123abcd"]}, "portal_alb_subnet_ids", "at least 2 distinct"),
    ({"alb_ingress_cidrs": []}, "portal_alb_ingress_cidrs", "at least one CIDR"),
    ({"alb_ingress_cidrs": ["10.0.0.1/8"]}, "portal_alb_ingress_cidrs", "'10.0.0.1/8' is not a CIDR"),
    ({"alb_ingress_cidrs": ["anywhere"]}, "portal_alb_ingress_cidrs", "is not a CIDR"),
    ({"https_port": 0}, "portal_https_port", "from 1 to 65535"),
    ({"https_port": "https"}, "portal_https_port", "from 1 to 65535"),
    ({"https_port": 22}, "portal_https_port", "SSH port"),
    ({"net": 1}, "portal_network", "unknown key 'net'"),
])
def test_network_problems(change, variable, text):
    problems = portal.network_problems({**NETWORK, **change})
    assert variables(problems) == [variable]
    assert text in problems[0]


def test_the_portal_port_clashes_with_a_local_database_only():
    assert portal.network_problems({**NETWORK, "https_port": 3306}, {"local": False}) == []
    (problem,) = portal.network_problems({**NETWORK, "https_port": 3306}, {"local": True})
    assert problem.startswith("portal_https_port: 3306 is also portal_db_port")


@pytest.mark.parametrize(("instance", "variable"), [
    ({"instance_type": "m5"}, "portal_instance_type"),
    ({"instance_type": "M5.XLARGE"}, "portal_instance_type"),
    ({"root_volume_size": 7}, "portal_root_volume_size"),
    ({"root_volume_size": 16385}, "portal_root_volume_size"),
    ({"root_volume_size": "big"}, "portal_root_volume_size"),
    ({"image_id": "ubuntu"}, "portal_image_id"),
    ({"key_name": "k" * 256}, "portal_key_name"),
    ({"type": "m5.xlarge"}, "portal_instance"),
])
def test_instance_problems(instance, variable):
    assert variables(portal.instance_problems(instance)) == [variable]


def test_good_instances():
    assert portal.instance_problems({}) == []
    assert portal.instance_problems({"instance_type": "u-6tb1.metal", "root_volume_size": "16384",
                                     "image_id": "ami-0123456789abcdef0", "key_name": ""}) == []
    assert portal.instance_problems({"instance_type": "c7gn.16xlarge", "root_volume_size": 8}) == []


def test_the_role_defaults_pass_and_groups_left_out_are_not_checked():
    assert portal.input_problems({}) == []
    assert portal.input_problems({"db": {"local": True, "aurora": False}, "network": None, "instance": None}) == []
    assert variables(portal.input_problems({"network": {}, "instance": {"root_volume_size": 1}})) == [
        "portal_alb_ingress_cidrs", "portal_root_volume_size"]
    # subnets given (the foundation ran, or the user set them) are checked; left out they are still unknown
    assert variables(portal.input_problems({"network": {"subnet_ids": [], "alb_subnet_ids": ["subnet-12345678"],
                                                        "alb_ingress_cidrs": ["10.0.0.0/8"]}})) == [
        "portal_subnet_ids", "portal_alb_subnet_ids"]
