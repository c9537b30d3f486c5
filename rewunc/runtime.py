"""Process set-up done once per entry point (a script's ``main``, a sweep worker, a deep-agent
worker): how many host devices JAX sees. NumPyro runs parallel chains on the CPU only when JAX
sees several host devices, and that must be fixed before JAX first starts; doing it in one place
makes every process run its chains the same way, so results do not depend on which process ran
a stage."""

from __future__ import annotations

import os
import signal
import threading

_DEVICES: int | None = None
_INTERRUPTED = False


def host_devices(n: int) -> int:
    """Give JAX ``n`` host devices (at most the CPU count, at least 1), once per process; later
    calls change nothing. Returns the devices JAX has."""
    global _DEVICES
    if _DEVICES is None:
        import numpyro

        numpyro.set_host_device_count(max(1, min(os.cpu_count() or 1, int(n))))
        import jax

        _DEVICES = jax.local_device_count()  # starts JAX's backend with that many
    return _DEVICES


def file_backend() -> None:
    """Draw figures with matplotlib's file-only Agg backend: called by the command-line entry
    points (``rewunc``, an experiment's flags), never on import, so a notebook keeps its own."""
    import matplotlib

    matplotlib.use("Agg")


def process_running(pid: int) -> bool:
    """Whether a process ``pid`` runs in this pid namespace (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it runs, as another user
        return True
    return True


def die_with_parent(parent: int) -> None:
    """In a worker process (a pool's ``initializer``): be killed when ``parent`` dies. A pool
    worker outlives a driver killed by SIGKILL and would finish its task while the resumed
    driver's new worker runs the same one; on Linux the kernel sends this process SIGKILL when
    its parent exits (``PR_SET_PDEATHSIG``). Elsewhere nothing is done: the stages' locks
    (:meth:`rewunc.runs.Run.produce`) still keep one writer per stage."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def remember_interrupts() -> None:
    """Make Ctrl-C stick, once per process (main thread; a handler set by the user is kept).

    Python prints and drops an exception raised inside a garbage-collector callback, and JAX
    registers one: a KeyboardInterrupt that lands there is lost and the run goes on as if no key
    were pressed. This handler raises KeyboardInterrupt as Python's does and also remembers it,
    so :func:`check_interrupt` (called between stages and during deep training) raises it
    again."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def handler(signum, frame):
        global _INTERRUPTED
        _INTERRUPTED = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed in this process (even if it was lost)."""
    if _INTERRUPTED:
        raise KeyboardInterrupt("interrupted")
