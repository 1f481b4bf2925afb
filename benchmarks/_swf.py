"""Standard Workload Format (SWF) parser of the autogrow simulator (benchmarks/autogrow_sim.py).

SWF (Parallel Workloads Archive, Feitelson et al.) is one job per line, 18 whitespace-separated
fields; header lines start with ``;`` and carry ``Key: value`` pairs (``MaxNodes``, ``MaxProcs``,
...). Fields used here (1-based as in the format's definition):

1 job number, 2 submit time (s), 3 wait time, 4 run time (s), 5 allocated processors,
8 requested processors, 9 requested time, 11 status.

The processors of a job are the allocated count (field 5), or the requested count (field 8) when
field 5 is missing (-1). Jobs with no processors or a negative run time are skipped (and counted).
Pure Python, no I/O beyond the iterable of lines it is given.
"""

from __future__ import annotations

FIELDS = 18


class SWFError(ValueError):
    """A line that is not SWF; the message names the line number."""


class Job:
    __slots__ = ("job_id", "procs", "requested_time", "runtime", "status", "submit")

    def __init__(self, job_id, submit, runtime, procs, *, requested_time=-1, status=1):
        self.job_id = job_id
        self.submit = submit
        self.runtime = runtime
        self.procs = procs
        self.requested_time = requested_time
        self.status = status

    def nodes(self, cores_per_node=1):
        """Nodes the job needs when a node has ``cores_per_node`` processors."""
        return -(-self.procs // cores_per_node)

    def __repr__(self):
        return f"Job({self.job_id!r}, submit={self.submit!r}, runtime={self.runtime!r}, procs={self.procs!r})"


class Trace:
    def __init__(self, jobs, header, skipped):
        self.jobs = jobs
        self.header = header
        self.skipped = skipped

    @property
    def max_procs(self):
        """MaxProcs or MaxNodes from the header, else the largest job."""
        for key in ("MaxProcs", "MaxNodes"):
            value = self.header.get(key)
            if value is not None:
                try:
                    return int(value)
                except ValueError:
                    pass
        return max((job.procs for job in self.jobs), default=0)


def _number(text, lineno, what):
    try:
        value = float(text)
    except ValueError:
        raise SWFError(f"line {lineno}: field {what} is not a number: {text!r}") from None
    return int(value) if value == int(value) else value


def parse(lines):
    """Parse SWF text lines into a :class:`Trace` (jobs sorted by submit time, then job number)."""
    header = {}
    jobs = []
    skipped = 0
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(";"):
            key, sep, value = line[1:].partition(":")
            if sep and key.strip() and " " not in key.strip():
                header[key.strip()] = value.strip()
            continue
        fields = line.split()
        if len(fields) < 5:
            raise SWFError(f"line {lineno}: {len(fields)} fields, SWF needs {FIELDS}")
        fields = fields + ["-1"] * (FIELDS - len(fields))
        job_id = _number(fields[0], lineno, "1 (job number)")
        submit = _number(fields[1], lineno, "2 (submit time)")
        runtime = _number(fields[3], lineno, "4 (run time)")
        procs = _number(fields[4], lineno, "5 (allocated processors)")
        if procs is None or procs <= 0:
            procs = _number(fields[7], lineno, "8 (requested processors)")
        requested_time = _number(fields[8], lineno, "9 (requested time)")
        status = _number(fields[10], lineno, "11 (status)")
        if procs <= 0 or runtime < 0 or submit < 0:
            skipped += 1
            continue
        jobs.append(Job(job_id, submit, runtime, int(procs), requested_time=requested_time, status=status))
    jobs.sort(key=lambda job: (job.submit, job.job_id))
    return Trace(jobs, header, skipped)


def load(path):
    """Parse the SWF file at ``path``."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return parse(handle)


def format_job(job_id, submit, runtime, procs, requested_time=-1):
    """One SWF line (18 fields; unknown ones -1, status 1 = completed)."""
    fields = [job_id, submit, -1, runtime, procs, -1, -1, procs, requested_time, -1, 1, -1, -1, -1, 1, -1, -1, -1]
    return " ".join(str(int(value)) for value in fields)


def dump(jobs, header, handle):
    """Write ``header`` (key -> value) and ``jobs`` (tuples for :func:`format_job`) as SWF text."""
    for key, value in header.items():
        handle.write(f"; {key}: {value}\n")
    for job in jobs:
        handle.write(format_job(*job) + "\n")
