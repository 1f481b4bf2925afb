#!/usr/bin/env bash
# `make lab`: run the main job, site.yml, against the embedded lab and print what now exists.
# Expects the lab environment (.lab/env) to be exported, as the Makefile does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${AWS_ENDPOINT_URL:?the lab environment is not loaded: run make lab}"

log=.lab/site.log
echo "lab: running ansible-playbook site.yml -i inventories/lab (log: $log)"
ansible-playbook site.yml -i inventories/lab "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "lab: site.yml failed (exit $status); see $log" >&2
  exit "$status"
fi

echo
echo "================================ lab summary ================================"
if [ -f .lab/summary.txt ]; then
  cat .lab/summary.txt
fi
changed=$(awk '/PLAY RECAP/{recap=1; next} recap && /changed=/{for(i=1;i<=NF;i++) if ($i ~ /^changed=/){split($i,a,"="); s+=a[2]}} END{print s+0}' "$log")
echo "tasks changed in this run: $changed (a second 'make lab' reports 0)"
echo "AWS settings of the lab: source .lab/env   (then: aws ec2 describe-instances, boto3, ...)"
echo "stop everything the lab started: make lab-down"
