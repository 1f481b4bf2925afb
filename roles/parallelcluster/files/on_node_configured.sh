#!/usr/bin/env bash
# OnNodeConfigured action of the hpcops.aws_hpc compute nodes. ParallelCluster runs it as root on
# every compute node once the node is configured (Scheduling/SlurmQueues/CustomActions); the lab
# runs it over SSH on its stand-in hosts. Argument 1: the cluster name.
# It records that the node is ready for hpcops workloads; extend it with your node setup.
set -euo pipefail
cluster=${1:?usage: on_node_configured.sh CLUSTER}
node=$(hostname)
state_dir=${HPCOPS_STATE_DIR:-/var/lib/hpcops}
mkdir -p "$state_dir"
marker="$state_dir/node-configured.$node"
if [ -f "$marker" ]; then
  echo "hpcops: $node already configured for cluster $cluster"
  exit 0
fi
printf 'cluster=%s\nnode=%s\nconfigured=%s\n' "$cluster" "$node" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$marker.tmp"
mv "$marker.tmp" "$marker"
echo "hpcops: $node configured for cluster $cluster"
