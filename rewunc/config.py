"""One frozen dataclass per experiment script, with argparse generated from it."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser(config_cls, description: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with one ``--field-name`` option per dataclass field.

    Tuple fields take several values (``--alphas 0.5 0.9``); bool fields take true/false.
    The docstring's ``Attributes:`` lines are not parsed: field names should explain themselves.
    """
    parser = argparse.ArgumentParser(description=description or config_cls.__doc__)
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        hint = hints[f.name]
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if origin is tuple:
            parser.add_argument(
                flag,
                nargs="+",
                type=args[0],
                default=default,
                help=f"(default: {' '.join(map(str, default))})",
            )
        elif hint is bool:
            parser.add_argument(
                flag, type=_parse_bool, default=default, help=f"(default: {default})"
            )
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            inner = next(a for a in args if a is not type(None))
            parser.add_argument(flag, type=inner, default=default, help=f"(default: {default})")
        else:
            parser.add_argument(flag, type=hint, default=default, help=f"(default: {default})")
    return parser


def parse_config(config_cls, argv: Sequence[str] | None = None, **extra_flags):
    """Parse ``argv`` into ``config_cls``; returns (config, namespace of the extra flags).

    ``extra_flags`` maps flag names to argparse kwargs for options that are not part of the
    config (``--out``, ``--force``, ``--fast``...).
    """
    parser = build_parser(config_cls)
    for name, kwargs in extra_flags.items():
        parser.add_argument("--" + name.replace("_", "-"), **kwargs)
    ns = parser.parse_args(argv)
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(ns).items() if k in names
    }
    rest = argparse.Namespace(**{k: v for k, v in vars(ns).items() if k not in names})
    return config_cls(**values), rest


def apply_preset(config, preset: dict, argv: Sequence[str] | None):
    """``config`` with ``preset``'s values for every field not given explicitly in ``argv``.

    Used for ``--fast``: the preset shrinks the defaults, but a flag on the command line wins.
    """
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    names = {f.name for f in dataclasses.fields(config)}
    unknown = set(preset) - names
    if unknown:
        raise ValueError(f"preset names unknown fields {sorted(unknown)}")

    def given(name):
        flag = "--" + name.replace("_", "-")
        return any(a == flag or a.startswith(flag + "=") for a in argv)

    return dataclasses.replace(config, **{k: v for k, v in preset.items() if not given(k)})
