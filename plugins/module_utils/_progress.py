# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress lines of a long-running module (private: no compatibility promise).

A module that runs for minutes or hours (a Packer bake, a ParallelCluster wait) appends one line per
step to the file named by its ``progress_file`` option. The collection's action plugin
(plugins/plugin_utils/_progress.py) creates that file on the controller, tails it while the module
runs and shows every new line in the playbook output (and so in AWX job events) as it arrives.

Progress is best effort: without a path nothing is written, and a file that cannot be written
stops the progress lines, never the module (``error`` then says why). The same writer appends the
lines to a log file of the user's (packer_build's ``log_path``) and masks secrets for both: the
module has one writer and one masking path.
"""

from __future__ import annotations

import threading
import time

MASK = "********"


def mask(text, secrets):
    """``text`` with every value of ``secrets`` replaced by ``********`` (longer values first, so a
    secret that contains a shorter one is masked whole)."""
    for secret in sorted((str(s) for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _append(path, data):
    """Append ``data`` to ``path`` and flush; return None, or why it could not be written."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
    except OSError as exc:
        return str(exc)
    return None


class ProgressWriter:
    """The one writer of a module's progress lines: masks each line once, then appends it to ``path``
    (flushed at once) and, when given, to ``log_path`` with a timestamp; thread safe.

    ``secrets`` is an iterable of strings (for example the module's ``no_log_values``) replaced by
    ``********`` in every line before it is written; it is read at each write, so values added to
    the set later are masked too. :meth:`write` returns the masked text, for the module's own log.

    ``log_path`` is a user's file (packer_build's ``log_path``): it gets the same lines, each prefixed
    with the local time. A file that cannot be written stops its lines only (``error`` for ``path``,
    ``log_error`` for ``log_path``).
    """

    def __init__(self, path, secrets=(), log_path=None):
        self.path = path or None
        self.secrets = secrets
        self.log_path = log_path or None
        self.error = None
        self.log_error = None
        self.lines = 0
        self._lock = threading.Lock()

    @property
    def enabled(self):
        return self.path is not None and self.error is None

    def mask(self, text):
        return mask(text, self.secrets)

    def write(self, text):
        """Append ``text`` (one line; embedded newlines are kept as separate lines); return it masked."""
        lines = [self.mask(line.rstrip("\r")) for line in str(text).rstrip("\n").split("\n")]
        with self._lock:
            if self.enabled:
                problem = _append(self.path, "".join(line + "\n" for line in lines))
                if problem:
                    self.error = f"cannot write the progress file {self.path}: {problem}"
                else:
                    self.lines += len(lines)
            if self.log_path is not None and self.log_error is None:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
                problem = _append(self.log_path, "".join(f"{stamp} {line}\n" for line in lines))
                if problem:
                    self.log_error = f"cannot write the log file {self.log_path}: {problem}"
        return "\n".join(lines)
