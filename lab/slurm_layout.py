"""The Slurm partitions and nodes of a cluster ParallelCluster builds from a configuration (lab tooling).

The lab's Slurm stand-in (lab/slurmlab.py) is laid out from the configuration the parallelcluster role renders,
with the node names ParallelCluster gives. Nothing under plugins/ or roles/ uses it.
"""

from __future__ import annotations


def slurm_layout(config, node_names=None):
    """Partitions and nodes of a Slurm cluster built from a ParallelCluster configuration.

    ParallelCluster names nodes <queue>-<st|dy>-<compute resource>-<n>; static nodes (MinCount) come
    first. ``node_names`` caps the layout at the hosts that really exist (the lab has N hosts): the
    first queue's first compute resource gets them, in order, as static nodes.
    Returns {"partitions": [{"name", "nodes": [...], "default"}], "nodes": [...]}.
    """
    partitions = []
    all_nodes = []
    queues = config.get("Scheduling", {}).get("SlurmQueues", [])
    for index, queue in enumerate(queues):
        nodes = []
        for res in queue.get("ComputeResources", []):
            count = max(int(res.get("MinCount", 0)), int(res.get("MaxCount", 0)))
            static = int(res.get("MinCount", 0))
            for n in range(1, count + 1):
                kind = "st" if n <= static else "dy"
                nodes.append(f"{queue['Name']}-{kind}-{res['Name'].lower()}-{n}")
        partitions.append({"name": queue["Name"], "nodes": nodes, "default": index == 0})
        all_nodes += nodes
    if node_names is not None:
        names = list(node_names)
        capped = []
        for part in partitions:
            keep = [n for n in part["nodes"] if n in names]
            if not keep and part["default"]:
                keep = names
            capped.append(dict(part, nodes=keep))
        partitions = [p for p in capped if p["nodes"]]
        all_nodes = names
    return {"partitions": partitions, "nodes": all_nodes}
