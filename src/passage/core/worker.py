"""Run untrusted-input work (parsing an uploaded workbook) in a separate process with memory and time limits.

A decompression bomb or a pathological file then exhausts a worker, which is killed, instead of the web
server: the request process never parses the file before the worker has shown it fits the limits. The
worker is started with `spawn` (a fresh interpreter), since forking a threaded server is unsafe; its
address space and CPU time are capped with `resource.setrlimit` (RLIMIT_AS, RLIMIT_CPU) and its wall time
by the parent.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from typing import Any, TypeVar

from passage.core.errors import InvalidInput, PassageError, PayloadTooLarge

ResultT = TypeVar("ResultT")


class WorkerLimitExceeded(PayloadTooLarge):
    """The input needed more memory or time than an import worker may use."""


def _run_child(connection: Any, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], memory_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    try:
        connection.send(("ok", function(*args, **kwargs)))
    except PassageError as exc:
        connection.send(("error", (type(exc).__name__, exc.message, [(f.path, f.message) for f in exc.fields], exc.extra, exc.status)))
    except MemoryError:
        connection.send(("memory", None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent by type only (no values)
        connection.send(("crash", type(exc).__name__))
    finally:
        connection.close()


def run_limited(function: Callable[..., ResultT], *args: Any, memory_bytes: int, seconds: int, what: str = "the file", **kwargs: Any) -> ResultT:
    """Call `function(*args, **kwargs)` in a fresh process limited to `memory_bytes` of address space and
    `seconds` of CPU and wall time; return its result, or re-raise its PassageError, or raise
    WorkerLimitExceeded (413) when a limit was hit. `function` must be importable (a module-level function)."""
    from passage.core.errors import FieldError

    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_run_child, args=(sender, function, args, kwargs, memory_bytes, seconds), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds + 5):
            raise WorkerLimitExceeded(f"{what}: reading it took longer than {seconds} s; split it into smaller files", extra={"max_seconds": seconds})
        try:
            kind, payload = receiver.recv()
        except EOFError:
            # Killed by the CPU limit (SIGXCPU) or the kernel: no answer came back.
            raise WorkerLimitExceeded(f"{what}: reading it needed more memory or time than an import may use; split it into smaller files") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
    if kind == "ok":
        return payload  # type: ignore[no-any-return]
    if kind == "error":
        name, message, fields, extra, status = payload
        error = PassageError(message, fields=[FieldError(p, m) for p, m in fields], extra=extra)
        error.status = status
        error.code = {413: "payload_too_large", 415: "unsupported_media_type", 404: "not_found"}.get(status, "invalid_input")
        raise error
    if kind == "memory":
        raise WorkerLimitExceeded(f"{what}: reading it needed more than {memory_bytes // (1024 * 1024)} MB; split it into smaller files", extra={"max_memory_bytes": memory_bytes})
    raise InvalidInput(f"{what}: it could not be read ({payload})")


__all__ = ["WorkerLimitExceeded", "run_limited"]
