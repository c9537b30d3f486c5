"""One frozen dataclass per experiment script, with argparse generated from it.

Every field is a flag (``n_demos`` → ``--n-demos``); tuple fields take several values, bool
fields true/false. Abbreviated flags are refused (``allow_abbrev=False``: ``--n-ep 7`` is an
error, not ``--n-episodes 7``). A config validates itself in ``__post_init__`` and raises
:class:`ConfigError` naming the flag, so :func:`parse_flags` refuses bad input before any work
starts and before any folder is made.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from rewunc.io import FIGURE_FORMATS

RUN_FLAGS = dict(
    out=dict(default="runs", help="root folder of run directories (default: runs)"),
    name=dict(default=None, help="run name (default: 'default', or 'fast' with --fast)"),
    force=dict(action="store_true", help="replace an existing run of the same name"),
    resume=dict(action="store_true", help="continue an interrupted run, skipping finished stages"),
    fast=dict(action="store_true", help="a small preset that finishes in about a minute"),
    quiet=dict(action="store_true", help="no progress output"),
    figure_format=dict(
        default="png", choices=FIGURE_FORMATS, help="format of the figures (default: png)"
    ),
    config=dict(
        default=None,
        metavar="CONFIG_JSON",
        help="replay a run from its config.json (flags given beside it override its values; "
        "the run is named as the original unless --name is given)",
    ),
)


class ConfigError(ValueError):
    """A configuration value is invalid; the message starts with the flag."""


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def require(ok: bool, field: str, expected: str, got) -> None:
    """Raise ConfigError ``--field: expected <expected>, got <got>`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{flag(field)}: expected {expected}, got {got!r}")


def require_int(value, field: str, minimum: int) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    require(ok, field, f"an integer >= {minimum}", value)


def require_number(value, field: str, lo: float, hi: float, *, lo_open=False, hi_open=False):
    """``value`` finite in [lo, hi], with open ends as asked."""
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = (
        ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    )
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    require(ok, field, f"a number in {interval}", value)


def require_distinct(values: Sequence, field: str) -> None:
    repeated = sorted({v for v in values if list(values).count(v) > 1})
    if repeated:
        raise ConfigError(f"{flag(field)}: values must be distinct, got {list(values)}")
    require(len(values) > 0, field, "at least one value", list(values))


def field_help(config_cls, name: str) -> str:
    """The one-line help of field ``name`` (``metadata["help"]``, see
    :func:`rewunc.study.config.option`): from the first class up the MRO that declares it, so a
    subclass that only changes a default keeps the help."""
    for cls in config_cls.__mro__:
        declared = getattr(cls, "__dataclass_fields__", {}).get(name)
        if declared is not None and declared.metadata.get("help"):
            return declared.metadata["help"]
    return ""


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser(config_cls, prog: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with one ``--field-name`` option per dataclass field."""
    parser = argparse.ArgumentParser(
        prog=prog, description=(config_cls.__doc__ or "").split("\n\n")[0], allow_abbrev=False
    )
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        hint = hints[f.name]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        about = field_help(config_cls, f.name)
        about = f"{about} " if about else ""
        if origin is tuple:
            shown = " ".join(map(str, default))
            kwargs = dict(nargs="+", type=args[0], help=f"{about}(default: {shown})")
        elif hint is bool:
            kwargs = dict(type=_parse_bool, help=f"{about}(default: {default})")
        elif origin in (typing.Union, types.UnionType):
            inner = next(a for a in args if a is not type(None))
            kwargs = dict(type=inner, help=f"{about}(default: {default})")
        else:
            kwargs = dict(
                type=hint,
                help=f"{about}(default: {default!r})"
                if hint is str
                else f"{about}(default: {default})",
            )
        parser.add_argument(flag(f.name), default=default, **kwargs)
    return parser


def parse_config(config_cls, argv: Sequence[str] | None = None, fast_preset=None, **extra):
    """Parse ``argv`` into a validated ``config_cls`` and a namespace of the ``extra`` flags
    (name → argparse keywords). A ``fast`` extra flag applies ``fast_preset`` to every field
    not given on the command line. Any bad value exits with status 2 and ``error: --flag: ...``
    on stderr (as argparse does for its own errors), before anything is run or written.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(config_cls, extra.pop("prog", None))
    for name, kwargs in extra.items():
        parser.add_argument(flag(name), **kwargs)
    ns = parser.parse_args(argv)
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(ns).items() if k in names}
    rest = argparse.Namespace(**{k: v for k, v in vars(ns).items() if k not in names})
    given = {f for f in names if any(a == flag(f) or a.startswith(flag(f) + "=") for a in argv)}
    try:
        if getattr(rest, "config", None) is not None:
            if getattr(rest, "fast", False):
                raise ConfigError("--config and --fast are exclusive: the file holds every setting")
            recorded, run_name = read_run_config(rest.config, parser.prog, names)
            values.update({k: v for k, v in recorded.items() if k not in given})
            if getattr(rest, "name", None) is None:
                rest.name = run_name
        if getattr(rest, "fast", False):
            if unknown := set(fast_preset) - names:
                raise ConfigError(f"the --fast preset names unknown fields {sorted(unknown)}")
            values.update({k: v for k, v in fast_preset.items() if k not in given})
        if getattr(rest, "force", False) and getattr(rest, "resume", False):
            raise ConfigError("--force and --resume are exclusive: start over, or continue")
        if getattr(rest, "name", None) is not None and not _safe_name(rest.name):
            raise ConfigError(f"--name: expected a plain folder name, got {rest.name!r}")
        config = config_cls(**values)
    except ConfigError as err:
        parser.exit(2, f"error: {err}\n")
    return config, rest


def read_run_config(path, experiment: str, fields: set[str]) -> tuple[dict, str]:
    """The settings ``{field: value}`` (lists as tuples) and the run name recorded in a run's
    ``config.json``; refuses a file of another experiment, another schema version, or with
    settings ``fields`` lacks, naming them."""
    import json

    from rewunc.runs import RUN_FORMAT

    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"--config: cannot read {path}: {err}") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise ConfigError(f"--config: {path} is not a run's config.json (no 'config' object)")
    fmt = stored.get("format", RUN_FORMAT)
    if fmt != RUN_FORMAT:
        raise ConfigError(f"--config: {path} has schema {fmt!r}; this rewunc reads {RUN_FORMAT!r}")
    if stored.get("experiment") != experiment:
        raise ConfigError(
            f"--config: {path} is a config of experiment {stored.get('experiment')!r}, not "
            f"{experiment!r}"
        )
    unknown = sorted(set(stored["config"]) - fields)
    if unknown:
        raise ConfigError(f"--config: {path} sets fields {experiment} does not have: {unknown}")

    def frozen(v):  # JSON lists back to the dataclasses' tuples
        return tuple(frozen(x) for x in v) if isinstance(v, list) else v

    values = {k: frozen(v) for k, v in stored["config"].items()}
    return values, str(stored.get("name") or "default")


def parse_flags(config_cls, fast_preset: dict, argv: Sequence[str] | None = None, prog=None):
    """An experiment's config and its run flags (``RUN_FLAGS``: --out, --name, --force,
    --resume, --fast, --quiet, --config), validated before anything runs (see
    :func:`parse_config`; ``--config`` replays a run's config.json, :func:`read_run_config`). An
    experiment run from its flags draws its figures with the file-only Agg backend."""
    from rewunc.runtime import file_backend

    file_backend()
    return parse_config(config_cls, argv, fast_preset, prog=prog, **RUN_FLAGS)


def _safe_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name
