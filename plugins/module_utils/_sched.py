# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Scheduler adapters for the pool manager and autogrow (private: not a public API).

Each adapter turns what a scheduler says into the policy's inputs - pending jobs (dicts with
``nodes``/``cores``/``submit``) and node states (``busy``/``idle``/``drained``/``down`` with an
idle-since time when known) - and builds the requests that drain or resume nodes. Parsing and
request building are pure; the HTTPS call itself (``hpcpack_call``, with a client certificate)
lives in the autogrow service (roles/autogrow_service/files); modules take the scheduler's output
from a previous task instead.

Slurm: ``squeue --json`` and ``sinfo --json`` (Slurm 22.05 shape: ``job_state`` and node ``state``
are strings, ``node_count`` an integer; Slurm 23.02+ lists and ``{"set": ..., "number": ...}``
objects are accepted too). Drain/resume are ``scontrol update nodename=X state=drain reason=...``
and ``state=resume``.

HPC Pack (2016 Update 1+): the head node's REST API ``https://<headnode>/HpcManager/api/...`` with
client-certificate authentication, as Azure's CycleCloud HPC Pack autoscaler uses it:
``auto-scale/grow-decision`` (POST, answers CoresToGrow/NodesToGrow/SocketsToGrow, overall or per
node group), ``auto-scale/check-nodes-idle`` (POST a JSON list of node names, answers
NodeName/TimeStamp entries for the idle ones), ``nodes`` (GET: Name, NodeState, NodeHealth),
``nodes/bringOnline``, ``nodes/takeOffline``, ``nodes/assignTemplate``, ``nodes/remove`` (POST
JSON).
"""

from __future__ import annotations

import json
import re

BUSY = "busy"
IDLE = "idle"
DRAINED = "drained"
DRAINING = "draining"
DOWN = "down"
UNKNOWN = "unknown"

_SAFE_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-\[\],]*$")


class SchedulerError(ValueError):
    """Scheduler output that cannot be read; the message names the source."""


def _number(value):
    """An integer from a Slurm field: 22.05 plain numbers or 23.02+ {"set", "number"} objects."""
    if isinstance(value, dict):
        return int(value.get("number") or 0) if value.get("set", True) else 0
    if value is None or value == "":
        return 0
    return int(value)


def _states(value):
    """Upper-case state words from a Slurm state field (string, list, or 'IDLE+DRAIN')."""
    words = value if isinstance(value, list) else re.split(r"[+ ,]", str(value or ""))
    return [word.strip().upper() for word in words if word and word.strip()]


def _load(text, source):
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise SchedulerError("%s is not JSON: %s" % (source, exc)) from None


# ------------------------------------------------------------------ Slurm
_RUNNING = ("RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED")


def _time_limit_s(value):
    """A job's time limit in seconds, ``None`` when unlimited or unset (minutes in squeue's JSON)."""
    if isinstance(value, dict) and (value.get("infinite") or not value.get("set", True)):
        return None
    minutes = _number(value)
    if minutes <= 0 or minutes >= 0xFFFFFFFE:  # 22.05 prints NO_VAL/INFINITE as these
        return None
    return minutes * 60


def _slurm_jobs(squeue_json, partition, states):
    data = _load(squeue_json, "squeue --json output")
    for job in data.get("jobs", []):
        if not set(_states(job.get("job_state"))) & set(states):
            continue
        if partition and partition not in str(job.get("partition", "")).split(","):
            continue
        yield job


def slurm_pending_jobs(squeue_json, partition=None):
    """Pending jobs from ``squeue --json`` (optionally of one partition), oldest first.

    ``time_limit_s`` is the job's limit (the runtime estimate the forecast uses), ``None`` when
    it has none.
    """
    jobs = []
    for job in _slurm_jobs(squeue_json, partition, ("PENDING",)):
        jobs.append({
            "id": str(job.get("job_id")),
            "nodes": max(_number(job.get("node_count")), 1),
            "cores": _number(job.get("cpus")),
            "submit": _number(job.get("submit_time")),
            "time_limit_s": _time_limit_s(job.get("time_limit")),
            "reason": job.get("state_reason", ""),
        })
    jobs.sort(key=lambda item: (item["submit"], item["id"]))
    return jobs


def slurm_running_jobs(squeue_json, partition=None):
    """Running jobs from ``squeue --json``: id, nodes and expected ``end`` (``None`` when unlimited).

    Slurm sets a running job's end time from its time limit (a year ahead when it has none).
    """
    jobs = []
    for job in _slurm_jobs(squeue_json, partition, _RUNNING):
        limited = _time_limit_s(job.get("time_limit")) is not None
        end = _number(job.get("end_time"))
        jobs.append({
            "id": str(job.get("job_id")),
            "nodes": max(_number(job.get("node_count")), 1),
            "end": end if limited and end > 0 else None,
        })
    jobs.sort(key=lambda item: item["id"])
    return jobs


def slurm_node_state(states):
    """Map Slurm node state words to busy/idle/draining/drained/down."""
    words = set(states)
    if words & {"DOWN", "FAIL", "NOT_RESPONDING", "POWERED_DOWN", "POWER_DOWN", "FUTURE"}:
        return DOWN
    busy = bool(words & {"ALLOCATED", "MIXED", "COMPLETING"})
    if words & {"DRAIN", "DRAINED", "DRAINING"}:
        return DRAINING if busy else DRAINED
    if busy:
        return BUSY
    if "IDLE" in words:
        return IDLE
    return UNKNOWN


def slurm_nodes(sinfo_json):
    """Node name -> {state, cpus, alloc_cpus, reason} from ``sinfo --json``."""
    data = _load(sinfo_json, "sinfo --json output")
    nodes = {}
    for node in data.get("nodes", []):
        name = node.get("name") or node.get("hostname")
        if not name:
            continue
        words = _states(node.get("state")) + _states(node.get("state_flags"))
        nodes[name] = {
            "state": slurm_node_state(words),
            "slurm_state": "+".join(words),
            "cpus": _number(node.get("cpus")),
            "alloc_cpus": _number(node.get("alloc_cpus")),
            "reason": node.get("reason", ""),
        }
    return nodes


def _check_node(name):
    if not _SAFE_NODE.match(name or ""):
        raise SchedulerError("node name %r is not a Slurm node name" % (name,))
    return name


def slurm_drain_argv(node, reason):
    """argv that drains ``node`` (running jobs finish, no new ones start)."""
    return ["scontrol", "update", "nodename=%s" % _check_node(node), "state=drain", "reason=%s" % reason]


def slurm_resume_argv(node):
    return ["scontrol", "update", "nodename=%s" % _check_node(node), "state=resume"]


# ------------------------------------------------------------------ HPC Pack REST
HPCPACK_ROUTES = {
    "grow_decision": ("POST", "auto-scale/grow-decision"),
    "check_nodes_idle": ("POST", "auto-scale/check-nodes-idle"),
    "nodes": ("GET", "nodes"),
    "bring_online": ("POST", "nodes/bringOnline"),
    "take_offline": ("POST", "nodes/takeOffline"),
    "assign_template": ("POST", "nodes/assignTemplate"),
    "remove": ("POST", "nodes/remove"),
}


def hpcpack_request(headnode, action, body=None):
    """(method, url, JSON body bytes or None, headers) of one REST call; pure."""
    if action not in HPCPACK_ROUTES:
        raise SchedulerError("unknown HPC Pack REST action %r" % action)
    if not headnode or "/" in headnode:
        raise SchedulerError("headnode must be a host name, got %r" % (headnode,))
    method, route = HPCPACK_ROUTES[action]
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    return method, "https://%s/HpcManager/api/%s" % (headnode, route), data, headers


def hpcpack_grow_decision(response):
    """Nodes to grow from ``auto-scale/grow-decision``: {"group": nodes} (overall under "")."""
    data = _load(response, "grow-decision response")
    if isinstance(data, dict) and "NodesToGrow" in data:
        return {"": round(float(data.get("NodesToGrow") or 0))}
    result = {}
    for group, value in (data or {}).items():
        result[group] = round(float((value or {}).get("NodesToGrow") or 0))
    return result


def hpcpack_idle_nodes(response):
    """{node name: idle-since text} from ``auto-scale/check-nodes-idle``."""
    data = _load(response, "check-nodes-idle response")
    return {item["NodeName"]: item.get("TimeStamp") for item in data or [] if item.get("NodeName")}


def hpcpack_nodes(response, idle=None):
    """Node name -> state from ``nodes`` (NodeState, NodeHealth) and the idle answer."""
    data = _load(response, "nodes response")
    idle = idle or {}
    nodes = {}
    for item in data or []:
        name = item.get("Name")
        if not name:
            continue
        state = str(item.get("NodeState", "")).lower()
        if state in ("offline",):
            mapped = DRAINED
        elif state in ("draining",):
            mapped = DRAINING
        elif state in ("online",):
            mapped = IDLE if name in idle else BUSY
        elif state in ("provisioning", "starting"):
            mapped = UNKNOWN
        else:
            mapped = DOWN
        nodes[name] = {"state": mapped, "hpc_state": item.get("NodeState"), "health": item.get("NodeHealth"),
                       "idle_since": idle.get(name)}
    return nodes
