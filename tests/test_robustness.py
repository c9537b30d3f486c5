"""The flagship's robustness study and what it varies: the per-feature prior flag, the
hierarchical prior, the demonstrators, the harmless-tile shift, and --fast end to end."""

import os

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from numpyro import handlers

from rewunc import planning
from rewunc.birl.parameterisation import sample_weights
from rewunc.config import ConfigError
from rewunc.experiments import lavaland, lavaland_robustness
from rewunc.experts import BoltzmannExpert, HardBoltzmannExpert, NoisyExpert


def test_per_feature_prior_sd_sets_that_weight_only():
    cfg = lavaland.LavaLandConfig(prior_sd=("lava=3", "gravel=0.1"), prior_scale=0.5)
    scale = dict(zip(cfg.feature_names, cfg.birl_options()["prior_scale"], strict=True))
    assert scale == {"dirt": 0.5, "grass": 0.5, "lava": 3.0, "target": 0.05, "gravel": 0.1}
    # BIRL's defaults: the env's declared group, the reference parameterisation, Anderson
    options = cfg.birl_options()
    assert options["feature_groups"] == [["dirt", "grass", "lava", "target", "gravel"]]
    assert not {"solver", "warm_start", "grad_tol", "parameterisation"} & set(options)
    with pytest.raises(ConfigError, match="--hierarchical-prior"):
        lavaland.LavaLandConfig(env="rewunc/CornerGoal-v0", anchor_feature="step",
                                anchor_prior=(-0.02, 0.002), shifts=("train",),
                                hierarchical_prior=True)  # fmt: skip


def _prior_draws(n, **kwargs):
    draws = []
    for i in range(n):
        with handlers.seed(rng_seed=i):
            draws.append(np.asarray(sample_weights(5, **kwargs)))
    return np.array(draws)


def test_hierarchical_prior_pools_the_unseen_member_with_the_seen_ones():
    group = ((0, 1, 2, 3, 4),)
    loc, scale = (0.0, 0.0, 0.0, 1.0, 0.0), (1.0, 1.0, 1.0, 0.05, 1.0)
    common = dict(prior="normal", prior_loc=loc, prior_scale=scale, groups=group,
                  parameterisation="reference")  # fmt: skip
    pooled = _prior_draws(600, hierarchical=True, **common)
    alone = _prior_draws(600, **common)
    assert np.all(pooled[:, 3] == 1.0) and np.all(alone[:, 3] == 1.0)  # the reference is fixed
    free = [0, 1, 2, 4]
    # independent: the members are uncorrelated a priori; pooled: they share a centre, so a
    # member the data never show moves with the ones they do (corr = Var(μ) / Var(w) ≈ 0.5)
    assert abs(np.corrcoef(alone[:, free].T)[0, 2]) < 0.15
    assert np.corrcoef(pooled[:, free].T)[0, 2] == pytest.approx(0.5, abs=0.15)
    assert np.abs(pooled[:, free].mean(0)).max() < 0.2  # centred on the members' loc
    with pytest.raises(ValueError, match="hierarchical"):
        _prior_draws(1, hierarchical=True, prior="laplace", prior_loc=loc, prior_scale=scale,
                     groups=group)  # fmt: skip


def test_demonstrators_are_policies_and_differ_from_the_model():
    env = gym.make("rewunc/LavaLand-v0")
    env.reset(seed=3)
    mdp = env.unwrapped.to_mdp(0.95)
    soft = BoltzmannExpert(beta=50.0).policy(mdp)
    hard = HardBoltzmannExpert(beta=50.0).policy(mdp)
    noisy = NoisyExpert(epsilon=0.1).policy(mdp)
    for pi in (soft, hard, noisy):
        assert np.allclose(pi.sum(-1), 1.0) and (pi >= 0).all()
    assert np.abs(soft - hard).max() > 1e-3  # hard Q is not the soft Q the learner assumes
    # as β grows, Boltzmann over Q* becomes the optimal (greedy) policy
    greedy = np.asarray(planning.value_iteration(mdp, mdp.state_rewards(mdp.true_weights)).policy)
    sharp = HardBoltzmannExpert(beta=1e5).policy(mdp)
    decided = greedy.max(-1) == 1.0
    assert np.allclose(sharp[decided], greedy[decided], atol=1e-6)
    assert noisy.min() == pytest.approx(0.1 / mdp.n_actions)


def test_harmless_shift_has_gravel_where_lava_would_be_and_costs_what_dirt_costs():
    names = ("dirt", "grass", "lava", "target", "gravel")
    for seed in range(5):  # the two shifts draw the same patches: they pair
        lava = gym.make("rewunc/LavaLand-v0", shift="lava", size=10).unwrapped
        harmless = gym.make("rewunc/LavaLand-v0", shift="harmless", size=10).unwrapped
        train = gym.make("rewunc/LavaLand-v0", size=10).unwrapped
        for env in (lava, harmless, train):
            env.reset(seed=seed)
            assert env.feature_names == names
        T = lava.TILES
        is_lava = lava.layout.tiles == T.index("lava")
        is_gravel = harmless.layout.tiles == T.index("gravel")
        assert is_lava.any() and np.array_equal(is_lava, is_gravel)
        assert not (train.layout.tiles == T.index("gravel")).any()
        assert not (harmless.layout.tiles == T.index("lava")).any()
    w = dict(zip(names, harmless.true_weights, strict=True))
    assert w["gravel"] == w["dirt"]
    # walking on gravel is no hazard: the Oracle reaches the goal, and its value on the
    # harmless layout equals the lava-free layout's (gravel is dirt by another name)
    env = gym.make("rewunc/LavaLand-v0", shift="harmless", size=10)
    env.reset(seed=0)
    mdp = env.unwrapped.to_mdp(0.95)
    free = gym.make("rewunc/LavaLand-v0", size=10)
    free.reset(seed=0)
    clean = free.unwrapped.to_mdp(0.95)
    assert (
        planning.optimal_value(mdp, mdp.true_weights)
        >= planning.optimal_value(clean, clean.true_weights) - 1e-6
    )
    pi = np.asarray(planning.value_iteration(mdp, mdp.state_rewards(mdp.true_weights)).policy)
    state = env.unwrapped.state_index()
    for _ in range(60):
        _, _, terminated, truncated, info = env.step(int(np.argmax(pi[state])))
        state = env.unwrapped.state_index()
        if terminated or truncated:
            break
    assert info["outcome"] == "goal"


def test_robustness_settings_vary_one_axis_at_a_time():
    cfg = lavaland_robustness.LavaLandRobustnessConfig()
    settings = cfg.settings()
    base = cfg.base()
    assert settings[0] == base and len(settings) == 1 + 3 + 2 + 2 + 2 + 1
    for s in settings[1:]:
        assert sum(s[a] != base[a] for a in lavaland_robustness.AXES) == 1
    sub = cfg.at({**base, "unseen_sd": 0.3, "prior": "hierarchical"})
    scale = dict(zip(sub.feature_names, sub.birl_options()["prior_scale"], strict=True))
    assert scale["lava"] == scale["gravel"] == 0.3 and sub.birl_options()["hierarchical"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--unseen-sds", "0"], "--unseen-sds"),
        (["--priors", "flat"], "--priors: expected each of"),
        (["--demonstrators", "soft", "soft"], "--demonstrators: values must be distinct"),
        (["--prior-sd", "lava=2"], "the robustness study sets them per setting"),
    ],
)
def test_robustness_refuses_bad_flags_before_any_folder(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        lavaland_robustness.main(["--fast", "--out", str(tmp_path / "out"), *args])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_robustness_fast_end_to_end(tmp_path):
    assert lavaland_robustness.main(["--fast", "--quiet", "--out", str(tmp_path)]) == 0
    run = tmp_path / "lavaland_robustness" / "fast"
    results = pd.read_csv(run / "results.csv")
    assert set(results["study"]) == {"base", "unseen_sd=0.3", "demonstrator=epsilon",
                                     "prior=hierarchical"}  # fmt: skip
    assert set(results["shift"]) == {"train", "lava", "harmless"}
    oracle = results[results["agent"] == "Oracle"]
    assert (oracle["goal_rate"] == 1.0).all() and (oracle["regret"].abs() < 1e-5).all()
    comparisons = pd.read_csv(run / "comparisons.csv")
    assert set(comparisons["reference"]) == {"BayesMean"}
    assert (run / "figures" / "robustness.png").exists()
    posteriors = pd.read_csv(run / "posteriors.csv")
    assert len(posteriors) == 4 and (posteriors["axis"] == "base").sum() == 1


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="counts Linux memory maps")
def test_a_study_fitting_many_posteriors_does_not_accumulate_compiled_code(tmp_path):
    """Each fit's compiled sampler is released: a long study once died at the kernel's memory-map
    limit ("LLVM compilation error: Cannot allocate memory") after ~25 fits in one process."""
    from rewunc.rollout import collect
    from rewunc.runs import Run
    from rewunc.study import common

    def maps() -> int:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)

    demos = collect("rewunc/LavaLand-v0", BoltzmannExpert(beta=50.0), 3, 0)
    run = Run.start(tmp_path, "maps", "default", {}, quiet=True)
    groups = [["dirt", "grass", "lava", "target", "gravel"]]
    counts = []
    for i, lava_sd in enumerate((1.0, 0.3, 3.0)):  # as the robustness study's unseen_sd axis
        options = dict(beta=50.0, num_warmup=10, num_samples=10, num_chains=1,
                       feature_groups=groups, prior_scale=(1, 1, lava_sd, 0.05, 1))  # fmt: skip
        common.fit_posterior(run, demos, options, i, study=f"sd{i}", env_id="rewunc/LavaLand-v0",
                             env_kwargs={})  # fmt: skip
        counts.append(maps())
    assert counts[-1] - counts[0] < 300, counts  # was ~1,700 more per fit
