"""Worker processes that run a function over a stream of tasks, results in task order.

Made for `scanfiles.scan_files`, whose tasks take a few milliseconds each and whose
results are a task's findings: the parent (reading inputs, ordering results, making
findings, running the consumer) shares the machine's cores with the workers, so what
it spends a task counts. `multiprocessing.Pool` spends it in three threads of its own
(tasks, results, workers), which hand every result over through locks and wake up
while a result waits. Here the parent has no thread: each worker has a pipe for tasks
and one for results, the parent waits on the result pipes (`selectors`) and reads and
unpickles a result in its main thread when it is there, and a worker keeps `DEPTH`
tasks queued so it never waits for the parent between two tasks.

With `local`, the parent runs the next task itself whenever it has nothing else to
do (no result to yield or read, every worker's queue full): `jobs` processes then take
`jobs - 1` workers, and the parent's tasks cost no pickling and no pipe. On the 20 MB
leak corpus, on 2 cores, that beats two workers and an idle parent (one process fewer
than cores to share; benchmarks/scan_jobs.py). The parent's share adapts to what else
it does: a consumer that takes longer per result leaves it fewer tasks to run.

- Results come in task order. The tasks read from the stream and not yet yielded weigh
  less than `window`, but for the last one read (memory is bounded however far a slow
  task holds the others back). A task weighs 1, or what `weight` says: `scan_files`
  weighs its input bytes, so that a big task (a file's fragment scan, 8 MiB) and the
  small ones after it (its identifier ranges) are held together, where a window of a
  few tasks made the parent wait for the big one.
- Before the parent runs a task itself, it sends each worker the tasks after it until
  the worker has as much weight waiting (beyond the one it runs): a big task in the
  parent leaves no worker idle.
- An exception in a task is raised in the parent at its task's place in the order; a
  worker's has its traceback (code lines only, no message) as its `__cause__`.
- A worker ignores SIGINT: Ctrl-C reaches the parent, which ends the workers, as it does
  on any exception or when the consumer stops iterating (`close`); a worker also ends at
  the end of its task pipe, so none outlives a parent that was killed.
- The workers are forked (they share the parent's loaded state): this needs
  `os.fork`. Where there is none, the caller uses `multiprocessing.Pool` instead.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import selectors
import signal
import struct
import traceback
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

# Tasks sent to a worker and not yet answered: one running, two waiting. One waiting was
# not enough on a busy machine: the parent, itself short of a core, left workers without
# a task between two (20 MB leak corpus, HETU, load 2-3, 7 alternating runs: gaps between
# a worker's tasks 43-100 ms, median 84, against 12-61 ms, median 45; scan_jobs --split).
DEPTH = 3
PIPE_BYTES = 1 << 20  # a result or task of this size goes in one write (Linux pipes)
_HEADER = struct.Struct("<Q")
_END = object()


def available() -> bool:
    """Whether this platform can fork the workers."""
    return "fork" in mp.get_all_start_methods()


class RemoteTraceback(Exception):
    """Where a task failed in its worker: the traceback's frames, without the message."""


def ordered_map(run: Callable[[Any], Any], tasks: Iterable[Any], jobs: int,
                initializer: Callable[[], None] | None = None,
                window: int | None = None, local: bool = False,
                weight: Callable[[Any], int] | None = None,
                started: Callable[[], None] | None = None) -> Generator[Any, None, None]:
    """`map(run, tasks)` in `jobs` processes: forked workers, and the parent if `local`
    (module doc). `initializer` runs in each worker once, after the fork; `started` in the
    parent, once the workers are forked (before a task is read). A task weighs
    `weight(task)` (1 by default): the tasks read and not yet yielded weigh less than
    `window` (jobs * 2 * DEPTH by default), not counting the last one read. Close the iterator
    (or let it end) to end the workers."""
    n = jobs - 1 if local else jobs
    if n < 1:
        if started is not None:
            started()
        yield from map(run, tasks)
        return
    pool = _Pool(run, n, initializer)  # before a task is read: see scanfiles._Hashes
    try:
        if started is not None:
            started()
        yield from pool.results(iter(tasks), window or jobs * DEPTH * 2,
                                weight or _one, local)
    finally:
        pool.close()


def _one(task: Any) -> int:
    return 1


class _Worker:
    def __init__(self, ctx: Any, run: Callable, initializer: Callable[[], None] | None,
                 others: list[int]) -> None:
        task_r, self.task_w = os.pipe()
        self.result_r, result_w = os.pipe()
        for fd in (self.task_w, self.result_r):
            _enlarge(fd)
        keep_closed = [*others, self.task_w, self.result_r]
        self.process = ctx.Process(target=_serve, daemon=True, name="vahti-scan",
                                   args=(task_r, result_w, keep_closed, run, initializer))
        self.process.start()
        os.close(task_r)
        os.close(result_w)
        os.set_blocking(self.task_w, False)
        os.set_blocking(self.result_r, False)
        self.sent: deque[tuple[int, int]] = deque()  # the tasks it has: (sequence, weight)
        self.out = bytearray()  # frames not yet written
        self.waiting = False  # for the task pipe to take `out`
        self.inbox = bytearray()  # bytes of results not yet complete

    def fds(self) -> tuple[int, int]:
        return self.task_w, self.result_r


class _Pool:
    def __init__(self, run: Callable, jobs: int, initializer: Callable[[], None] | None):
        ctx = mp.get_context("fork")
        self.workers: list[_Worker] = []
        for _ in range(jobs):
            others = [fd for w in self.workers for fd in w.fds()]
            self.workers.append(_Worker(ctx, run, initializer, others))
        self.run = run
        self.selector = selectors.DefaultSelector()
        self.by_fd = {w.result_r: w for w in self.workers}
        for w in self.workers:
            self.selector.register(w.result_r, selectors.EVENT_READ)

    def results(self, stream: Iterator[Any], window: int, weight: Callable[[Any], int],
                local: bool) -> Iterator[Any]:
        done: dict[int, tuple[bool, Any]] = {}
        read = yielded = 0
        held = 0  # weight of the tasks read and not yet yielded
        weights: deque[int] = deque()  # theirs, in order
        queued: deque[tuple[int, Any, int]] = deque()  # read, not yet sent: (seq, task, weight)
        exhausted = False

        def take() -> bool:
            """Read the next task if the window has room for it (always when nothing is held)."""
            nonlocal read, held, exhausted
            if exhausted or (read > yielded and held >= window):
                return False
            task = next(stream, _END)
            if task is _END:
                exhausted = True
                return False
            w = weight(task)
            held += w
            weights.append(w)
            queued.append((read, task, w))
            read += 1
            return True

        while True:
            while True:
                while len(queued) < DEPTH + local and take():
                    pass
                if not queued:
                    break
                w = min(self.workers, key=lambda w: len(w.sent))
                if len(w.sent) >= DEPTH or (local and w.sent and len(queued) <= len(w.sent)):
                    break  # the last tasks wait for whoever is free first: a task sent
                    # to a worker cannot be taken back, nor can a worker's queue be shared
                self._send(w, *queued.popleft())
            if yielded in done:
                ok, value = done.pop(yielded)
                yielded += 1
                held -= weights.popleft()
                if not ok:
                    error, frames = value
                    if frames is None:
                        raise error
                    raise error from RemoteTraceback(frames)
                yield value
                continue
            if yielded == read and exhausted and not queued:
                return
            idle = local and bool(queued)
            ready = self.selector.select(0 if idle else None)
            for key, events in ready:
                w = self.by_fd[key.fd]
                if events & selectors.EVENT_WRITE:
                    self._flush(w)
                if events & selectors.EVENT_READ:
                    for answer in self._receive(w):
                        done[w.sent.popleft()[0]] = answer
            if idle and not ready:  # every worker is busy: the parent runs the next task
                seq, task, size = queued.popleft()
                # ... once every worker has as much work waiting as it brings: a big task
                # (a file's fragment scan) would otherwise leave them idle until it is done
                for w in self.workers:
                    while _waiting(w) < size and (queued or take()):
                        self._send(w, *queued.popleft())
                try:
                    done[seq] = (True, self.run(task))
                except Exception as e:  # noqa: BLE001 - raised in order, as a worker's is
                    done[seq] = (False, (e, None))

    def _send(self, w: _Worker, seq: int, task: Any, size: int) -> None:
        data = pickle.dumps(task, pickle.HIGHEST_PROTOCOL)
        w.sent.append((seq, size))
        w.out += _HEADER.pack(len(data))
        w.out += data
        self._flush(w)

    def _flush(self, w: _Worker) -> None:
        """Write what the task pipe takes now; wait for it to take the rest (a worker may
        itself be blocked writing a result, so the parent never blocks on a write)."""
        while w.out:
            try:
                n = os.write(w.task_w, w.out)
            except BlockingIOError:
                break
            except BrokenPipeError:  # the worker ended: reading its results says how
                w.out.clear()
                break
            del w.out[:n]
        if bool(w.out) != w.waiting:
            w.waiting = bool(w.out)
            if w.waiting:
                self.by_fd[w.task_w] = w
                self.selector.register(w.task_w, selectors.EVENT_WRITE)
            else:
                self.selector.unregister(w.task_w)
                del self.by_fd[w.task_w]

    def _receive(self, w: _Worker) -> Iterator[tuple[bool, Any]]:
        """The results `w` finished, read from its pipe as far as it has them."""
        while True:
            try:
                chunk = os.read(w.result_r, PIPE_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                w.process.join(1)
                raise RuntimeError(f"a scan worker ended unexpectedly (exit code "
                                   f"{w.process.exitcode})")
            w.inbox += chunk
        while len(w.inbox) >= _HEADER.size:
            (n,) = _HEADER.unpack_from(w.inbox)
            end = _HEADER.size + n
            if len(w.inbox) < end:
                break
            answer = pickle.loads(memoryview(w.inbox)[_HEADER.size:end])
            del w.inbox[:end]
            yield answer

    def close(self) -> None:
        """End the workers now, running or not, and reap them."""
        self.selector.close()
        for w in self.workers:
            for fd in w.fds():
                os.close(fd)  # a waiting worker ends at the end of its pipe
            if w.process.is_alive():
                w.process.terminate()
        for w in self.workers:
            w.process.join(5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()


def _waiting(w: _Worker) -> int:
    """The weight of the tasks `w` has beyond the one it runs."""
    return sum(size for _, size in w.sent) - (w.sent[0][1] if w.sent else 0)


def _enlarge(fd: int) -> None:
    import fcntl  # here: the module is imported where there is no fcntl (and no fork)

    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, AttributeError):
        pass  # a smaller pipe (or one not Linux's) only means more writes


def _serve(task_r: int, result_w: int, keep_closed: list[int], run: Callable,
           initializer: Callable[[], None] | None) -> None:
    """A worker's loop: read a task, run it, write `(ok, result or exception)`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in keep_closed:  # the parent's ends: a worker holding them would never see EOF
        os.close(fd)
    if initializer is not None:
        initializer()
    try:
        with open(task_r, "rb", buffering=PIPE_BYTES) as tasks, \
                open(result_w, "wb", buffering=PIPE_BYTES) as results:
            while len(header := tasks.read(_HEADER.size)) == _HEADER.size:
                (n,) = _HEADER.unpack(header)
                data = tasks.read(n)
                if len(data) < n:
                    return  # the parent ended while it sent the task
                try:
                    answer = (True, run(pickle.loads(data)))
                except Exception as e:  # noqa: BLE001 - raised again in the parent
                    answer = (False, (_portable(e),
                                      "".join(traceback.format_tb(e.__traceback__))))
                data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
                results.write(_HEADER.pack(len(data)))
                results.write(data)
                results.flush()
    except BrokenPipeError:
        pass  # the parent ended: so does the worker


def _portable(e: Exception) -> Exception:
    """`e`, or what can stand for it in the parent: a decoding error carries the bytes it
    failed on, and some exceptions cannot be pickled."""
    if isinstance(e, UnicodeError):
        return RuntimeError(f"{type(e).__name__} in a scan worker")
    try:
        pickle.loads(pickle.dumps(e, pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - any exception that does not survive pickling
        return RuntimeError(f"{type(e).__name__} in a scan worker")
    return e
