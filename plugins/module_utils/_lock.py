# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run locks kept as SSM parameters (private: not a public API).

A lock is an SSM ``String`` parameter whose value is JSON ``{owner, host, pid, pid_start, started, expires}``.
Taking it is PutParameter with ``Overwrite=False``: SSM answers ``ParameterAlreadyExists`` to every caller but
one, so two runs can never both create it. A lock held by someone else is taken over when

* its lease has expired (``expires`` is past), or
* its holder ran on this same host (``host``) and its process (``pid``, with the start time ``pid_start`` so a
  reused pid does not count) is gone, or
* the caller breaks it (``break_lock``), after checking the other run is gone;

the takeover reads the value again, deletes the parameter only when the value is still the one read, and
creates it again with ``Overwrite=False`` (so of two runs taking over the same stale lock, the one whose create
wins holds it; SSM has no conditional delete, so two takeovers of the same stale lock in the same few
milliseconds could, in theory, both delete and one create after the other: a stale lock plus two new runs at the
same instant). Otherwise the caller waits up to its wait time, then fails naming the holder.

Used by the module ``run_lock`` (the playbooks' locks) and by the autogrow actuator ``_fleet.step`` (one step at a
time per cluster); the autogrow service installs this file next to ``_fleet.py``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from urllib.parse import urlparse

try:
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _aws
except ImportError:  # side by side in the autogrow service, outside Ansible
    import importlib

    _aws = importlib.import_module("_aws")

CONTROLLER_COMMANDS = ("ansible-playbook", "ansible-runner")
POLL = 2.0  # seconds between two looks at a held lock
_IMMEDIATE_RETRIES = 5  # create/read races (the lock vanished or changed between two calls) retried without waiting
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def stamp(epoch):
    """Epoch seconds as an ISO 8601 UTC time (``None`` stays ``None``)."""
    return None if epoch is None else time.strftime(_STAMP, time.gmtime(epoch))


def _proc_stat(pid, proc="/proc"):
    """``(ppid, start time in clock ticks)`` of a process from /proc, ``None`` when it does not exist."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            text = handle.read()
    except OSError:
        return None
    # the command name (2nd field) is in parentheses and may hold spaces: split after its closing parenthesis
    fields = text[text.rfind(")") + 2:].split()
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _proc_argv(pid, proc="/proc"):
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            return [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def controller_pid(start=None, proc="/proc"):
    """The outermost ``ansible-playbook``/``ansible-runner`` process above ``start`` (this process), or ``None``.

    A module runs in a process the controller's worker started; the worker is a fork of the ``ansible-playbook``
    process, so the outermost one in the parent chain is the run itself (or ``ansible-runner`` around it, in AWX).
    """
    pid = os.getpid() if start is None else start
    found = None
    for _hop in range(64):
        argv = _proc_argv(pid, proc)
        if any(os.path.basename(arg) in CONTROLLER_COMMANDS for arg in argv[:2]):
            found = pid
        stat = _proc_stat(pid, proc)
        if stat is None or stat[0] <= 1:
            break
        pid = stat[0]
    return found


def process_start(pid, proc="/proc"):
    """The start time (clock ticks since boot) of process ``pid``, ``None`` when it does not exist."""
    stat = None if pid is None else _proc_stat(pid, proc)
    return None if stat is None else stat[1]


def machine_identity(proc="/proc"):
    """This boot of this machine and this process's pid namespace (``boot_id``, ``ns/pid``): two controllers with
    one host name (containers on the host network, ansible-runner's process isolation) or a reboot differ here, so a
    pid is only looked up where it means the same process. ``None`` where /proc cannot tell (then only leases count)."""
    try:
        with open(os.path.join(proc, "sys", "kernel", "random", "boot_id")) as handle:
            boot = handle.read().strip()
        return "%s %s" % (boot, os.readlink(os.path.join(proc, "self", "ns", "pid")))
    except OSError:
        return None


def process_alive(pid, started, proc="/proc"):
    """Whether process ``pid`` runs and is the one that started at ``started`` (not a later one reusing the pid);
    True where there is no /proc to tell (a holder is never taken for dead without proof)."""
    if not os.path.isdir(proc):
        return True
    now_started = process_start(pid, proc)
    return now_started is not None and (started is None or now_started == started)


def parse(raw):
    """The lock's fields from the parameter's value; ``{}`` when it is not a lock's JSON object."""
    try:
        info = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe(info):
    """The holder in words: owner, host and process, when it started and when its lease ends."""
    if not info:
        return "a holder this collection cannot read (the value is not a lock's JSON)"
    pid = info.get("pid")
    process = "pid %s" % pid if pid else "no known process"
    return "run %s on host %s (%s), started %s, lease ends %s" % (
        info.get("owner"), info.get("host"), process, stamp(info.get("started")), stamp(info.get("expires")))


def stale_reason(info, now, host, alive=process_alive, where=None):
    """Why a lock held by another run may be taken over (``None``: it is live). The holder's process counts only on
    this host, in this boot and pid namespace (``where``, :func:`machine_identity`)."""
    if not info:
        return None
    expires = info.get("expires")
    if isinstance(expires, (int, float)) and expires <= now:
        return "its lease ended at %s" % stamp(expires)
    pid = info.get("pid")
    same_place = info.get("host") == host and info.get("where") == where
    if same_place and isinstance(pid, int) and not alive(pid, info.get("pid_start")):
        return "its process %d on this host (%s) is gone" % (pid, host)
    return None


class LockBusy(_aws.ModuleFailure):
    """The lock is held by another live run (after waiting ``wait_timeout`` seconds)."""


class Lock(object):
    """One lock: SSM parameter ``name`` held by ``owner``.

    ``pid``: the process whose end frees the lock on this host (``None``: only the lease counts). ``clock``,
    ``sleep`` and ``alive`` are replaceable for tests.
    """

    def __init__(self, ssm, name, owner, lease, *, host=None, pid=None, pid_start=None, clock=time.time,
                 sleep=time.sleep, alive=process_alive, where=None):
        self.ssm = ssm
        self.name = name
        self.owner = owner
        self.lease = lease
        self.host = host or socket.gethostname()
        self.pid = pid
        self.pid_start = process_start(pid) if pid_start is None and pid is not None else pid_start
        self.clock = clock
        self.sleep = sleep
        self.alive = alive
        self.where = machine_identity() if where is None and pid is not None else where
        self.warnings = []

    def value(self, now):
        info = {"owner": self.owner, "host": self.host, "pid": self.pid, "pid_start": self.pid_start,
                "where": self.where, "started": int(now), "expires": int(now + self.lease)}
        return json.dumps(info, sort_keys=True)

    def read(self):
        """The parameter's value, ``None`` when there is no lock."""
        answer = _aws.aws_call("read lock %s" % self.name, self.ssm.get_parameter, Name=self.name,
                               ignore=("ParameterNotFound",), default=None)
        return None if answer is None else answer["Parameter"]["Value"]

    def create(self, now):
        """PutParameter with Overwrite=False: True when this call created the lock, False when it exists."""
        answer = _aws.aws_call("take lock %s" % self.name, self.ssm.put_parameter, Name=self.name,
                               Value=self.value(now), Type="String", Overwrite=False,
                               Description="hpcops.aws_hpc run lock", ignore=("ParameterAlreadyExists",),
                               default=None)
        return answer is not None

    def renew(self, now, info):
        value = json.loads(self.value(now))
        value["started"] = info.get("started", value["started"])
        _aws.aws_call("renew lock %s" % self.name, self.ssm.put_parameter, Name=self.name,
                      Value=json.dumps(value, sort_keys=True), Type="String", Overwrite=True)
        return value

    def delete_if(self, raw):
        """Delete the lock when its value is still ``raw``; True when it was (or is already gone)."""
        current = self.read()
        if current is None:
            return True
        if current != raw:
            return False
        _aws.aws_call("delete lock %s" % self.name, self.ssm.delete_parameter, Name=self.name,
                      ignore=("ParameterNotFound",))
        return True

    def acquire(self, wait_timeout=0, break_lock=False, check_mode=False):
        """Take the lock (waiting up to ``wait_timeout`` seconds); returns a dict of what happened.

        ``action``: ``acquired``, ``renewed`` (this owner held it: lease extended) or ``taken_over`` (a stale or
        broken lock replaced; ``previous`` names its holder). Raises :class:`LockBusy` naming the holder.
        In check mode nothing is written: the dict says what would happen.
        """
        deadline = self.clock() + max(0, wait_timeout)
        retries = 0
        taken = None  # (holder, reason) of the stale lock this call deleted
        while True:
            now = self.clock()
            raw = self.read()
            if raw is None:
                if check_mode or self.create(now):
                    return self._done(now, taken)
                retries += 1  # another run created it between our read and our create: look again
                continue
            info = parse(raw)
            if info.get("owner") == self.owner:
                renewed = info if check_mode else self.renew(now, info)
                return {"action": "renewed", "holder": renewed, "previous": None}
            reason = stale_reason(info, now, self.host, self.alive, self.where)
            if reason is None and break_lock:
                reason = "hpc_lock_break (break_lock) was given"
            if reason is not None and retries < _IMMEDIATE_RETRIES:
                retries += 1
                if check_mode:
                    return self._done(now, (info, reason))
                if self.delete_if(raw):
                    taken = (info, reason)
                continue
            if now >= deadline:
                raise LockBusy(self.busy_message(info, wait_timeout), holder=info, name=self.name)
            self.sleep(min(POLL, max(0.1, deadline - now)))

    def _done(self, now, taken):
        previous = None
        if taken is not None:
            previous = taken[0]
            self.warnings.append("Lock %s: took over from %s, because %s." % (self.name, describe(previous),
                                                                              taken[1]))
        action = "acquired" if taken is None else "taken_over"
        return {"action": action, "holder": json.loads(self.value(now)), "previous": previous}

    def busy_message(self, info, wait_timeout):
        waited = " after waiting %d s" % wait_timeout if wait_timeout else ""
        return ("Lock %s is held by %s%s: another run is changing the same resources. Wait for it to end (or set "
                "hpc_lock_wait, the seconds to wait), or, once you have checked that run is gone (a killed AWX job "
                "whose lease has not ended yet), break the lock with -e hpc_lock_break=true."
                % (self.name, describe(info), waited))

    def release(self, check_mode=False):
        """Delete the lock when this owner holds it; returns ``(released, holder)``. Another holder's lock stays."""
        raw = self.read()
        if raw is None:
            return False, None
        info = parse(raw)
        if info.get("owner") != self.owner:
            self.warnings.append("Lock %s is held by %s, not by %s: left as it is."
                                 % (self.name, describe(info), self.owner))
            return False, info
        if not check_mode:
            self.delete_if(raw)
        return True, info


def client_like(other, service):
    """A client of ``service`` made like the client ``other`` (its region; its endpoint when it is not AWS's own,
    as in a lab where one endpoint answers every service); credentials from the default chain."""
    endpoint = other.meta.endpoint_url
    host = urlparse(endpoint).hostname or ""
    own = host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn")
    return _aws.client(service, region=other.meta.region_name, endpoint_url=None if own else endpoint)
