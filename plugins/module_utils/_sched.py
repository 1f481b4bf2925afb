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


SQUEUE = "squeue_json (the output of squeue --json)"
SINFO = "sinfo_json (the output of sinfo --json)"


def _load(text, source):
    """The parsed JSON of ``text``; SchedulerError naming ``source`` (the option) and what is wrong."""
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        start = str(text or "").strip()[:80]
        raise SchedulerError("%s is not JSON (%s); it starts with %r" % (source, exc, start)) from None


def _slurm_list(text, source, key):
    """The ``key`` list of a Slurm JSON document; SchedulerError when absent or when Slurm reports errors.

    A document without the list (an error answer, ``{}``) would read as an empty queue or no nodes, so it
    is refused: an unreadable scheduler must never look like an idle one.
    """
    data = _load(text, source)
    if not isinstance(data, dict):
        raise SchedulerError("%s must be a JSON object with a %r list, got a JSON %s"
                             % (source, key, type(data).__name__))
    errors = [item.get("error") or item.get("description") or str(item) if isinstance(item, dict) else str(item)
              for item in data.get("errors") or []]
    if errors:
        raise SchedulerError("%s reports Slurm errors: %s" % (source, "; ".join(str(e) for e in errors)))
    items = data.get(key)
    if not isinstance(items, list):
        raise SchedulerError("%s has no %r list (keys: %s)" % (source, key, ", ".join(sorted(data)) or "none"))
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SchedulerError("%s: %s[%d] must be a JSON object, got %r" % (source, key, index, item))
    return items


def _field(source, where, name, value, convert):
    """``convert(value)``; SchedulerError naming the source, the item and the field when it cannot be read."""
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise SchedulerError("%s: %s field %s must be a number, got %r" % (source, where, name, value)) from None


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


def _num(source, where, item, name, convert=_number):
    return _field(source, where, name, item.get(name), convert)


def _slurm_jobs(squeue_json, partition, states, source):
    """(job, where) of the jobs in ``states``; ``where`` names the job in errors (``jobs[3] (job 12)``)."""
    for index, job in enumerate(_slurm_list(squeue_json, source or SQUEUE, "jobs")):
        if not set(_states(job.get("job_state"))) & set(states):
            continue
        if partition and partition not in str(job.get("partition", "")).split(","):
            continue
        yield job, "jobs[%d] (job %s)" % (index, job.get("job_id"))


def slurm_pending_jobs(squeue_json, partition=None, source=None):
    """Pending jobs from ``squeue --json`` (optionally of one partition), oldest first.

    ``time_limit_s`` is the job's limit (the runtime estimate the forecast uses), ``None`` when
    it has none. Errors name ``source`` (by default the hpc_autogrow option, :data:`SQUEUE`).
    """
    source = source or SQUEUE
    jobs = []
    for job, where in _slurm_jobs(squeue_json, partition, ("PENDING",), source):
        jobs.append({
            "id": str(job.get("job_id")),
            "nodes": max(_num(source, where, job, "node_count"), 1),
            "cores": _num(source, where, job, "cpus"),
            "submit": _num(source, where, job, "submit_time"),
            "time_limit_s": _num(source, where, job, "time_limit", _time_limit_s),
            "reason": job.get("state_reason", ""),
        })
    jobs.sort(key=lambda item: (item["submit"], item["id"]))
    return jobs


def slurm_running_jobs(squeue_json, partition=None, source=None):
    """Running jobs from ``squeue --json``: id, nodes and expected ``end`` (``None`` when unlimited).

    Slurm sets a running job's end time from its time limit (a year ahead when it has none).
    """
    source = source or SQUEUE
    jobs = []
    for job, where in _slurm_jobs(squeue_json, partition, _RUNNING, source):
        limited = _num(source, where, job, "time_limit", _time_limit_s) is not None
        end = _num(source, where, job, "end_time")
        jobs.append({
            "id": str(job.get("job_id")),
            "nodes": max(_num(source, where, job, "node_count"), 1),
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


def slurm_nodes(sinfo_json, source=None):
    """Node name -> {state, cpus, alloc_cpus, reason} from ``sinfo --json``; errors name ``source``
    (by default the hpc_autogrow option, :data:`SINFO`)."""
    source = source or SINFO
    nodes = {}
    for index, node in enumerate(_slurm_list(sinfo_json, source, "nodes")):
        name = node.get("name") or node.get("hostname")
        if not name:
            continue
        where = "nodes[%d] (%s)" % (index, name)
        words = _states(node.get("state")) + _states(node.get("state_flags"))
        nodes[name] = {
            "state": slurm_node_state(words),
            "slurm_state": "+".join(words),
            "cpus": _num(source, where, node, "cpus"),
            "alloc_cpus": _num(source, where, node, "alloc_cpus"),
            "reason": node.get("reason", ""),
        }
    return nodes


def check_jobs(jobs, option):
    """``jobs`` (a list of dicts with ``nodes``/``cores``/``end`` numbers) as given; errors name ``option``."""
    if not isinstance(jobs, list):
        raise SchedulerError("%s must be a list of jobs, got %r" % (option, jobs))
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise SchedulerError("%s[%d] must be a dict with nodes and/or cores, got %r" % (option, index, job))
        for name in ("nodes", "cores", "end"):
            if job.get(name) is not None:
                _field(option, "[%d]" % index, name, job[name], float)
    return jobs


def check_nodes(nodes, option):
    """``nodes`` (name -> state or {state, idle_since}) as given; errors name ``option`` and the node."""
    if not isinstance(nodes, dict):
        raise SchedulerError("%s must be a dict of node name to state, got %r" % (option, nodes))
    states = (BUSY, IDLE, DRAINING, DRAINED, DOWN, UNKNOWN)
    for name, value in nodes.items():
        state = value.get("state") if isinstance(value, dict) else value
        if state not in states:
            raise SchedulerError("%s[%s]: state must be one of %s, got %r" % (option, name, ", ".join(states), state))
        if isinstance(value, dict) and value.get("idle_since") is not None:
            _field(option, "[%s]" % name, "idle_since", value["idle_since"], float)
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
