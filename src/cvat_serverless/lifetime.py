"""Processes the platform starts end with it, also when it is killed with ``kill -9``.

A processor or an ``rq worker`` started by the platform (or by a test) gets the starter's pid in
``CVAT_SERVERLESS_EXIT_WITH``; the child watches for being handed to another parent and then ends
itself, so a killed platform leaves no processors holding ports and models in memory and no rq
workers running jobs for a dashboard that is gone. (Linux's ``PR_SET_PDEATHSIG`` fires when the
*thread* that started a child ends, not its process; this works on any POSIX system.)
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping

LOG = logging.getLogger("cvat_serverless.lifetime")
PARENT_ENV = "CVAT_SERVERLESS_EXIT_WITH"


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a child that must end with this process."""
    return {**env, PARENT_ENV: str(os.getpid())}


def exit_with_parent(signum: int = signal.SIGTERM, interval_s: float = 1.0) -> None:
    """When ``CVAT_SERVERLESS_EXIT_WITH`` names this process's parent, send ``signum`` to this process as
    soon as that parent is gone. The variable is removed from this process's environment, so its own
    children (a processor's workers) are not measured against a parent that is not theirs."""
    value = os.environ.pop(PARENT_ENV, "")
    if not value.isdigit():
        return
    parent = int(value)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        LOG.warning("the process that started this one (pid %s) is gone; ending", parent)
        os.kill(os.getpid(), signum)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
