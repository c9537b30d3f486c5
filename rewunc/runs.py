"""Run directories ``runs/<experiment>/<name>/``: shareable by processes, verified on resume.

    config.json          experiment, name, created, the configuration ("config": a resumed run
                         must match it) and provenance (python, platform, package versions, git)
    stages/<slug>.json   one marker per finished stage: {"key", "finished" (unix time),
                         "files": {relative path: {"size", "sha256"}}, **info}
    demos_*.npz, posterior_*.{npz,json}, cells/*.csv   the stages' files (recorded in markers)
    episodes.csv, results.csv, ..., figures/*.png      the end products (not verified)

A folder is a run when it holds ``config.json`` and ``stages/``. Every file is written atomically
(temp file + ``os.replace``) and a stage's marker only after its files are on disk, so a run killed
at any moment resumes (``resume=True``) by redoing just the stage that was cut off: nothing is lost
and nothing is counted twice. Each stage has its own marker, so processes finishing different stages
of one run at once never lose each other's; :meth:`Run.done` reads the disk every call, so stages
finished by other processes count.

Verification: a marker records the size and sha256 of its stage's files when the stage finishes.
Resuming checks every finished stage's files, and :meth:`Run.cell` checks a cell's CSV before
reading it back. A file missing, resized or changed is an error naming the file and the stage:
restore the file, delete the stage's marker to redo the stage, or start over with ``force``. An
existing run is never overwritten unless ``force=True``, and a folder that is not a run never is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from rewunc.io import atomic_write, remove_temporaries, sha256_file, write_json
from rewunc.provenance import provenance
from rewunc.runtime import check_interrupt

CONFIG = "config.json"
STAGES = "stages"
RUN_FORMAT = "rewunc.run.v1"  # config.json's schema (files without "format" are this one)


class RunProvenanceWarning(UserWarning):
    """A run is resumed with other code (git commit or package versions) than it was made with."""


class RunError(RuntimeError):
    """A run directory cannot be created or resumed as asked."""


def slug(text: str) -> str:
    """A file-name-safe form of a stage key: "lava/CVaR(alpha=0.9)" -> "lava-CVaR_alpha=0.9"."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text.replace("/", "-")).strip("_")


class Run:
    """An experiment's run directory (use :meth:`start`). ``quiet``: :meth:`say` prints nothing
    (``--quiet``), and stages draw no progress bars; ``figure_format`` (``--figure-format``)."""

    figure_format: str = "png"  # like quiet, not recorded: it changes no result

    def __init__(self, path: Path, *, quiet: bool = False):
        self.path = Path(path)
        self.quiet = bool(quiet)
        self._cache: dict[str, tuple[tuple, dict]] = {}  # marker name -> (stat, marker)

    def say(self, message: str) -> None:
        """Print a stage's progress line unless the run is quiet."""
        if not self.quiet:
            print(message, flush=True)

    @classmethod
    def start(
        cls,
        root: str | Path,
        experiment: str,
        name: str,
        config: dict,
        *,
        force: bool = False,
        resume: bool = False,
        quiet: bool = False,
    ) -> Run:
        """Create ``root/experiment/name``, or continue it (``resume``) or replace it (``force``).

        Raises RunError if the run exists and neither flag is given, if ``resume`` meets a
        different configuration or a finished stage's changed file, or if ``force`` would delete
        a folder that is not a run. Nothing is written on a refusal. ``resume`` on a missing run
        creates it, and processes starting one run at once all get it (one creates, the others
        resume it).
        """
        if force and resume:
            raise RunError("--force and --resume are exclusive: start over, or continue")
        path = Path(root) / experiment / name
        try:  # the JSON form is what is stored and compared on resume
            config = json.loads(json.dumps(config))
        except (TypeError, ValueError) as err:
            raise RunError(f"{path}: the configuration is not JSON ({err})") from err
        if _is_run(path):
            if resume:
                return cls._resume(path, config, quiet)
            if not force:
                raise RunError(
                    f"{path} already holds a run; pass --resume to continue it or --force to "
                    "replace it"
                )
        elif path.exists() and (not path.is_dir() or any(path.iterdir())):
            older = " (an older rewunc run with manifest.json)" * (path / "manifest.json").exists()
            raise RunError(
                f"{path} exists and is not a rewunc run (no {CONFIG} and {STAGES}/){older}; "
                "not touching it"
            )
        try:
            fresh = _build(path, experiment, name, config)
        except OSError as err:  # e.g. --out names a file, or a folder we may not write
            raise RunError(f"{path}: cannot create the run ({err})") from err
        try:
            if force and _is_run(path):
                shutil.rmtree(path)
            with contextlib.suppress(OSError):
                path.rmdir()  # an empty folder is taken over (fails harmlessly if not empty)
            os.rename(fresh, path)  # atomic: other processes see no run or a whole one
        except OSError as err:
            shutil.rmtree(fresh, ignore_errors=True)
            if not _is_run(path):
                raise RunError(f"{path}: cannot create the run ({err})") from err
            if not resume:  # another process made it first
                raise RunError(
                    f"{path} already holds a run; pass --resume to continue it or --force to "
                    "replace it"
                ) from None
            return cls._resume(path, config, quiet)
        return cls(path, quiet=quiet)

    @classmethod
    def _resume(cls, path: Path, config: dict, quiet: bool = False) -> Run:
        stored = _read_json(path / CONFIG)
        old = stored.get("config") if isinstance(stored, dict) else None
        # the same if == says so (1 == 1.0) or their JSON text does (nan, unequal to itself)
        if old != config and json.dumps(old, sort_keys=True) != json.dumps(config, sort_keys=True):
            differs = _differences(old, config) if isinstance(old, dict) else ["config"]
            raise RunError(
                f"{path}: cannot resume with a different configuration (differs in {differs}); "
                "use another --name, or --force"
            )
        then, now = stored.get("provenance") or {}, provenance()
        changed = [
            f"{name} {then.get('packages', {}).get(name)} -> {version}"
            for name, version in now["packages"].items()
            if then.get("packages", {}).get(name) not in (None, version)
        ]
        if then.get("git_commit") and then.get("git_commit") != now["git_commit"]:
            changed.append(f"git commit {then['git_commit'][:10]} -> {str(now['git_commit'])[:10]}")
        if changed:
            warnings.warn(
                f"{path}: resuming a run made with other code ({'; '.join(changed)}); finished "
                "stages are kept as they are",
                RunProvenanceWarning,
                stacklevel=3,
            )
        run = cls(path, quiet=quiet)
        problems, markers = [], []
        for key, marker in run.stages().items():
            found = run._problems(key, marker)
            problems += found
            markers += [f"{STAGES}/{_marker_name(key)}"] if found else []
        if problems:
            lines = "\n  ".join(problems)
            raise RunError(
                f"{path}: cannot resume, files of finished stages changed:\n  {lines}\n"
                f"restore the file(s), or delete {', '.join(markers)} to redo the stage(s), or "
                "start over with --force"
            )
        remove_temporaries(path)  # a dead writer's half-written files are not results
        return run

    # ---- stages -------------------------------------------------------------------------

    def done(self, key: str) -> bool:
        """Whether stage ``key`` has finished (in any process: read from disk every call)."""
        return self.stage(key) is not None

    def stage(self, key: str) -> dict | None:
        """The marker of stage ``key``, or None if it has not finished."""
        marker = self._read_marker(self.path / STAGES / _marker_name(key))
        return marker if marker is not None and marker.get("key") == key else None

    def stages(self) -> dict[str, dict]:
        """Every finished stage's marker, key -> marker, in order of finishing."""
        folder = self.path / STAGES
        markers = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue  # temporary files of markers being written
            marker = self._read_marker(Path(entry.path))
            if marker is not None:
                markers.append(marker)
        markers.sort(key=lambda m: (m["finished"], m["key"]))
        return {m["key"]: m for m in markers}

    def is_complete(self) -> bool:
        """Whether the run's ``complete`` stage has finished, with every finished stage's files
        verified (RunError naming each changed file)."""
        if not (self.path / STAGES).is_dir() or not self.done("complete"):
            return False
        problems = [p for key in self.stages() for p in self.verify(key)]
        if problems:
            lines = "\n  ".join(problems)
            raise RunError(
                f"{self.path}: files changed:\n  {lines}\nrestore them, or delete the folder"
            )
        return True

    def finish(
        self, key: str, files: Sequence[str] = (), *, inputs: Sequence[str] = (), **info
    ) -> None:
        """Record stage ``key`` as finished, after its ``files`` (relative to the run folder) are
        written: their sizes and sha256 are taken now, and checked on resume. ``inputs`` are the
        run's files the stage was computed from (e.g. the posterior a plan used): their sha256
        is recorded too, so a stage whose input changed since (a redone posterior) is stale."""
        if isinstance(files, str) or isinstance(inputs, str):
            raise RunError(f"stage {key!r}: files and inputs must be lists of paths")
        if {"key", "finished", "files", "inputs"} & set(info):
            raise RunError(
                f"stage {key!r}: 'key', 'finished', 'files' and 'inputs' are kept for the marker"
            )
        target = self.path / STAGES / _marker_name(key)
        other = self._read_marker(target)
        if other is not None and other.get("key") != key:
            raise RunError(
                f"stages {other.get('key')!r} and {key!r} both make the marker "
                f"{STAGES}/{target.name}; give one of them another name"
            )
        recorded = {}
        for relative in files:
            relative = _relative(key, relative)
            if not self.file(relative).is_file():
                raise RunError(f"stage {key!r} cannot finish: {self.file(relative)} is missing")
            recorded[relative] = {
                "size": self.file(relative).stat().st_size,
                "sha256": sha256_file(self.file(relative)),
            }
        used = {}
        for relative in inputs:
            relative = _relative(key, relative)
            if not self.file(relative).is_file():
                raise RunError(f"stage {key!r} cannot finish: its input {relative} is missing")
            used[relative] = sha256_file(self.file(relative))
        marker = {"key": key, "finished": time.time(), "files": recorded, **info}
        if used:
            marker["inputs"] = used
        try:
            text = json.dumps(marker, indent=2, default=_plain) + "\n"
        except (TypeError, ValueError) as err:
            raise RunError(f"stage {key!r}: its info is not JSON ({err})") from err
        atomic_write(target, lambda tmp: Path(tmp).write_text(text), force=True)

    def produce(
        self,
        key: str,
        files: Sequence[str],
        write: Callable[..., dict | None],
        *,
        inputs: Sequence[str] = (),
        **info,
    ) -> list[Path]:
        """The whole protocol of stage ``key``; returns the paths of its ``files``.

        If the stage finished (files verified, ``inputs`` unchanged) nothing is done. Otherwise,
        holding the stage's lock, ``write(*paths)`` writes ``files`` (each atomically, e.g. by
        rewunc.io) and may return extra marker info; then the stage is marked finished with
        ``inputs`` and ``info``. The lock (``flock``, freed by the kernel when its holder dies)
        makes a second process on the same stage wait and read the first one's result instead
        of writing the same files again, so a stage's files have one writer even when a killed
        driver's orphaned worker is still finishing it.
        """
        paths = [self.file(_relative(key, f)) for f in files]
        if self.finished(key):
            return paths
        with self._stage_lock(key) as lock:
            if not self.finished(key):  # another process may have finished it meanwhile
                for f in files:
                    self.claim(key, f)
                extra = write(*paths) or {}
                check_interrupt()  # a Ctrl-C that the work swallowed: the stage is not done
                self.finish(key, files, inputs=inputs, **info, **extra)
            # safe while a waiter holds the old file open: it finds the stage finished
            lock.unlink(missing_ok=True)
        return paths

    @contextlib.contextmanager
    def _stage_lock(self, key: str):
        lock = self.path / STAGES / f".{_marker_name(key)}.lock"
        with open(lock, "a") as fh:  # closing it frees the lock, on success or error
            fcntl.flock(fh, fcntl.LOCK_EX)  # waits while another process computes the stage
            yield lock

    def claim(self, key: str, relative: str) -> Path:
        """The path stage ``key`` may write: refused if another finished stage owns that file,
        so two stages whose names collide can never overwrite each other's results."""
        relative = _relative(key, relative)
        for other, marker in self.stages().items():
            if other != key and relative in marker["files"]:
                raise RunError(
                    f"stage {key!r} would overwrite {relative}, which belongs to {other!r}"
                )
        return self.file(relative)

    def file(self, relative: str) -> Path:
        return self.path / relative

    def finished(self, key: str) -> bool:
        """Whether ``key`` has finished with its files intact and its inputs unchanged since;
        a finished stage that fails verification raises RunError naming each problem, so a
        stage is never read back changed or stale."""
        if not self.done(key):
            return False
        if problems := self.verify(key):
            raise RunError(
                f"{self.path}: {'; '.join(problems)}; restore the file, or delete "
                f"{STAGES}/{_marker_name(key)} to redo the stage"
            )
        return True

    def files_of(self, key: str) -> list[str]:
        """The files finished stage ``key`` recorded ([] if it has not finished)."""
        marker = self.stage(key)
        return sorted(marker["files"]) if marker else []

    def verify(self, key: str) -> list[str]:
        """Problems with finished stage ``key``'s files (missing, or size or sha256 changed since
        it finished), one ``"<file>: <what changed> (stage '<key>')"`` each; [] if all is well."""
        marker = self.stage(key)
        if marker is None:
            raise RunError(f"{self.path}: stage {key!r} has not finished; nothing to verify")
        return self._problems(key, marker)

    def _problems(self, key: str, marker: dict) -> list[str]:
        problems = []
        for relative, recorded in marker["files"].items():
            path = self.file(relative)
            if not path.is_file():
                change = "missing"
            elif (size := path.stat().st_size) != recorded["size"]:
                change = f"size changed (recorded {recorded['size']} bytes, now {size})"
            elif sha256_file(path) != recorded["sha256"]:
                change = "sha256 changed (same size, different content)"
            else:
                continue
            problems.append(f"{relative}: {change} (stage {key!r})")
        for relative, sha in (marker.get("inputs") or {}).items():
            path = self.file(relative)
            if not path.is_file() or sha256_file(path) != sha:
                problems.append(
                    f"{relative}: changed since stage {key!r} was computed from it (stale)"
                )
        return problems

    def _read_marker(self, path: Path) -> dict | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)  # os.replace makes a new inode
        cached = self._cache.get(path.name)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            marker = _read_json(path)
        except FileNotFoundError:  # removed since the stat (a stage being redone)
            return None
        if not (
            isinstance(marker, dict)
            and isinstance(marker.get("key"), str)
            and isinstance(marker.get("finished"), int | float)
            and isinstance(marker.get("files"), dict)
            and all(
                isinstance(f, dict)
                and isinstance(f.get("size"), int)
                and isinstance(f.get("sha256"), str)
                for f in marker["files"].values()
            )
            and isinstance(marker.get("inputs", {}), dict)
        ):
            raise RunError(
                f"{path}: not a stage marker (needs 'key', 'finished', 'files'); delete it to "
                "redo the stage"
            )
        self._cache[path.name] = (signature, marker)
        return marker

    # ---- tables -------------------------------------------------------------------------

    def write_table(self, relative: str, rows: list[dict]) -> Path:
        """Write rows as CSV atomically. Stage files are rewritten freely (a stage that did not
        finish may have left one); the end products are rewritten as the run completes."""
        frame = pd.DataFrame(rows)
        return atomic_write(
            self.file(relative), lambda tmp: frame.to_csv(tmp, index=False), force=True
        )

    def read_table(self, relative: str) -> pd.DataFrame:
        return pd.read_csv(self.file(relative), keep_default_na=False, na_values=["NaN", "nan"])

    def cell(
        self, key: str, compute: Callable[[], list[dict]], inputs: Sequence[str] = ()
    ) -> pd.DataFrame:
        """The episodes of cell ``key``: read back if finished (after verifying its file and
        ``inputs``), else ``compute()`` rows, save them (``cells/<slug>.csv``) and mark the cell
        finished."""
        relative = f"cells/{slug(key)}.csv"

        def write(path):
            rows = compute()
            self.write_table(relative, rows)
            return {"rows": len(rows)}

        self.produce(key, [relative], write, inputs=inputs)
        return self.read_table(relative)


def open_run(path: str | Path) -> tuple[Path, dict, dict]:
    """An existing run's folder, its parsed config.json and its finished stages (key -> marker,
    in order of finishing), for re-plotting."""
    path = Path(path)
    if not _is_run(path):
        raise RunError(f"{path}: not a rewunc run directory (no {CONFIG} and {STAGES}/)")
    return path, _read_json(path / CONFIG), Run(path).stages()


def _build(path: Path, experiment: str, name: str, config: dict) -> Path:
    """A complete new run (config.json, stages/) in a hidden folder beside ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.new-{secrets.token_hex(6)}")
    fresh.mkdir()  # ordinary permissions (tempfile.mkdtemp's are 0o700)
    try:
        (fresh / STAGES).mkdir()
        info = {
            "format": RUN_FORMAT,
            "experiment": experiment,
            "name": name,
            "created": time.time(),
            "config": config,
            "provenance": provenance(),
        }
        write_json(fresh / CONFIG, info)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return fresh


def _is_run(path: Path) -> bool:
    return (path / CONFIG).is_file() and (path / STAGES).is_dir()


def _marker_name(key: str) -> str:
    name = slug(key)
    if not name or name.startswith(".") or len(name) > 200:
        raise RunError(f"stage key {key!r} makes no usable file name ({name!r})")
    return f"{name}.json"


def _relative(key: str, relative: str) -> str:
    """``relative`` as a clean POSIX path inside the run folder."""
    path = PurePosixPath(Path(relative).as_posix())
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise RunError(f"stage {key!r}: {relative!r} is not a path inside the run folder")
    return str(path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: not valid JSON ({err})") from err


def _plain(value):
    """numpy scalars and arrays in a marker's info, as JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out
