#!/usr/bin/env bash
# `make lab`: the main job against the embedded lab, then a summary of what now exists.
#   1. playbooks/bake.yml     bakes every image with real Packer into the lab endpoint
#   2. site.yml               provisions the cluster (its tiers launch from the baked images)
#      playbooks/guardrails.yml  the account guardrails (trail, Config, alerts, budget) and their report
#   3. lab/slurmlab.py up     a real Slurm cluster on network-namespace hosts, standing in for the
#                             one ParallelCluster would build (moto answers only its dry run)
#   4. playbooks/workload.yml the hello-world job on that cluster, its output read back from S3
#   5. lab/portal_inputs.py   what a user hands the portal (efadmin secret, certificate, JDBC driver)
#      lab/portallab.py up    the portal host on a network-namespace host with a real MariaDB
#      playbooks/portal.yml   the portal tier (EnginFrame's AWS side for real in the endpoint, the host configured)
# Expects the lab environment (.lab/env) to be exported, as the Makefile does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${AWS_ENDPOINT_URL:?the lab environment is not loaded: run make lab}"

step() {  # step NAME LOG COMMAND...: run a step, its output in LOG, and stop with its tail on failure
  local name=$1 log=$2
  shift 2
  echo "lab: $name (log: $log)"
  if ! "$@" > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "lab: $name failed; see $log" >&2
    exit 1
  fi
  sed -n '/PLAY RECAP/,$p' "$log" | sed '/^$/d'
}

changed_in() {  # the sum of changed= over a log's PLAY RECAP lines
  awk '/PLAY RECAP/{recap=1; next} recap && /changed=/{for(i=1;i<=NF;i++) if ($i ~ /^changed=/){split($i,a,"="); s+=a[2]}} END{print s+0}' "$1"
}

step "baking the images (playbooks/bake.yml)" .lab/bake.log ansible-playbook playbooks/bake.yml -i inventories/lab "$@"
step "provisioning the cluster (site.yml)" .lab/site.log ansible-playbook site.yml -i inventories/lab "$@"
step "guardrails (playbooks/guardrails.yml)" .lab/guardrails.log ansible-playbook playbooks/guardrails.yml -i inventories/lab "$@"
echo "lab: starting the Slurm stand-in cluster (lab/slurmlab.py up)"
python lab/slurmlab.py up --inventory inventories/lab
step "running the hello-world job (playbooks/workload.yml)" .lab/workload.log \
  ansible-playbook playbooks/workload.yml -i inventories/lab -i .lab/slurm/inventory.yml "$@"
echo "lab: the portal's inputs and host (lab/portal_inputs.py, lab/portallab.py up)"
python lab/portal_inputs.py
python lab/portallab.py up
# The hpc_ec2 inventory lists the portal's EC2 instance (moto runs nothing) as lab-portal, its Name tag; the portal
# lab's inventory, last on the line, gives the same host the namespace host's address, so the host play reaches the
# stand-in. The limit keeps any other host out (a replaced instance moto would list under its id).
step "the portal tier (playbooks/portal.yml)" .lab/portal.log \
  ansible-playbook playbooks/portal.yml -i inventories/lab -i .lab/slurm/inventory.yml -i .lab/portal/inventory.yml \
  --limit 'localhost,pcluster_head,lab-portal' "$@"

echo
echo "================================ lab summary ================================"
[ -f .lab/summary.txt ] && cat .lab/summary.txt
[ -f .lab/bake-manifest.json ] && python -c '
import json, sys
m = json.load(open(".lab/bake-manifest.json"))
for key in ("built", "skipped", "retired"):
    items = m.get(key) or []
    names = ", ".join(i.get("image", "?") + " " + i.get("image_id", "") for i in items) if items else "none"
    print(f"images {key}: {names}")
'
[ -f .lab/portal-summary.txt ] && sed 's/^/portal: /' .lab/portal-summary.txt
echo "job output read back from S3:"
sed -n '/Show the outputs read back from S3/,/^$/p' .lab/workload.log | grep -E '^ +- ' | sed 's/^ *- /  job /' \
  || echo "  (none found in .lab/workload.log)"
echo "tasks changed: bake $(changed_in .lab/bake.log), site $(changed_in .lab/site.log), guardrails $(changed_in .lab/guardrails.log), workload $(changed_in .lab/workload.log), portal $(changed_in .lab/portal.log)"
echo "(a second 'make lab' reports 0 for bake, site, guardrails and portal; the workload submits a new job each run)"
echo "AWS settings of the lab: source .lab/env   (then the AWS CLI or boto3 against it)"
echo "stop everything the lab started: make lab-down"
