# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress lines of a long-running module (private: no compatibility promise).

A module that runs for minutes or hours (a Packer bake, a ParallelCluster wait) appends one line per
step to the file named by its ``progress_file`` option. The collection's action plugin
(plugins/plugin_utils/_progress.py) creates that file on the controller, tails it while the module
runs and shows every new line in the playbook output (and so in AWX job events) as it arrives.

Progress is best effort: without a path every call is a no-op, and a file that cannot be written
stops the progress lines, never the module (``error`` then says why).
"""

from __future__ import annotations

import threading

MASK = "********"


class ProgressWriter:
    """Appends one line per :meth:`write` to ``path`` and flushes it at once; thread safe.

    ``secrets`` is an iterable of strings (for example the module's ``no_log_values``) replaced by
    ``********`` in every line before it is written; it is read at each write, so values added to
    the set later are masked too.
    """

    def __init__(self, path, secrets=()):
        self.path = path or None
        self.secrets = secrets
        self.error = None
        self.lines = 0
        self._lock = threading.Lock()

    @property
    def enabled(self):
        return self.path is not None and self.error is None

    def mask(self, text):
        for secret in sorted((str(s) for s in self.secrets if s), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def write(self, text):
        """Append ``text`` (one line; embedded newlines are kept as separate lines) and flush."""
        if not self.enabled:
            return
        lines = [line.rstrip("\r") for line in str(text).rstrip("\n").split("\n")]
        data = "".join(self.mask(line) + "\n" for line in lines)
        with self._lock:
            if not self.enabled:
                return
            try:
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(data)
                    handle.flush()
            except OSError as exc:
                self.error = f"cannot write the progress file {self.path}: {exc}"
                return
            self.lines += len(lines)
