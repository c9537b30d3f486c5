"""Where a result came from: Python, the platform, the versions of the packages rewunc's results
depend on, and the git commit of rewunc's source (recorded in every run's and sweep's JSON)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

PACKAGES = (
    "rewunc",
    "numpy",
    "scipy",
    "pandas",
    "jax",
    "jaxlib",
    "numpyro",
    "arviz",
    "gymnasium",
    "matplotlib",
    "torch",
    "stable-baselines3",
)


def provenance() -> dict:
    """Python, platform, installed versions of the packages rewunc's results depend on (read from
    their metadata: nothing is imported) and the git commit of rewunc's source, if a checkout."""
    packages = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[name] = importlib.metadata.version(name)
    commit = dirty = None
    source = Path(__file__).resolve().parents[1]
    if (source / ".git").exists():  # not an installed copy inside some other repository
        try:
            head = _git(source, "rev-parse", "HEAD").strip()
            if re.fullmatch(r"[0-9a-f]{40,64}", head):
                commit = head
                dirty = bool(_git(source, "status", "--porcelain").strip())
        except (OSError, subprocess.SubprocessError):
            commit = dirty = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def _git(cwd: Path, *args: str) -> str:
    # GIT_OPTIONAL_LOCKS=0: `git status` in many parallel sweep cells must not take index.lock
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True, env=env
    ).stdout
