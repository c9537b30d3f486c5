"""One driver per sweep: ``driver.lock``, created atomically with its holder's host, pid and start
time, judged stale only when that process is surely gone (same host and pid namespace, pid not
running or reused), and released only by its own driver.

Not ``filelock``: its ``FileLock`` is an ``flock``, which NFS does not reliably share between
hosts (a sweep folder on a cluster's shared disk) and which cannot name its holder in a
refusal; its ``SoftFileLock`` (exclusive create) names no holder and never judges a lock stale.
This lock appears atomically with its contents (a hard link, safe on NFS), names the holder's
host, pid and start, and takes over only a lock whose process is surely gone
(``tests/test_sweep.py`` checks each)."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import sys
from pathlib import Path

from rewunc.runtime import process_running
from rewunc.sweep.grid import SweepError

LOCK_FILE = "driver.lock"  # the running driver's host, pid and start time


def is_lock_file(entry: Path) -> bool:
    return entry.name.startswith(LOCK_FILE)


def take_lock(path: Path) -> dict:
    """Create ``path/driver.lock`` atomically (O_CREAT | O_EXCL) holding this driver's host, pid
    and start time; returns them. A lock whose driver is gone (this host, pid not running) is
    taken over with a warning; any other lock is refused with a SweepError naming its holder."""
    file = path / LOCK_FILE
    mine = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        # containers can share a host name but not pids: judge a pid only in its own namespace
        "pid_ns": _pid_namespace(),
        "pid_start": _process_start(os.getpid()),  # a reused pid has another start
    }
    # written in full to a file of our own, then hard-linked into place (fails if a lock
    # exists): the lock appears atomically with its contents, on NFS too
    draft = path / f"{LOCK_FILE}.{socket.gethostname()}.{os.getpid()}.new"
    try:
        draft.write_text(json.dumps(mine) + "\n")
    except OSError as err:
        raise SweepError(f"{file}: cannot create the driver lock ({err})") from err
    try:
        return _link_lock(draft, file, mine)
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()


def _link_lock(draft: Path, file: Path, mine: dict) -> dict:
    for _ in range(5):  # a lost race against another driver taking over the same stale lock
        try:
            os.link(draft, file)
        except FileExistsError:
            holder = _read_lock(file)
            if holder is None:  # removed meanwhile
                continue
            if not _stale(holder):
                raise SweepError(_held(file, holder)) from None
            if _remove_stale(file, holder):
                print(
                    f"warning: {file}: its driver ({_who(holder)}) is no longer running; "
                    "taking the sweep over",
                    file=sys.stderr,
                    flush=True,
                )
            continue
        except OSError as err:
            raise SweepError(f"{file}: cannot create the driver lock ({err})") from err
        return mine
    raise SweepError(f"{file}: other drivers keep taking this sweep; try again")


def _read_lock(file: Path) -> dict | None:
    """The lock's contents; None if it is gone; {} if it cannot be read as a lock."""
    try:
        holder = json.loads(file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _stale(holder: dict) -> bool:
    """Whether the lock's driver is surely gone: on this host and in this pid namespace, and
    its pid not running, or running a process that started at another time (a reused pid)."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    ns = holder.get("pid_ns")
    if ns is not None and ns != _pid_namespace():  # another container's pid: cannot tell
        return False
    if not process_running(pid):
        return True
    start = holder.get("pid_start")
    return start is not None and _process_start(pid) not in (None, start)


def _pid_namespace() -> str | None:
    """This process's pid namespace (Linux), e.g. ``pid:[4026531836]``; None elsewhere."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after "pid (comm)"


def _remove_stale(file: Path, holder: dict) -> bool:
    """Remove the stale lock ``holder`` unless another driver replaced it meanwhile: it is
    renamed aside first (atomic), and put back if it turns out to be another's."""
    aside = file.with_name(f"{LOCK_FILE}.{socket.gethostname()}.{os.getpid()}.stale")
    try:
        os.replace(file, aside)
    except FileNotFoundError:
        return False
    if _read_lock(aside) == holder:
        aside.unlink()
        return True
    with contextlib.suppress(FileExistsError, FileNotFoundError):  # a live one's: put it back
        os.link(aside, file)
    with contextlib.suppress(FileNotFoundError):
        aside.unlink()
    return False


def _held(file: Path, holder: dict) -> str:
    if not holder:
        return (
            f"{file} exists but is not a readable driver lock; if no driver is running this "
            "sweep, delete that file and run again"
        )
    return (
        f"{file}: another driver is running this sweep ({_who(holder)}); wait for it to end, "
        "or, if that process is gone, delete that file and run again"
    )


def _who(holder: dict) -> str:
    return f"host {holder.get('host')}, pid {holder.get('pid')}, started {holder.get('started')}"


def release_lock(file: Path, lock: dict) -> None:
    """Remove the driver lock, if it is still this driver's."""
    if _read_lock(file) == lock:
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
