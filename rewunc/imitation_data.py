"""Demonstrations to and from the imitation library's trajectories (``imitation.data.types``).

- :func:`to_imitation`: rewunc :class:`~rewunc.data.Demonstrations` → a list of imitation
  ``TrajectoryWithRew`` (observations [T+1], actions [T], the env's rewards [T], ``terminal``
  from the trajectory's ``terminated``; each step's info holds its ``features``, the last one
  also ``outcome``, ``layout_seed`` and ``shift``), ready for imitation's BC, GAIL or AIRL;
- :func:`from_imitation`: back, for trajectories whose infos carry ``features`` (those made by
  :func:`to_imitation`, or rolled out by imitation on a rewunc env: every rewunc env puts
  ``features`` and, on the last step, ``outcome`` in its infos).

imitation is imported only inside these functions. imitation 1.0.1 pins gymnasium ~0.29 and
stable-baselines3 ~2.2; ``pip install --no-deps imitation==1.0.1`` installs it beside rewunc's
versions, with which ``imitation.data`` and ``imitation.algorithms.bc`` work.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewunc.data import DataError, Demonstrations, Trajectory


def to_imitation(demos: Demonstrations) -> list:
    """imitation ``TrajectoryWithRew`` per trajectory of ``demos``; refuses trajectories whose
    end (termination or truncation) is unknown."""
    from imitation.data.types import TrajectoryWithRew

    out = []
    for i, t in enumerate(demos.trajectories):
        if t.terminated is None:
            raise DataError(
                f"trajectory {i}: unknown whether it terminated or was truncated (demonstrations "
                "saved before rewunc recorded it); collect them again"
            )
        infos = [{"features": f} for f in t.features]
        infos[-1].update(outcome=t.outcome, layout_seed=t.layout_seed, shift=t.shift)
        out.append(
            TrajectoryWithRew(
                obs=t.observations,
                acts=t.actions,
                infos=np.array(infos, dtype=object),
                terminal=bool(t.terminated),
                rews=t.rewards.astype(np.float32),
            )
        )
    return out


def from_imitation(
    trajectories: Sequence, feature_names: Sequence[str], env_id: str = ""
) -> Demonstrations:
    """rewunc Demonstrations (no tabular layouts) of imitation trajectories whose infos carry
    ``features`` [K] on every step and ``outcome`` on the last."""
    trajs = []
    for i, t in enumerate(trajectories):
        infos = t.infos
        if infos is None or len(infos) != len(t.acts) or "features" not in infos[0]:
            raise DataError(f"trajectory {i}: its infos carry no 'features' on every step")
        last = infos[-1]
        if "outcome" not in last:
            raise DataError(f"trajectory {i}: its last info carries no 'outcome'")
        rews = getattr(t, "rews", None)
        trajs.append(
            Trajectory(
                observations=np.asarray(t.obs),
                actions=np.asarray(t.acts),
                features=np.stack([np.asarray(x["features"], np.float64) for x in infos]),
                rewards=np.zeros(len(t.acts)) if rews is None else np.asarray(rews, np.float64),
                outcome=str(last["outcome"]),
                layout_seed=int(last.get("layout_seed", -1)),
                shift=str(last.get("shift", "")),
                terminated=bool(t.terminal),
            )
        )
    return Demonstrations(tuple(trajs), tuple(feature_names), env_id)
