"""``rq worker`` (same arguments) that ends with the platform that started it.

It ends with ``SIGKILL``, not RQ's warm shutdown: the job it was running is then put back on the
queue by the next platform's supervision and goes on from its checkpoint, instead of running on
against a dashboard that is gone and failing.
"""

from __future__ import annotations

import signal

from cvat_serverless.lifetime import exit_with_parent


def main() -> None:
    exit_with_parent(signal.SIGKILL)
    from rq.cli import main as rq_main

    rq_main(prog_name="rq")


if __name__ == "__main__":
    main()
