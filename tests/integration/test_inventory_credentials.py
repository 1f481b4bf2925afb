"""hpcops.aws_hpc.hpc_ec2 credentials (keys as options, session token, assume role) through `ansible-inventory`.

moto checks signatures, session tokens and IAM policies only once it is told to, and that switch
(``/moto-api/reset-auth``) is server-wide: flipped on the shared lab endpoint it would fail every
other test that signs with the lab's test keys. So this module starts its own moto server on a free
loopback port, creates IAM users, a role and a small cluster there with checks off, turns the
checks on, and stops the server (by its pid) at the end. From then on a request only succeeds with
credentials moto issued and a policy that allows it, so each test shows which credentials the
plugin really used:

* ``reader`` may call ec2:DescribeInstances;
* ``assumer`` may only call sts:AssumeRole; the role ``hpc-inventory-read`` may call
  ec2:DescribeInstances;
* the environment carries the lab's ``testing`` keys, which moto rejects, so a listing that works
  took its credentials from the options.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

PLUGIN = "hpcops.aws_hpc.hpc_ec2"
REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ALLOW_DESCRIBE = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}]}
ALLOW_ASSUME = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"}]}
TRUST = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}


# ---------------------------------------------------------------------------- fixtures

def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url, body):
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """A moto server of this module only, on a free loopback port; stopped by its pid afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start on port {port}: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield endpoint
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def world(moto_endpoint):
    """Users, a role and a cluster on the module's moto server; then moto starts checking credentials."""
    setup = {"endpoint_url": moto_endpoint, "region_name": REGION,
             "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    iam, ec2 = boto3.client("iam", **setup), boto3.client("ec2", **setup)
    keys = {}
    for user, policy in (("reader", ALLOW_DESCRIBE), ("assumer", ALLOW_ASSUME)):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="inventory", PolicyDocument=json.dumps(policy))
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
    role = iam.create_role(RoleName="hpc-inventory-read", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    iam.put_role_policy(RoleName="hpc-inventory-read", PolicyName="inventory",
                        PolicyDocument=json.dumps(ALLOW_DESCRIBE))

    cluster = f"it-creds-{uuid.uuid4().hex[:8]}"
    image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm*"]}])
    image_id = image["Images"][0]["ImageId"]
    for name, tier in (("creds-head", "pcluster"), ("creds-cn-01", "computenode")):
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [
                              {"Key": "Name", "Value": name}, {"Key": "hpc:role", "Value": tier},
                              {"Key": "hpc:cluster", "Value": cluster}]}])
    # another cluster in the same account: the cluster option keeps it out
    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [
                          {"Key": "Name", "Value": "other-head"}, {"Key": "hpc:cluster", "Value": cluster + "-b"}]}])

    _post(f"{moto_endpoint}/moto-api/reset-auth", "0")  # from here on every request is checked
    return {"endpoint": moto_endpoint, "cluster": cluster, "keys": keys, "role_arn": role["Arn"]}


def _env(world, **extra):
    """ansible-inventory's environment: the module's endpoint and the lab's (here rejected) test keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "AWS_ENDPOINT_URL": world["endpoint"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })
    env.update(extra)
    return env


@pytest.fixture
def inventory(world, tmp_path):
    """Run ``ansible-inventory --list --export`` on a file with the given options; returns the process."""

    def _run(options, **env):
        path = tmp_path / "creds.hpc_ec2.yml"
        path.write_text(json.dumps({"plugin": PLUGIN, "regions": [REGION], "cluster": world["cluster"], **options}))
        return subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list", "--export"],
                              cwd=ROOT, env=_env(world, **env), capture_output=True, text=True, timeout=120,
                              check=False)

    return _run


def listing(result):
    assert result.returncode == 0, result.stderr
    assert "Failed to parse" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def hosts(listing_):
    return sorted(listing_["_meta"]["hostvars"])


def failure(result):
    """The plugin's error text of a run that could not parse the source (ansible-inventory only warns)."""
    output = result.stdout + result.stderr
    assert "Failed to parse" in output and "hpc_ec2:" in output, output
    return " ".join(output.split())


def _plain(value):
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


# ---------------------------------------------------------------------------- tests

def test_keys_as_options_win_over_the_environment(inventory, world):
    reader = world["keys"]["reader"]
    result = inventory({"access_key": reader["AccessKeyId"], "secret_key": reader["SecretAccessKey"]})
    found = listing(result)
    assert hosts(found) == ["creds-cn-01", "creds-head"]
    assert found["pcluster"]["hosts"] == ["creds-head"]
    assert found["computenode"]["hosts"] == ["creds-cn-01"]
    # the cluster the inventory was made for, on the all group, for site.yml to compare
    assert _plain(found["all"]["vars"]["hpc_inventory_cluster"]) == world["cluster"]


def test_keys_through_the_aws_ec2_aliases(inventory, world):
    reader = world["keys"]["reader"]
    result = inventory({"aws_access_key_id": reader["AccessKeyId"], "aws_secret_access_key": reader["SecretAccessKey"]})
    assert hosts(listing(result)) == ["creds-cn-01", "creds-head"]


def test_vaulted_and_templated_secret(inventory, world, tmp_path):
    reader = world["keys"]["reader"]
    password = tmp_path / "vault-password"
    password.write_text("it-vault-password\n")
    vaulted = subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(password),
                              reader["SecretAccessKey"]], capture_output=True, text=True, timeout=60, check=True)
    path = tmp_path / "vault.hpc_ec2.yml"
    path.write_text(f"plugin: {PLUGIN}\nregions: [{REGION}]\ncluster: {world['cluster']}\n"
                    f"access_key: \"{{{{ lookup('ansible.builtin.env', 'IT_READER_KEY') }}}}\"\n"
                    f"secret_key: {vaulted.stdout.strip()}\n")
    env = _env(world, IT_READER_KEY=reader["AccessKeyId"], ANSIBLE_VAULT_PASSWORD_FILE=str(password))
    result = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list", "--export"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert hosts(listing(result)) == ["creds-cn-01", "creds-head"]


def test_keys_from_the_environment(inventory, world):
    reader = world["keys"]["reader"]
    result = inventory({}, AWS_ACCESS_KEY_ID=reader["AccessKeyId"], AWS_SECRET_ACCESS_KEY=reader["SecretAccessKey"])
    assert hosts(listing(result)) == ["creds-cn-01", "creds-head"]


def test_wrong_secret_fails_naming_the_source_not_the_secret(inventory, world):
    reader = world["keys"]["reader"]
    wrong = "WrongSecret" + uuid.uuid4().hex
    message = failure(inventory({"access_key": reader["AccessKeyId"], "secret_key": wrong}))
    assert f"hpc_ec2: DescribeInstances failed in {REGION}: AuthFailure" in message
    assert "(credentials: options access_key/secret_key of the inventory file)" in message
    assert wrong not in message and reader["SecretAccessKey"] not in message


def test_session_token(inventory, world):
    assumer = world["keys"]["assumer"]
    sts = boto3.client("sts", endpoint_url=world["endpoint"], region_name=REGION,
                       aws_access_key_id=assumer["AccessKeyId"], aws_secret_access_key=assumer["SecretAccessKey"])
    temporary = sts.assume_role(RoleArn=world["role_arn"], RoleSessionName="it-session-token")["Credentials"]
    options = {"access_key": temporary["AccessKeyId"], "secret_key": temporary["SecretAccessKey"]}

    result = inventory({**options, "session_token": temporary["SessionToken"]})
    assert hosts(listing(result)) == ["creds-cn-01", "creds-head"]
    # the alias, and the token from the environment together with keys from the environment
    result = inventory({**options, "aws_session_token": temporary["SessionToken"]})
    assert hosts(listing(result)) == ["creds-cn-01", "creds-head"]
    result = inventory({}, AWS_ACCESS_KEY_ID=temporary["AccessKeyId"],
                       AWS_SECRET_ACCESS_KEY=temporary["SecretAccessKey"], AWS_SESSION_TOKEN=temporary["SessionToken"])
    assert hosts(listing(result)) == ["creds-cn-01", "creds-head"]

    # without the token moto cannot match the temporary key: the token really is sent
    message = failure(inventory(options, AWS_SESSION_TOKEN=temporary["SessionToken"]))
    assert "AuthFailure" in message
    assert temporary["SessionToken"] not in message and temporary["SecretAccessKey"] not in message


def test_assume_role(inventory, world):
    assumer = world["keys"]["assumer"]
    keys = {"access_key": assumer["AccessKeyId"], "secret_key": assumer["SecretAccessKey"]}

    # the assumer alone may not list instances ...
    message = failure(inventory(keys))
    assert "DescribeInstances failed" in message and "AccessDenied" in message
    # ... the role it assumes may
    found = listing(inventory({**keys, "assume_role_arn": world["role_arn"]}))
    assert hosts(found) == ["creds-cn-01", "creds-head"]
    assert _plain(found["all"]["vars"]["hpc_inventory_cluster"]) == world["cluster"]
    # the alias, with the assumer's keys from the environment
    found = listing(inventory({"iam_role_arn": world["role_arn"]}, AWS_ACCESS_KEY_ID=assumer["AccessKeyId"],
                              AWS_SECRET_ACCESS_KEY=assumer["SecretAccessKey"]))
    assert hosts(found) == ["creds-cn-01", "creds-head"]


def test_assume_role_refused_names_the_option(inventory, world):
    reader = world["keys"]["reader"]  # may list instances, may not assume roles
    message = failure(inventory({"access_key": reader["AccessKeyId"], "secret_key": reader["SecretAccessKey"],
                                 "assume_role_arn": world["role_arn"]}))
    assert f"hpc_ec2: option assume_role_arn: cannot assume {world['role_arn']}: AccessDenied:" in message
    assert "sts:AssumeRole" in message
    assert reader["SecretAccessKey"] not in message


def test_no_cluster_no_cluster_variable(inventory, world):
    reader = world["keys"]["reader"]
    result = inventory({"access_key": reader["AccessKeyId"], "secret_key": reader["SecretAccessKey"],
                        "cluster": None, "filters": {"tag:hpc:cluster": [world["cluster"], world["cluster"] + "-b"]}})
    found = listing(result)
    assert hosts(found) == ["creds-cn-01", "creds-head", "other-head"]
    assert "hpc_inventory_cluster" not in found["all"].get("vars", {})
