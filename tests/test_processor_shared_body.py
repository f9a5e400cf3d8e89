"""The shared memory that carries bodies between the processor and a worker process."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

from cvat_serverless.processor.shared_body import SharedBody


def _answer_twice_as_long(conn: Connection) -> None:
    shared = SharedBody(recv_handle(conn))
    while (size := conn.recv()) is not None:
        conn.send(shared.put(shared.take(size) * 2))
    shared.close()


def test_a_body_put_on_one_side_is_taken_on_the_other_as_it_grows() -> None:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_answer_twice_as_long, args=(child,), daemon=True)
    process.start()
    child.close()
    shared = SharedBody.create()
    try:
        send_handle(parent, shared.fd, process.pid)
        for body in (b"abc", bytes(range(256)) * 5000, b"z" * (3 * 2**20), b"", b"tail"):
            parent.send(shared.put(body))
            assert shared.take(parent.recv()) == body * 2
        parent.send(None)
        process.join(10)
        assert process.exitcode == 0
    finally:
        shared.close()
        parent.close()


def test_put_and_take_in_one_process_and_close_releases_the_descriptor() -> None:
    shared = SharedBody.create()
    assert shared.take(shared.put(b"x" * (2**20 + 1))) == b"x" * (2**20 + 1)
    assert shared.take(shared.put(b"short")) == b"short"
    fd = shared.fd
    shared.close()
    assert shared.fd == -1
    import os

    try:
        os.fstat(fd)
    except OSError:
        pass
    else:  # the number may already be reused by another open file; it must not be our memfd
        assert not os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:cvat-serverless-body")
