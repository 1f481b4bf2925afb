"""Benchmark the hpcops.aws_hpc.hpc_ec2 inventory against amazon.aws.aws_ec2 and a bare boto3 paginate.

Populates an EC2 endpoint with N instances tagged like real clusters (hpc:cluster, hpc:role across
sqlserver/headnode/computenode/pcluster, a unique Name, 40 % Windows), then measures in one run:

  * ``ansible-inventory --list`` with hpcops.aws_hpc.hpc_ec2,
  * ``ansible-inventory --list`` with amazon.aws.aws_ec2 configured to produce the same groups,
  * a bare boto3 paginate of DescribeInstances (a child Python process),
  * ``ansible-inventory --list`` with hpc_ec2 and a jsonfile cache: the run that fills it and the
    cached run after it.

Client CPU is user+sys of each child process, read with os.wait4; wall is its elapsed time. Every
listing filters on the run's own ``hpc:benchmark`` tag, so a shared endpoint's other instances do
not count. It also checks that hpc_ec2 and aws_ec2 agree on the hosts and on the role and platform
groups, and that the cached listing equals the uncached one (a disagreement exits 1).

Without ``--endpoint-url`` it starts its own moto_server on a free loopback port and stops it at the
end; with one, it terminates the instances it created. Targets are printed with PASS/FAIL; they only
change the exit status with ``--check-targets`` (exit 2 when one is missed).

    .venv/bin/python benchmarks/inventory.py                   # 10,000 instances, several minutes
    .venv/bin/python benchmarks/inventory.py --instances 200   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _report import BenchmarkError, add_report_options, run_and_report  # benchmarks/ is the script's own directory

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"
ROLE_GROUPS = ("sqlserver", "headnode", "computenode", "pcluster")
PLATFORM_GROUPS = ("windows", "linux")
STATES = ["pending", "running", "stopping", "stopped"]
BATCH = 1000  # run_instances MaxCount limit used per call
CPU_RATIO_TARGET = 5.0  # hpc_ec2 CPU <= aws_ec2 CPU / 5
CACHED_CPU_TARGET = 6.0  # seconds

PAGINATE = """
import sys, boto3
client = boto3.client("ec2", region_name=sys.argv[1], endpoint_url=sys.argv[2])
filters = [{"Name": "tag:hpc:benchmark", "Values": [sys.argv[3]]},
           {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
count = 0
for page in client.get_paginator("describe_instances").paginate(Filters=filters,
                                                                 PaginationConfig={"PageSize": 1000}):
    for reservation in page["Reservations"]:
        count += len(reservation["Instances"])
print(count)
"""


# The benchmark's own endpoint is moto_server with one change: an O(1) tag lookup. moto 5.2 finds an
# instance's tags by scanning every tag of every resource, which makes DescribeInstances quadratic
# (about ten minutes of server time per listing at 10,000 instances). The responses are the same;
# only the server's own CPU changes, and the figures here are client CPU.
MOTO_LAUNCHER = """
import sys
from moto.ec2.models import core
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE
from moto.ec2.utils import get_prefix

def get_tags(self):
    resource_id = getattr(self, "id", None)
    if not resource_id:
        return []
    tags = self.ec2_backend.tags.get(resource_id) or {}
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [{"resource_id": resource_id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]

core.TaggedEC2Resource.get_tags = get_tags
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""


# ---------------------------------------------------------------------------- endpoint

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (log_dir / "moto_server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", MOTO_LAUNCHER, str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchmarkError(f"moto_server exited early (see {log_dir / 'moto_server.log'})")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):  # noqa: S310 - loopback URL built above
                return proc, url
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    stop_moto(proc)
    raise BenchmarkError("moto_server did not answer within 30 s")


def stop_moto(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def aws_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


# ---------------------------------------------------------------------------- population

def layout(total: int) -> list[dict]:
    """Split ``total`` instances into launches: 40 % Windows HPC Pack clusters, the rest Slurm."""
    windows = round(total * 0.4)
    launches = []
    index = 0
    while windows > 0:
        size = min(windows, BATCH)
        windows -= size
        index += 1
        name = f"hpcpack{index:02d}"
        sql = 1 if size >= 1 else 0
        head = min(2, size - sql)
        for role, count, itype in (("sqlserver", sql, "r5.2xlarge"), ("headnode", head, "m5.xlarge"),
                                   ("computenode", size - sql - head, "c5.2xlarge")):
            if count:
                launches.append({"cluster": name, "role": role, "count": count, "windows": True, "type": itype})
    linux = total - round(total * 0.4)
    index = 0
    while linux > 0:
        size = min(linux, BATCH)
        linux -= size
        index += 1
        launches.append({"cluster": f"slurm{index:02d}", "role": "pcluster", "count": size, "windows": False,
                         "type": "c5n.18xlarge"})
    return launches


def image_ids(ec2) -> tuple[str, str]:
    def first(pattern):
        images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [pattern]}])["Images"]
        if not images:
            raise BenchmarkError(f"no AMI named {pattern} at the endpoint")
        return images[0]["ImageId"]

    return first("Windows_Server-2016-English-Full-Base*"), first("amzn2-ami-hvm*")


def populate(ec2, total: int, run_id: str) -> list[str]:
    windows_ami, linux_ami = image_ids(ec2)
    created = []
    names = []
    for launch in layout(total):
        tags = [{"Key": "hpc:cluster", "Value": launch["cluster"]}, {"Key": "hpc:role", "Value": launch["role"]},
                {"Key": "hpc:benchmark", "Value": run_id}, {"Key": "CostCenter", "Value": "HPC-Bench"}]
        response = ec2.run_instances(
            ImageId=windows_ami if launch["windows"] else linux_ami, InstanceType=launch["type"],
            MinCount=launch["count"], MaxCount=launch["count"],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        for number, instance in enumerate(response["Instances"], start=1):
            created.append(instance["InstanceId"])
            # Windows names in NetBIOS upper case, Linux ones lower case: tags must keep their case
            name = f"{launch['cluster']}-{launch['role']}-{number:04d}"
            names.append((instance["InstanceId"], name.upper() if launch["windows"] else name))

    def name_one(item):
        ec2.create_tags(Resources=[item[0]], Tags=[{"Key": "Name", "Value": item[1]}])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(name_one, names))
    return created


def terminate(ec2, instance_ids: list[str]) -> None:
    for start in range(0, len(instance_ids), BATCH):
        ec2.terminate_instances(InstanceIds=instance_ids[start:start + BATCH])


# ---------------------------------------------------------------------------- measuring

def measure(argv: list[str], env: dict[str, str], output: Path) -> dict:
    """Run ``argv`` with stdout to ``output``; return its CPU (user+sys) and wall seconds."""
    with output.open("wb") as out, (output.parent / (output.name + ".err")).open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        stderr = (output.parent / (output.name + ".err")).read_text(errors="replace")[-2000:]
        raise BenchmarkError(f"{' '.join(argv[:3])} exited {proc.returncode}: {stderr}")
    return {"cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "wall_s": round(wall, 2)}


def inventory_files(tmp: Path, endpoint: str, run_id: str) -> dict[str, Path]:
    filters = {"tag:hpc:benchmark": run_id, "instance-state-name": STATES}
    hpc = {"plugin": "hpcops.aws_hpc.hpc_ec2", "regions": [REGION], "endpoint_url": endpoint,
           "filters": filters, "hostnames": ["tag:Name", "instance-id"]}
    cached = dict(hpc, cache=True, cache_plugin="ansible.builtin.jsonfile",
                  cache_connection=str(tmp / "cache"), cache_timeout=3600)
    aws = {
        "plugin": "amazon.aws.aws_ec2", "regions": [REGION], "endpoint_url": endpoint, "filters": filters,
        "hostnames": ["tag:Name", "instance-id"], "leading_separator": False,
        "keyed_groups": [
            {"key": "tags['hpc:role']", "prefix": "", "separator": ""},
            {"key": "'windows' if (platform | default('') | lower) == 'windows' else 'linux'",
             "prefix": "", "separator": ""},
        ],
    }
    files = {}
    for name, data in (("hpc", hpc), ("cached", cached), ("aws", aws)):
        plugin = "aws_ec2" if name == "aws" else "hpc_ec2"
        path = tmp / f"{name}.{plugin}.yml"
        path.write_text(json.dumps(data, indent=2))  # JSON is YAML
        files[name] = path
    return files


def membership(listing: dict) -> tuple[set, dict]:
    hosts = set(listing.get("_meta", {}).get("hostvars", {}))
    groups = {g: set(listing.get(g, {}).get("hosts", [])) for g in ROLE_GROUPS + PLATFORM_GROUPS}
    return hosts, groups


def compare(name_a: str, a: dict, name_b: str, b: dict, expected: int) -> None:
    hosts_a, groups_a = membership(a)
    hosts_b, groups_b = membership(b)
    if len(hosts_a) != expected:
        raise BenchmarkError(f"{name_a} listed {len(hosts_a)} hosts, expected {expected}")
    if hosts_a != hosts_b:
        raise BenchmarkError(f"{name_a} and {name_b} disagree on hosts: {len(hosts_a ^ hosts_b)} differ, "
                             f"e.g. {sorted(hosts_a ^ hosts_b)[:5]}")
    for group in groups_a:
        if groups_a[group] != groups_b[group]:
            raise BenchmarkError(f"{name_a} and {name_b} disagree on group {group}: "
                                 f"{len(groups_a[group] ^ groups_b[group])} hosts differ")


# ---------------------------------------------------------------------------- main

def run(args: argparse.Namespace, tmp: Path) -> dict:
    import boto3

    server = None
    endpoint = args.endpoint_url
    if not endpoint:
        server, endpoint = start_moto(tmp)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint,
                       aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                       aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    run_id = "bench-" + uuid.uuid4().hex[:8]
    created: list[str] = []
    try:
        started = time.perf_counter()
        created = populate(ec2, args.instances, run_id)
        populate_s = round(time.perf_counter() - started, 1)
        env = aws_env(endpoint)
        files = inventory_files(tmp, endpoint, run_id)
        inv = [str(VENV_BIN / "ansible-inventory"), "--list", "-i"]
        out = {name: tmp / f"{name}.json" for name in ("hpc", "aws", "boto3", "fill", "cached")}
        results = {
            "hpc_ec2": measure([*inv, str(files["hpc"])], env, out["hpc"]),
            "aws_ec2": measure([*inv, str(files["aws"])], env, out["aws"]),
            "boto3": measure([sys.executable, "-c", PAGINATE, REGION, endpoint, run_id], env, out["boto3"]),
            "hpc_ec2_cache_fill": measure([*inv, str(files["cached"])], env, out["fill"]),
            "hpc_ec2_cached": measure([*inv, str(files["cached"])], env, out["cached"]),
        }
        listings = {name: json.loads(out[name].read_text()) for name in ("hpc", "aws", "fill", "cached")}
        compare("hpc_ec2", listings["hpc"], "aws_ec2", listings["aws"], args.instances)
        compare("hpc_ec2 (cached)", listings["cached"], "hpc_ec2", listings["hpc"], args.instances)
        if listings["cached"] != listings["hpc"]:
            raise BenchmarkError("the cached hpc_ec2 listing differs from the uncached one")
        boto3_count = int(out["boto3"].read_text().strip())
        if boto3_count != args.instances:
            raise BenchmarkError(f"boto3 paginate counted {boto3_count} instances, expected {args.instances}")
        hosts, groups = membership(listings["hpc"])
    finally:
        if server is not None:
            stop_moto(server)
        elif created:
            terminate(ec2, created)

    hpc_cpu = results["hpc_ec2"]["cpu_s"]
    aws_cpu = results["aws_ec2"]["cpu_s"]
    cached_cpu = results["hpc_ec2_cached"]["cpu_s"]
    targets = {
        "hpc_ec2_cpu_ratio": {"target": f"hpc_ec2 CPU <= aws_ec2 CPU / {CPU_RATIO_TARGET:g}",
                              "value": round(aws_cpu / hpc_cpu, 1) if hpc_cpu else None,
                              "pass": hpc_cpu * CPU_RATIO_TARGET <= aws_cpu},
        "hpc_ec2_cached_cpu": {"target": f"cached hpc_ec2 CPU <= {CACHED_CPU_TARGET:g} s",
                               "value": cached_cpu, "pass": cached_cpu <= CACHED_CPU_TARGET},
    }
    return {
        "instances": args.instances,
        "endpoint": "own moto_server" if server is not None else endpoint,
        "populate_s": populate_s,
        "hosts": len(hosts),
        "groups": {g: len(members) for g, members in groups.items()},
        "results": results,
        "targets": targets,
        "agreement": "hpc_ec2 and aws_ec2 list the same hosts and role/platform groups; cached == uncached",
    }


def print_table(report: dict) -> None:
    print(f"hpc_ec2 inventory benchmark: {report['instances']} instances at {report['endpoint']} "
          f"(populated in {report['populate_s']} s)")
    print("groups: " + ", ".join(f"{g}={n}" for g, n in report["groups"].items()))
    print()
    labels = {
        "hpc_ec2": "ansible-inventory --list, hpcops.aws_hpc.hpc_ec2",
        "aws_ec2": "ansible-inventory --list, amazon.aws.aws_ec2",
        "boto3": "bare boto3 paginate (python process)",
        "hpc_ec2_cache_fill": "ansible-inventory --list, hpc_ec2, cache fill",
        "hpc_ec2_cached": "ansible-inventory --list, hpc_ec2, cached",
    }
    print(f"{'measurement':<52} {'CPU s':>8} {'wall s':>8}")
    print("-" * 70)
    for key, label in labels.items():
        figures = report["results"][key]
        print(f"{label:<52} {figures['cpu_s']:>8.2f} {figures['wall_s']:>8.2f}")
    print()
    print(f"{'target':<52} {'measured':>10} {'result':>6}")
    print("-" * 70)
    for key, target in report["targets"].items():
        value = target["value"]
        shown = f"{value}x" if key == "hpc_ec2_cpu_ratio" and value is not None else f"{value} s"
        print(f"{target['target']:<52} {shown:>10} {'PASS' if target['pass'] else 'FAIL':>6}")
    print()
    print(report["agreement"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=10_000, help="number of instances (default 10000)")
    parser.add_argument("--endpoint-url", help="EC2 endpoint to use (default: start an own moto_server)")
    add_report_options(parser)
    args = parser.parse_args(argv)
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    return run_and_report(lambda tmp: run(args, tmp), args, print_table, "hpc_ec2_bench_")


if __name__ == "__main__":
    sys.exit(main())
