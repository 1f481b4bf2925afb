#!/usr/bin/env bash
# Last provisioner: ParallelCluster AMIs ship /usr/local/sbin/ami_cleanup.sh, which removes logs,
# SSH host keys, cloud-init state and the build user's keys so the image boots as new.
set -euo pipefail

if [ -x /usr/local/sbin/ami_cleanup.sh ]; then
  /usr/local/sbin/ami_cleanup.sh
else
  echo "cleanup: /usr/local/sbin/ami_cleanup.sh not found (not a ParallelCluster AMI?)" >&2
  exit 1
fi
