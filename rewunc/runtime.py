"""Process set-up done once per entry point (a script's ``main``, a sweep worker, a deep-agent
worker): how many host devices JAX sees. NumPyro runs parallel chains on the CPU only when JAX
sees several host devices, and that must be fixed before JAX first starts; doing it in one place
makes every process run its chains the same way, so results do not depend on which process ran
a stage."""

from __future__ import annotations

import os

_DEVICES: int | None = None


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
