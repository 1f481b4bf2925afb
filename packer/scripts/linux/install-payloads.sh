#!/usr/bin/env bash
# Slurm-side payloads of the ParallelCluster image: everything under s3://$HPC_PAYLOAD_BUCKET/$HPC_PAYLOAD_PREFIX
# (prolog/epilog scripts, job environment modules) goes to /opt/hpc/slurm, scripts made executable.
# ParallelCluster's own bootstrap (cookbook) stays untouched: the AMI is the official one of the
# chosen pcluster version. Runs as root (sudo -E).
set -euo pipefail

target=/opt/hpc/slurm
install -d -m 0755 "$target"

if [ -z "${HPC_PAYLOAD_BUCKET:-}" ]; then
  echo "install-payloads: no payload bucket given; nothing to install"
  exit 0
fi

aws s3 cp --recursive --only-show-errors "s3://${HPC_PAYLOAD_BUCKET}/${HPC_PAYLOAD_PREFIX:-slurm/}" "$target/"
find "$target" -type f -name '*.sh' -exec chmod 0755 {} +
echo "install-payloads: $(find "$target" -type f | wc -l) files in $target"
