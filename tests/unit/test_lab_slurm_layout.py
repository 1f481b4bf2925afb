"""lab/slurm_layout.py: the Slurm partitions and node names of the lab's stand-in for a ParallelCluster cluster."""

from __future__ import annotations

from pathlib import Path

import yaml
from slurm_layout import slurm_layout  # lab/ is on sys.path (tests/conftest.py)

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_spec import render

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pcluster"


def load_spec(case):
    return yaml.safe_load((FIXTURES / f"{case}.spec.yml").read_text())


def test_slurm_layout_names_nodes_like_parallelcluster():
    layout = slurm_layout(render(load_spec("full")))
    compute = layout["partitions"][0]
    assert compute["name"] == "compute" and compute["default"]
    assert compute["nodes"][:3] == ["compute-st-c5n18-1", "compute-st-c5n18-2", "compute-dy-c5n18-3"]
    assert len(layout["nodes"]) == 16 + 32


def test_slurm_layout_capped_to_existing_hosts():
    config = render(load_spec("minimal"))
    layout = slurm_layout(config, node_names=["queue1-dy-t3micro-1", "queue1-dy-t3micro-2"])
    assert layout == {
        "partitions": [{"name": "queue1", "nodes": ["queue1-dy-t3micro-1", "queue1-dy-t3micro-2"], "default": True}],
        "nodes": ["queue1-dy-t3micro-1", "queue1-dy-t3micro-2"],
    }
