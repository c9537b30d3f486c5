"""One grammar for agent specs, tabular and deep: ``Name`` or ``Name(key=value, ...)``.

``"CVaR(alpha=0.9)"``, ``"BROIL(lam=0.5, alpha=0.95)"``, ``"BayesMean"``. Values are numbers,
except the parameters named in ``flags``, which are ``true`` or ``false``. Each agent family
(:func:`rewunc.agents.make_agent`, :func:`rewunc.agents.deep.deep_agent`) checks the ranges of
what :func:`parse_spec` returns.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

_SPEC = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$")


def parse_spec(
    spec: str,
    parameters: Mapping[str, Collection[str]],
    *,
    what: str = "agent",
    error: type[Exception] = ValueError,
    flags: Collection[str] = (),
) -> tuple[str, dict[str, float | bool]]:
    """Split ``spec`` into its name and its given parameters.

    Args:
        spec: the text, e.g. ``"CVaR(alpha=0.9)"``.
        parameters: for each known name, the parameters it takes.
        what: how errors name the spec ("agent", "deep agent").
        error: the exception class raised for anything malformed.
        flags: parameters whose values are ``true``/``false`` rather than numbers.

    Returns:
        ``(name, {key: value})`` with only the parameters that were given.
    """
    m = _SPEC.match(str(spec))
    if not m or m.group(1) not in parameters:
        raise error(
            f"{what} {spec!r}: expected one of {sorted(parameters)}, e.g. 'CVaR(alpha=0.9)'"
        )
    name, allowed = m.group(1), parameters[m.group(1)]
    given: dict[str, float | bool] = {}
    for part in filter(None, (s.strip() for s in (m.group(2) or "").split(","))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or key not in allowed:
            raise error(
                f"{what} {spec!r}: unknown parameter {part!r}; {name} takes {sorted(allowed)}"
            )
        if key in given:
            raise error(f"{what} {spec!r}: {key} is given twice")
        if key in flags:
            if value.lower() not in ("true", "false"):
                raise error(f"{what} {spec!r}: {key}={value!r}: expected true or false")
            given[key] = value.lower() == "true"
            continue
        try:
            given[key] = float(value)
        except ValueError:
            raise error(f"{what} {spec!r}: {key}={value!r} is not a number") from None
    return name, given
