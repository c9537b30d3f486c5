"""Exploring starts (rewunc.agents.deep.exploring_starts), the training discount, and the
competence experiment: starts drawn over every non-terminal state, flagged, left out of
RiskAversePPO's per-draw returns; μ̂ discounted at the criterion's γ; the competence table."""

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

import rewunc  # noqa: E402,F401
from rewunc.agents.deep import DeepAgentError, RiskAversePPO, load_agent, save_agent  # noqa: E402
from rewunc.agents.deep.exploring_starts import FLAG, ExploringStarts  # noqa: E402
from rewunc.agents.deep.train import DeepSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = "rewunc/LavaLand-v0"
W = np.array([[-0.05, -0.25, -2.0, 1.0, -0.05], [-0.05, -0.25, 0.0, 1.0, -0.05]])


def test_starts_cover_every_non_terminal_state_and_are_flagged():
    env = ExploringStarts(gym.make(ENV, layout_seed=7, shift="lava"), 1.0)
    _, info = env.reset(seed=0)
    base = env.unwrapped
    non_terminal = set(np.flatnonzero(~base.to_mdp().terminal).tolist())
    seen = set()
    for _ in range(3000):
        obs, info = env.reset()
        assert info[FLAG] and info["state"] == base.state_index()
        assert np.array_equal(obs, base.observation_of(info["state"]))
        seen.add(info["state"])
    assert seen == non_terminal
    _, _, _, _, info = env.step(0)
    assert info[FLAG]


def test_no_exploring_start_leaves_the_env_as_it_was():
    plain = gym.make(ENV)  # procedural layouts: the layout stream must not change
    wrapped = ExploringStarts(gym.make(ENV), 0.0)
    for i in range(5):
        a, ia = plain.reset(seed=i if i == 0 else None)
        b, ib = wrapped.reset(seed=i if i == 0 else None)
        assert np.array_equal(a, b) and ia["state"] == ib["state"] and FLAG not in ib
        _, _, _, _, info = wrapped.step(1)
        assert FLAG not in info


def test_the_draws_are_seeded_and_the_layouts_unchanged():
    def starts(fraction):
        env = ExploringStarts(gym.make(ENV), fraction)
        out = [env.reset(seed=3)[1]["state"]] + [env.reset()[1]["state"] for _ in range(20)]
        return out, env.unwrapped.layout.tiles.copy()

    (a, tiles_a), (b, tiles_b) = starts(0.5), starts(0.5)
    assert a == b and np.array_equal(tiles_a, tiles_b)
    _, tiles_plain = starts(0.0)
    assert np.array_equal(tiles_a, tiles_plain)  # its own generator: same 21st layout


def test_bad_fraction_and_non_tabular_envs_are_refused():
    with pytest.raises(ValueError, match="fraction"):
        ExploringStarts(gym.make(ENV), 1.5)
    with pytest.raises(ValueError, match="tabular env"):
        ExploringStarts(gym.make("rewunc/PointLava-v0"), 0.5)
    for bad in (dict(exploring_starts=-0.1), dict(train_gamma=1.0), dict(train_gamma=0.0)):
        with pytest.raises(DeepAgentError, match=next(iter(bad))):
            DeepSettings(**bad)


def _risk_model(fraction, criterion_gamma=None, n_steps=128):
    venv = make_vec_env(
        ENV,
        n_envs=1,
        seed=0,
        env_kwargs={"layout_seed": 5},
        wrapper_class=ExploringStarts,
        wrapper_kwargs={"fraction": fraction},
    )
    return RiskAversePPO(
        "MlpPolicy",
        venv,
        posterior_weights=W,
        lam=0.0,
        alpha=0.5,
        n_steps=n_steps,
        batch_size=64,
        n_epochs=1,
        gamma=0.99,
        criterion_gamma=criterion_gamma,
        seed=0,
    )


class Episodes(BaseCallback):
    """Each finished episode's discounted feature sums at γ, and whether it was explored."""

    def __init__(self, gamma):
        super().__init__()
        self.gamma, self.sums, self.explored, self._sum, self._t = gamma, [], [], 0.0, 0

    def _on_step(self):
        info, done = self.locals["infos"][0], self.locals["dones"][0]
        self._sum = self._sum + self.gamma**self._t * np.asarray(info["features"])
        self._t += 1
        if done:
            self.sums.append(self._sum)
            self.explored.append(bool(info.get(FLAG, False)))
            self._sum, self._t = 0.0, 0
        return True


@pytest.mark.parametrize("criterion_gamma", [None, 0.5])
def test_per_draw_returns_use_true_starts_at_the_criterions_discount(criterion_gamma):
    model = _risk_model(0.5, criterion_gamma)
    gamma = 0.99 if criterion_gamma is None else criterion_gamma
    episodes = Episodes(gamma)
    model.learn(128, callback=episodes)  # one batch: every finished episode began in it
    kept = [s for s, e in zip(episodes.sums, episodes.explored, strict=True) if not e]
    assert kept and len(kept) < len(episodes.sums)  # both kinds occurred
    assert model.last_risk["n_episodes"] == len(kept)
    np.testing.assert_allclose(model.last_risk["mu"], np.mean(kept, axis=0), rtol=1e-6)
    assert model.criterion_gamma == gamma


def test_only_exploring_starts_fall_back_to_the_buffers_returns():
    model = _risk_model(1.0)
    model.learn(128)
    assert model.last_risk["n_episodes"] == 0


def test_criterion_gamma_is_saved_and_validated(tmp_path):
    model = _risk_model(0.0, 0.9, n_steps=64)
    save_agent(model, tmp_path / "a")
    again = load_agent(tmp_path / "a", gym.make(ENV, layout_seed=5))
    assert again.criterion_gamma == 0.9 and again.gamma == 0.99
    with pytest.raises(ValueError, match="criterion_gamma"):
        _risk_model(0.0, 1.0)


# ---- the competence experiment ------------------------------------------------------------


@pytest.mark.slow
def test_competence_fast_end_to_end_then_resumed(tmp_path):
    cmd = [sys.executable, str(ROOT / "experiments" / "deep_competence.py"), "--fast"]
    proc = subprocess.run([*cmd, "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "deep_competence" / "fast" / "competence.csv")
    assert list(table["layout"]) == [1000, 1001]
    for policy in ("greedy", "stochastic", "uniform", "shortest"):
        assert (table["optimum"] >= table[f"value_{policy}"] - 1e-9).all()  # V* is the optimum
    for col in [c for c in table if c.startswith("gap_")]:
        assert (table[col] >= -1e-9).all()
    np.testing.assert_allclose(table["gap_uniform_greedy"], (
        (table["optimum"] - table["value_greedy"]) / (table["optimum"] - table["value_uniform"])
    ))  # fmt: skip
    assert (table["target_optimal"] > 0).all() and (table["target_greedy"] >= 0).all()
    assert "median" in proc.stdout and "reaches the target" in proc.stdout
    again = subprocess.run([*cmd, "--out", str(tmp_path), "--resume"], capture_output=True,
                           text=True)  # fmt: skip
    assert again.returncode == 0 and "training" not in again.stdout
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "deep_competence" / "fast" / "competence.csv"), table
    )


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--layouts", "0"], "--layouts: expected an integer >= 1"),
        (["--shift", "harmless"], "--shift: expected lava or train"),
        (["--train-gamma", "1"], "--train-gamma: expected a number in (0, 1)"),
        (["--exploring-starts", "2"], "--exploring-starts: expected a number in [0, 1]"),
    ],
)
def test_bad_competence_flags_are_refused_before_any_folder(tmp_path, capsys, flags, words):
    module = importlib.import_module("rewunc.experiments.deep_competence")
    with pytest.raises(SystemExit) as exit_:
        module.main(["--fast", "--out", str(tmp_path), *flags])
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
