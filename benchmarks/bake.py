"""Benchmark the AMI bakery (playbooks/bake.yml) with real Packer against the lab endpoint.

Measures in one run, as wall time of the whole ``ansible-playbook playbooks/bake.yml``:

  * a bake of each image alone (each under its own throw-away cluster name, so nothing is skipped),
  * a bake of all images at once (a fresh cluster name: every image is built, Packer processes in parallel),
  * a second bake of all images with unchanged inputs (nothing may be built).

Targets: the second bake runs no Packer build and takes under 10 s; the bake of all images takes at
most 1.3x the slowest single-image bake. Targets are printed with PASS/FAIL; they only change the
exit status with ``--check-targets`` (exit 2 when one is missed). Needs the lab (``make lab-up``) and
Packer; every AMI and snapshot it makes is removed at the end.

    .venv/bin/python benchmarks/bake.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lab"))

import labctl  # noqa: E402 - lab/ joins the path just above
from _report import BenchmarkError, add_report_options, run_and_report  # noqa: E402 - benchmarks/ is the script's own directory

BIN = Path(sys.executable).parent
IMAGES = ["sqlserver", "headnode", "computenode", "pcluster-linux"]
LAB_FILTERS = {
    "sqlserver": {"name": "Windows_Server-2016-English-Full-SQL_2017_Standard-*", "owners": ["amazon"]},
    "headnode": {"name": "Windows_Server-2016-English-Full-Base-*", "owners": ["amazon"]},
    "computenode": {"name": "Windows_Server-2016-English-Full-Base-*", "owners": ["amazon"]},
    "pcluster-linux": {"name": "amzn2-ami-ecs-gpu-hvm-*-x86_64-ebs", "owners": ["amazon"]},
}
SECOND_RUN_LIMIT = 10.0
CONCURRENCY_RATIO = 1.3


def lab_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(labctl.read_env())
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_") and os.environ.get("AWS_ENDPOINT_URL")})
    if not env.get("AWS_ENDPOINT_URL"):
        raise BenchmarkError("the lab is not running: make lab-up")
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    return env


def bake(tmp: Path, env: dict[str, str], cluster: str, images: list[str], log: Path) -> tuple[float, dict]:
    manifest = tmp / f"{cluster}.json"
    inventory = tmp / f"{cluster}.yml"
    variables = {
        "hpc_aws_region": env.get("AWS_REGION", "us-east-1"),
        "hpc_aws_endpoint_url": env["AWS_ENDPOINT_URL"],
        "hpc_cluster_name": cluster,
        "ami_bakery_images": images,
        "ami_bakery_packer_var_files": ["lab.pkrvars.hcl"],
        "ami_bakery_source_ami_filters": LAB_FILTERS,
        "ami_bakery_manifest_path": str(manifest),
        "ami_bakery_log_path": str(log),
    }
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}, "vars": variables}}))
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/bake.yml"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise BenchmarkError(f"bake of {cluster} failed:\n{result.stdout[-3000:]}")
    return wall, json.loads(manifest.read_text())


def cleanup(env: dict[str, str], clusters: list[str]) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=env.get("AWS_REGION", "us-east-1"), endpoint_url=env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:hpc:cluster", "Values": clusters}])["Images"]
    for image in images:
        ec2.deregister_image(ImageId=image["ImageId"])
        for bdm in image.get("BlockDeviceMappings", []):
            if bdm.get("Ebs", {}).get("SnapshotId"):
                ec2.delete_snapshot(SnapshotId=bdm["Ebs"]["SnapshotId"])


def run(tmp: Path) -> dict:
    env = lab_env()
    run_id = uuid.uuid4().hex[:6]
    clusters = []
    report = {"single": {}}
    try:
        for index, image in enumerate(IMAGES):
            cluster = f"bench{run_id}s{index}"
            clusters.append(cluster)
            wall, manifest = bake(tmp, env, cluster, [image], tmp / f"{cluster}.log")
            if len(manifest["built"]) != 1:
                raise BenchmarkError(f"the single bake of {image} built {manifest['built']}")
            report["single"][image] = wall
        cluster = f"bench{run_id}all"
        clusters.append(cluster)
        log = tmp / "all.log"
        report["all"], first = bake(tmp, env, cluster, IMAGES, log)
        if len(first["built"]) != len(IMAGES):
            raise BenchmarkError(f"the bake of all images built {first['built']}")
        size = log.stat().st_size
        report["second"], second = bake(tmp, env, cluster, IMAGES, log)
        report["second_built"] = len(second["built"])
        report["second_packer_ran"] = log.stat().st_size != size
    finally:
        cleanup(env, clusters)
    slowest = max(report["single"].values())
    report["slowest_single"] = slowest
    report["ratio"] = report["all"] / slowest
    report["targets"] = {
        "second bake < 10 s and no Packer build": {
            "pass": report["second"] < SECOND_RUN_LIMIT and not report["second_packer_ran"]
            and report["second_built"] == 0},
        "all images <= 1.3x slowest single image": {"pass": report["ratio"] <= CONCURRENCY_RATIO},
    }
    return report


def print_table(report: dict) -> None:
    def verdict(name):
        return "PASS" if report["targets"][name]["pass"] else "FAIL"

    print("AMI bakery, real Packer against the lab endpoint (wall time of ansible-playbook playbooks/bake.yml)")
    for image, wall in report["single"].items():
        print(f"  single image {image:<15} {wall:7.2f} s")
    print(f"  {'measure':<44}{'figure':>10}  {'target':<26}result")
    print(f"  {'bake of all 4 images (parallel Packer)':<44}{report['all']:>8.2f} s  "
          f"{'<= 1.3 x ' + format(report['slowest_single'], '.2f') + ' s':<26}"
          f"{verdict('all images <= 1.3x slowest single image')} (ratio {report['ratio']:.2f})")
    print(f"  {'second bake, unchanged inputs':<44}{report['second']:>8.2f} s  {'< 10 s, no Packer build':<26}"
          f"{verdict('second bake < 10 s and no Packer build')} (builds: {report['second_built']}, "
          f"packer ran: {'yes' if report['second_packer_ran'] else 'no'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    add_report_options(parser)
    args = parser.parse_args(argv)
    return run_and_report(run, args, print_table, "bake_bench_")


if __name__ == "__main__":
    sys.exit(main())
