"""Atomic, non-destructive file writes and pickle-free loads."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rewunc.runtime import process_running


class OverwriteError(FileExistsError):
    """Refusing to overwrite an existing result without ``force``."""


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], None], *, force: bool = False
) -> Path:
    """Write ``path`` through a temporary file in the same folder, then ``os.replace`` it.

    ``write(tmp_path)`` does the writing. A crash leaves either the old file or none, never half
    a file. An existing ``path`` raises OverwriteError unless ``force``.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OverwriteError(f"{path} exists; pass force=True (--force) to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_file(path)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# what _temp_file names: .<name>.<host>-<pid>-<random><suffix>
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{12}(\.[^.]*)?$")


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as hex."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers killed mid-write left under ``folder``: those
    :func:`atomic_write` named on this host for a process that is gone; returns them. A live
    writer's (another process sharing the run, another host) are kept."""
    host, found = _host(), []
    for p in Path(folder).rglob(".*"):
        m = _TEMPORARY.match(p.name)
        if m and m["host"] == host and not process_running(int(m["pid"])) and p.is_file():
            p.unlink(missing_ok=True)
            found.append(p)
    return found


def _temp_file(path: Path) -> Path:
    """A new empty ``.<name>.<host>-<pid>-<random><suffix>`` beside ``path`` (the writer named,
    so that :func:`remove_temporaries` knows a dead one's), with ordinary permissions
    (0o666 & ~umask, as ``open`` gives; ``tempfile.mkstemp`` would give 0o600)."""
    writer = f"{_host()}-{os.getpid()}"
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{writer}-{secrets.token_hex(6)}{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path}: no free temporary file name beside it")


def write_text(path, text: str, *, force: bool = False) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text), force=force)


def write_json(path, obj, *, force: bool = False) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", force=force)


def write_npz(path, arrays: dict[str, np.ndarray], *, force: bool = False) -> Path:
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"write_npz: {name!r} is an object array; only numeric/str arrays")

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return atomic_write(path, write, force=force)


class CorruptFileError(ValueError):
    """A file rewunc wrote is missing, truncated, corrupted or not the expected format."""


def read_npz(path) -> dict[str, np.ndarray]:
    """Load an .npz written by rewunc; never unpickles (object arrays are refused).

    Raises CorruptFileError naming ``path`` for a missing, empty, truncated or bit-flipped file
    (zip CRCs catch flipped bits), instead of zipfile's, zlib's or numpy's own errors.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError as err:
        raise CorruptFileError(f"{path}: file not found") from err
    except Exception as err:  # zipfile, zlib, numpy and tokenize all fail their own ways
        if isinstance(err, ValueError) and "allow_pickle" in str(err):
            raise CorruptFileError(f"{path}: holds pickled objects; refusing to load it") from err
        raise CorruptFileError(
            f"{path}: not a readable .npz (truncated, empty or corrupted: {err})"
        ) from err


FIGURE_FORMATS = ("png", "svg", "pdf")
# no creation dates, and SVG ids from a fixed salt: the same figure gives the same bytes
_METADATA = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def save_figure(path, fig, *, fmt: str = "png", force: bool = False, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically as ``path`` + ``.fmt`` (``fmt`` one of
    ``FIGURE_FORMATS``; a png/svg/pdf suffix on ``path`` is replaced); returns the path."""
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"figure format: expected one of {FIGURE_FORMATS}, got {fmt!r}")
    import matplotlib

    path = Path(path)
    if path.suffix.lstrip(".") in FIGURE_FORMATS:
        path = path.with_suffix("")
    path = path.parent / f"{path.name}.{fmt}"  # not with_suffix: "rank_p=0.1" has no suffix

    def write(tmp):
        with matplotlib.rc_context({"svg.hashsalt": "rewunc"}):
            fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight", metadata=_METADATA[fmt])

    return atomic_write(path, write, force=force)
