"""Reward inference without a tabular MDP: B-Pref teachers, the Bradley–Terry likelihood with
equal pairs, and the trajectory-choice likelihood against perturbed replays.

Statistical checks: simulation-based calibration (Talts et al. 2018) of both models, with a
deliberately mis-specified simulator that must fail it; recovery of weight directions; unseen
features left at their prior; LavaLand choices from noisy replays of Boltzmann demonstrations.
"""

import gymnasium as gym
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import Drift
from scipy.special import log_softmax, logsumexp
from scipy.stats import chisquare

from rewunc.birl import (
    BIRL,
    ChoiceData,
    PreferenceData,
    choice_log_likelihood,
    mixture_rollouts,
    perturbed_replays,
    preference_log_likelihood,
    reference_rollout,
    reference_rollouts,
    replay,
)
from rewunc.data import DataError, Preferences, Trajectory, TrajectoryChoices
from rewunc.envs.gridworld import GridWorld, Layout
from rewunc.experts import (
    BoltzmannExpert,
    PreferenceTeacher,
    label_preferences,
    label_segment_preferences,
)
from rewunc.io import CorruptFileError, write_npz
from rewunc.rollout import collect

# ---- the teacher --------------------------------------------------------------------------


def _trajectories(n=30, T=10, seed=0, K=2):
    """Trajectories with features [φ, 1]: φ·1 is the reward, the 1s count the steps."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        phi = rng.normal(size=(T, K - 1))
        feats = np.concatenate([phi, np.ones((T, 1))], axis=1)
        out.append(
            Trajectory(np.zeros((T + 1, 1)), np.zeros(T, int), feats, phi.sum(1), "timeout", i)
        )
    return out


def _binomial_ok(successes, n, p, z=4.0):
    return abs(successes / n - p) <= z * np.sqrt(p * (1 - p) / n)


def test_mistake_rate_matches_the_knob():
    trajs = _trajectories()
    prefs = label_preferences(trajs, PreferenceTeacher(mistake=0.2), 2000, 0, ("r", "one"))
    wrong = int((prefs.better[:, 0] < prefs.worse[:, 0]).sum())
    assert len(prefs) == 2000 and _binomial_ok(wrong, 2000, 0.2)
    rational = label_preferences(trajs, PreferenceTeacher(), 2000, 0, ("r", "one"))
    assert (rational.better[:, 0] > rational.worse[:, 0]).all()


def test_equal_and_skip_labels():
    trajs = _trajectories()
    teacher = PreferenceTeacher(equal_threshold=0.5)
    prefs = label_preferences(trajs, teacher, 1000, 0, ("r", "one"))
    gap = np.abs(prefs.better[:, 0] - prefs.worse[:, 0])
    np.testing.assert_array_equal(prefs.equal, gap < 0.5)
    assert 0.05 < prefs.equal.mean() < 0.5
    assert (prefs.better[~prefs.equal, 0] > prefs.worse[~prefs.equal, 0]).all()
    skipper = PreferenceTeacher(skip_threshold=1.0)
    prefs = label_preferences(trajs, skipper, 1000, 0, ("r", "one"))
    assert 0 < len(prefs) < 1000  # some queries were skipped ...
    assert (np.maximum(prefs.better[:, 0], prefs.worse[:, 0]) >= 1.0).all()  # ... only those
    rng = np.random.default_rng(0)
    assert skipper.judge([0.2, 0.3], [0.9], rng) == "skip"  # both returns below 1
    assert skipper.judge([0.2, 0.3], [1.0], rng) == "second"


def test_myopic_teacher_weights_late_steps():
    early, late = [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.8]
    rng = np.random.default_rng(0)
    assert PreferenceTeacher().judge(early, late, rng) == "first"  # returns 1.0 vs 0.8
    assert PreferenceTeacher(gamma=0.5).judge(early, late, rng) == "second"  # 0.125 vs 0.8
    assert PreferenceTeacher(gamma=0.5).score(early) == pytest.approx(0.125)


def test_boltzmann_frequencies_match_the_bradley_terry_probability():
    rng = np.random.default_rng(1)
    n, d = 4000, 0.5  # segment returns differ by 0.5
    for teacher in (PreferenceTeacher(beta=2.0), PreferenceTeacher(beta=2.0, mistake=0.1)):
        first = sum(teacher.judge([0.7, 0.3], [0.5], rng) == "first" for _ in range(n))
        p = 1 / (1 + np.exp(-2.0 * d))
        p = (1 - teacher.mistake) * p + teacher.mistake * (1 - p)
        assert _binomial_ok(first, n, p), (teacher, first / n, p)


def test_segments_have_the_asked_length_and_short_trajectories_are_used_whole():
    trajs = _trajectories(n=10, T=12) + _trajectories(n=4, T=3, seed=1)
    prefs = label_segment_preferences(trajs, PreferenceTeacher(), 400, 5, 0, ("r", "one"))
    lengths = np.concatenate([prefs.better[:, 1], prefs.worse[:, 1]])
    assert set(lengths) == {5.0, 3.0}
    again = label_segment_preferences(trajs, PreferenceTeacher(), 400, 5, 0, ("r", "one"))
    np.testing.assert_array_equal(prefs.better, again.better)  # seeded


@pytest.mark.parametrize(
    "field, value",
    [
        ("mistake", 0.6),
        ("mistake", -0.1),
        ("mistake", float("nan")),
        ("gamma", 0.0),
        ("gamma", 1.5),
        ("skip_threshold", float("inf")),
        ("equal_threshold", -1.0),
        ("equal_tol", -1e-3),
        ("beta", 0.0),
    ],
)
def test_bad_teacher_knobs_are_refused_naming_the_field(field, value):
    with pytest.raises(DataError, match=f"^{field}: expected"):
        PreferenceTeacher(**{field: value})


def test_bad_labelling_arguments():
    trajs = _trajectories(n=3)
    with pytest.raises(DataError, match="segment_length: expected an int >= 1"):
        label_segment_preferences(trajs, PreferenceTeacher(), 5, 0, 0, ("r", "one"))
    with pytest.raises(DataError, match="n_pairs: expected an int >= 1"):
        label_segment_preferences(trajs, PreferenceTeacher(), 0, 3, 0, ("r", "one"))
    with pytest.raises(DataError, match="no pair was labelled"):
        label_preferences(trajs, PreferenceTeacher(skip_threshold=1e9), 5, 0, ("r", "one"))


# ---- files ----------------------------------------------------------------------------------


def test_preferences_equal_round_trip_and_old_files(tmp_path):
    prefs = Preferences(np.ones((3, 2)), np.zeros((3, 2)), ("a", "b"), "env", [True, False, True])
    loaded = Preferences.load(prefs.save(tmp_path / "p.npz"))
    np.testing.assert_array_equal(loaded.equal, [True, False, True])
    assert loaded.equal.dtype == bool and loaded.env_id == "env"
    old = {  # a file written before pairs could be equal
        "format": np.array("rewunc.preferences.v1"),
        "feature_names": np.array(("a", "b")),
        "env_id": np.array(""),
        "better": np.ones((2, 2)),
        "worse": np.zeros((2, 2)),
    }
    assert not Preferences.load(write_npz(tmp_path / "old.npz", old)).equal.any()
    assert not Preferences(np.ones((2, 2)), np.zeros((2, 2)), ("a", "b")).equal.any()
    with pytest.raises(DataError, match=r"equal: expected shape \(2,\)"):
        Preferences(np.ones((2, 2)), np.zeros((2, 2)), ("a", "b"), "", [True])
    with pytest.raises(DataError, match="equal: expected booleans"):
        Preferences(np.ones((2, 2)), np.zeros((2, 2)), ("a", "b"), "", [0.5, 1.0])


def test_trajectory_choices_round_trip_and_corrupt_files(tmp_path):
    rng = np.random.default_rng(0)
    choices = TrajectoryChoices(rng.normal(size=(4, 2)), rng.normal(size=(4, 3, 2)), ("a", "b"))
    path = choices.save(tmp_path / "c.npz")
    loaded = TrajectoryChoices.load(path)
    np.testing.assert_array_equal(loaded.alternatives, choices.alternatives)
    assert loaded.feature_names == ("a", "b") and loaded.gamma == 1.0
    with pytest.raises(DataError, match=r"alternatives: expected shape \[4, J >= 1, 2\]"):
        TrajectoryChoices(np.zeros((4, 2)), np.zeros((4, 0, 2)), ("a", "b"))
    with pytest.raises(DataError, match="gamma: expected a discount"):
        TrajectoryChoices(np.zeros((4, 2)), np.zeros((4, 1, 2)), ("a", "b"), gamma=0.0)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="c.npz"):
        TrajectoryChoices.load(path)
    with pytest.raises(CorruptFileError, match="not a rewunc.choices.v1 file"):
        TrajectoryChoices.load(
            Preferences(np.ones((1, 2)), np.zeros((1, 2)), "ab").save(path, force=True)
        )


# ---- likelihoods against numpy ------------------------------------------------------------


def test_likelihoods_match_their_formulas():
    rng = np.random.default_rng(0)
    better, worse, w = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=3)
    equal = np.array([0, 1, 0, 0, 1, 1], float)
    d = 2.0 * (better - worse) @ w
    logsig = lambda x: -np.logaddexp(0, -x)  # noqa: E731
    expected = np.sum(np.where(equal, 0.5 * logsig(d) + 0.5 * logsig(-d), logsig(d)))
    data = PreferenceData(*(jnp.asarray(x, jnp.float32) for x in (better, worse, equal)))
    got = preference_log_likelihood(data, jnp.asarray(w, jnp.float32), 2.0)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    chosen, alts = rng.normal(size=(5, 3)), rng.normal(size=(5, 4, 3))
    u = 2.0 * np.concatenate([chosen[:, None], alts], axis=1) @ w
    expected = log_softmax(u, axis=1)[:, 0].sum()
    zeros = jnp.zeros(alts.shape[:2])
    in_set = ChoiceData(jnp.asarray(chosen), jnp.asarray(alts), zeros, jnp.asarray(1.0))
    assert float(choice_log_likelihood(in_set, w, 2.0)) == pytest.approx(expected, rel=1e-5)
    # the sampled normaliser: log Ẑ = logsumexp_j(β·w·Φ_j + log q/r) − log J, −log J dropped
    logw = rng.normal(size=(5, 4))
    expected = np.sum(2.0 * chosen @ w - logsumexp(2.0 * alts @ w + logw, axis=1))
    sampled = ChoiceData(
        jnp.asarray(chosen), jnp.asarray(alts), jnp.asarray(logw), jnp.asarray(0.0)
    )
    assert float(choice_log_likelihood(sampled, w, 2.0)) == pytest.approx(expected, rel=1e-5)


# ---- simulation-based calibration -----------------------------------------------------------

K, R, L, THIN = 3, 100, 19, 10  # features, replicates, rank draws (ranks 0..19), thinning
NAMES = ("a", "b", "c")
SCALE = 0.5  # feature scale: informative data that do not separate perfectly


def _simulate_preferences(rng, beta, n=40):
    w = rng.normal(size=K)  # the model's prior: N(0, 1)
    a, b = SCALE * rng.normal(size=(2, n, K))
    first = rng.random(n) < 1 / (1 + np.exp(-beta * (a - b) @ w))
    better, worse = np.where(first[:, None], a, b), np.where(first[:, None], b, a)
    data = PreferenceData(*(jnp.asarray(x, jnp.float32) for x in (better, worse, np.zeros(n))))
    return w, (None, data, None)


def _simulate_choices(rng, beta, n=40, J=4, w=None, seen=(1.0,) * K):
    """w (prior draw unless given) and n choices among J + 1 feature vectors; ``seen`` [K]
    multiplies the features (0: a feature no trajectory ever touches)."""
    w = rng.normal(size=K) if w is None else np.asarray(w)
    phi = SCALE * rng.normal(size=(n, J + 1, K)) * seen  # choice sets drawn independently of w
    u = beta * phi @ w
    p = np.exp(u - u.max(1, keepdims=True))
    pick = np.array([rng.choice(J + 1, p=q / q.sum()) for q in p])
    alts = np.stack([np.delete(phi[i], pick[i], axis=0) for i in range(n)])
    chosen = jnp.asarray(phi[np.arange(n), pick], jnp.float32)
    data = ChoiceData(chosen, jnp.asarray(alts, jnp.float32), jnp.zeros((n, J)), jnp.asarray(1.0))
    return w, (None, None, data)


def _posterior_draws(birl, sims, seed):
    """Thinned posterior draws [L, R', K] of each replicate, all fitted by one ``birl`` (the
    same shapes: its sampler compiles once)."""
    draws = []
    for r, (_, (_, prefs, choices)) in enumerate(sims):
        post = birl.fit(
            preferences=prefs, choices=choices, feature_names=NAMES, seed=seed + r, warn=False
        )
        draws.append(post.weights[THIN - 1 :: THIN])
    return np.stack(draws, axis=1)


def _rank_pvalues(draws, w_true):
    """Chi-square p-values of the ranks (0..L, 5 bins of 4) of each weight and of |w|."""
    ranks = np.concatenate(
        [
            (draws < w_true).sum(0),
            (np.linalg.norm(draws, axis=-1) < np.linalg.norm(w_true, axis=-1)).sum(0)[:, None],
        ],
        axis=1,
    )  # [R, K + 1]
    return np.array([chisquare(np.bincount(r // 4, minlength=5)).pvalue for r in ranks.T])


@pytest.mark.slow
@pytest.mark.parametrize("simulate", [_simulate_preferences, _simulate_choices])
def test_simulation_based_calibration(simulate):
    """Ranks of the true w among thinned posterior draws are uniform when the data come from the
    model, and are not when the simulator's β is 3× the model's (data more decisive than the
    model thinks: it overestimates |w|). One BIRL fits all 2R replicates (one compile)."""
    rng = np.random.default_rng(2024)
    sims = [simulate(rng, 1.0) for _ in range(R)] + [simulate(rng, 3.0) for _ in range(R)]
    w_true = np.array([s[0] for s in sims])
    birl = BIRL(beta=1.0, prior_scale=1.0, num_warmup=200, num_samples=L * THIN, num_chains=1,
                progress_bar=False)  # fmt: skip
    draws = _posterior_draws(birl, sims, seed=0)
    calibrated = _rank_pvalues(draws[:, :R], w_true[:R])
    wrong = _rank_pvalues(draws[:, R:], w_true[R:])
    assert (calibrated > 0.001).all(), calibrated  # K weights and |w|: 4 tests at 0.1% each
    assert np.median(draws[:, :R].std(0)) < 0.75  # the data inform the weights (prior sd 1)
    assert wrong[-1] < 1e-6, wrong  # the mis-specified simulator fails, on |w| by far


# ---- recovery -----------------------------------------------------------------------------


def _cosine(a, b):
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


@pytest.mark.slow
def test_preferences_from_a_bpref_teacher_recover_the_seen_weights():
    w_true = np.array([1.0, -2.0, 0.7])  # the third feature never occurs: it stays N(0, 1)
    rng = np.random.default_rng(3)
    trajs = []
    for i in range(40):
        phi = np.concatenate([SCALE * rng.normal(size=(12, 2)), np.zeros((12, 1))], axis=1)
        trajs.append(Trajectory(np.zeros((13, 1)), np.zeros(12, int), phi, phi @ w_true, "", i))
    teacher = PreferenceTeacher(beta=1.0, equal_threshold=0.05)
    prefs = label_segment_preferences(trajs, teacher, 300, 4, 0, ("a", "b", "unseen"))
    assert prefs.equal.any()
    birl = BIRL(beta=1.0, num_warmup=300, num_samples=600, num_chains=1, progress_bar=False)
    post = birl.fit(preferences=prefs, seed=0, warn=False)
    m, sd = post.mean(), post.std()
    assert _cosine(m[:2], w_true[:2]) > 0.9
    assert abs(m[2]) < 0.2 and 0.8 < sd[2] < 1.2
    assert post.config["n_preferences"] == len(prefs)


@pytest.mark.slow
def test_choices_recover_the_seen_weights_and_leave_an_unseen_feature_at_its_prior():
    w_true = np.array([1.5, -1.0, 0.0])
    _, (_, _, data) = _simulate_choices(np.random.default_rng(4), 1.0, 80, 4, w_true, (1, 1, 0))
    choices = TrajectoryChoices(data.chosen, data.alternatives, ("a", "b", "unseen"))
    birl = BIRL(beta=1.0, num_warmup=300, num_samples=600, num_chains=1, progress_bar=False)
    post = birl.fit(choices=choices, seed=0, warn=False)
    m, sd = post.mean(), post.std()
    assert _cosine(m[:2], w_true[:2]) > 0.9
    assert abs(m[2]) < 0.2 and 0.8 < sd[2] < 1.2
    assert post.config["n_choices"] == 80


# ---- perturbed replays --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lavaland():
    env = gym.make("rewunc/LavaLand-v0", size=6)
    return env, collect(env, BoltzmannExpert(beta=50.0), 16, seed=0)


def test_replays_reproduce_the_demo_at_noise_zero_and_differ_with_noise(lavaland):
    env, demos = lavaland
    demo = demos.trajectories[0]
    again = replay(env, demo, 0.0, np.random.default_rng(0))
    for field in ("observations", "actions", "features", "rewards"):
        np.testing.assert_array_equal(getattr(again, field), getattr(demo, field))
    exact = perturbed_replays(env, demos, 3, 0.0, seed=0)
    np.testing.assert_array_equal(exact.alternatives, np.repeat(exact.chosen[:, None], 3, 1))
    noisy = perturbed_replays(env, demos, 4, (0.3, 1.0), seed=0)
    assert noisy.alternatives.shape == (16, 4, 5) and noisy.env_id == "rewunc/LavaLand-v0"
    assert (noisy.alternatives != noisy.chosen[:, None]).any(-1).mean() > 0.5
    np.testing.assert_array_equal(
        noisy.alternatives, perturbed_replays(env, demos, 4, (0.3, 1.0), seed=0).alternatives
    )
    assert not noisy.alternatives[..., demos.feature_names.index("lava")].any()


def test_replays_refuse_what_they_cannot_replay(lavaland):
    env, demos = lavaland
    with pytest.raises(DataError, match="did not reproduce it"):
        perturbed_replays(gym.make("rewunc/LavaLand-v0", size=7), demos.trajectories, 2, 0.5, 0)
    with pytest.raises(DataError, match=r"noise_scales: expected a probability in \[0, 1\]"):
        perturbed_replays(env, demos, 2, 1.5, 0)
    with pytest.raises(DataError, match="n_alternatives: expected an int >= 1"):
        perturbed_replays(env, demos, 0, 0.5, 0)


def test_replays_of_box_actions_add_clipped_gaussian_noise():
    env = Drift()
    demos = collect(env, lambda obs: np.array([0.3], np.float32), 3, seed=0)
    demo = demos.trajectories[0]
    np.testing.assert_array_equal(
        replay(env, demo, 0.0, np.random.default_rng(0)).actions, demo.actions
    )
    noisy = replay(env, demo, 2.0, np.random.default_rng(0))
    assert not np.array_equal(noisy.actions[: len(demo)], demo.actions[: len(noisy)])
    assert np.abs(noisy.actions).max() <= 1.0  # clipped to the Box
    choices = perturbed_replays(env, demos, 2, 0.5, 0, gamma=0.9)
    assert choices.gamma == 0.9 and choices.chosen.shape == (3, 2)


@pytest.mark.slow
def test_choices_on_lavaland_order_dirt_and_grass_and_leave_lava_at_its_prior(lavaland):
    env, demos = lavaland
    choices = perturbed_replays(env, demos, 8, (0.25, 0.5, 1.0), seed=0)
    birl = BIRL(beta=1.0, num_warmup=300, num_samples=600, num_chains=1, progress_bar=False)
    post = birl.fit(choices=choices, seed=0, warn=False)
    w = post.weights
    dirt, grass, lava = (post.feature_names.index(n) for n in ("dirt", "grass", "lava"))
    assert np.mean(w[:, dirt] > w[:, grass]) > 0.9  # grass costs more than dirt
    assert abs(w[:, lava].mean()) < 0.25 and 0.8 < w[:, lava].std() < 1.2  # never reached


# ---- reference rollouts: the sampled normaliser -------------------------------------------


class _FeatureRoom(GridWorld):
    """A 5×5 room whose cells carry fixed random features (every weight direction matters),
    with short episodes, so that uniform random rollouts cover what a tilted demonstrator
    does."""

    TILES = ("wall", "floor")
    FLOOR = "floor"
    ASCII = {"#": "wall", ".": "floor"}
    TILE_COLORS = {"wall": (0, 0, 0), "floor": (255, 255, 255)}
    feature_names = NAMES
    TRUE_WEIGHTS = (1.0, -0.6, 0.3)
    TILE_FEATURES: dict = {}
    DEFAULT_MAX_STEPS = 20
    _PHI = 0.3 * np.random.default_rng(11).normal(size=(5, 5, K))

    def _generate(self, rng):
        return Layout(np.ones((5, 5), dtype=np.int8), (int(rng.integers(5)), int(rng.integers(5))))

    def _cell_features(self, layout):
        return self._PHI


def test_reference_rollouts_ignore_the_demonstration_and_round_trip(lavaland, tmp_path):
    env, demos = lavaland
    choices = reference_rollouts(env, demos, 5, seed=3)
    assert choices.normaliser == "sampled" and choices.alternatives.shape == (16, 5, 5)
    assert not choices.log_weights.any()  # the proposal is the reference
    # another trajectory from the same starts gets the same alternatives
    other = [reference_rollout(env, d.layout_seed, np.random.default_rng(i))
             for i, d in enumerate(demos.trajectories)]  # fmt: skip
    again = reference_rollouts(env, other, 5, seed=3)
    np.testing.assert_array_equal(again.alternatives, choices.alternatives)
    assert not np.array_equal(again.chosen, choices.chosen)
    loaded = TrajectoryChoices.load(choices.save(tmp_path / "c.npz"))
    assert loaded.normaliser == "sampled"
    np.testing.assert_array_equal(loaded.log_weights, choices.log_weights)
    old = {
        k: v
        for k, v in np.load(tmp_path / "c.npz").items()
        if k not in ("normaliser", "log_weights")
    }
    write_npz(tmp_path / "old.npz", old)  # a file from before the sampled normaliser
    assert TrajectoryChoices.load(tmp_path / "old.npz").normaliser == "choice_set"
    with pytest.raises(DataError, match="normaliser: expected one of"):
        TrajectoryChoices(
            choices.chosen, choices.alternatives, choices.feature_names, normaliser="x"
        )
    with pytest.raises(DataError, match="log_weights: expected finite values of shape"):
        TrajectoryChoices(choices.chosen, choices.alternatives, choices.feature_names,
                          normaliser="sampled", log_weights=np.zeros((16, 4)))  # fmt: skip


def _importance_estimate(choices, w):
    """log of (1/J) Σ_j (q/r)(τ_j) exp(w·Φ_j) for demonstration 0."""
    return logsumexp(choices.alternatives[0] @ w + choices.log_weights[0]) - np.log(
        choices.alternatives.shape[1]
    )


@pytest.mark.parametrize("case", ["discrete room", "box drift"])
def test_mixture_normaliser_is_unbiased_for_the_reference_partition_function(case):
    """Ẑ(w) from the defensive mixture, with its log q/r, estimates the same E_q[exp(w·Φ)] as
    plain reference rollouts (an independent Monte Carlo estimate), although its alternatives
    crowd around the demonstration."""
    if case == "discrete room":
        env, w, scale = _FeatureRoom(), np.array([0.6, -0.3, 0.5]), 0.2
        demo = reference_rollout(env, 4, np.random.default_rng(1))
    else:
        env, w, scale = Drift(), np.array([3.0, -0.2]), 0.3
        demo = collect(env, lambda obs: np.array([0.6], np.float32), 1, seed=4).trajectories[0]
    J = 4000
    mix = mixture_rollouts(env, [demo], J, seed=2, noise_scale=scale, mix=0.5)
    ref = reference_rollouts(env, [demo], 5 * J, seed=3)
    assert mix.normaliser == "sampled" and (mix.log_weights <= np.log(1 / 0.5) + 1e-9).all()
    assert mix.log_weights.min() < -1.0  # replays are far likelier under r than under q
    # the replays concentrate near the demonstration, the reference does not
    d_mix = np.abs(mix.alternatives[0] - mix.chosen[0]).sum(1)
    d_ref = np.abs(ref.alternatives[0] - ref.chosen[0]).sum(1)
    assert np.median(d_mix) < np.median(d_ref)
    # both estimate log Z (over seeds their estimates spread by about ±0.1 here)
    assert _importance_estimate(mix, w) == pytest.approx(_importance_estimate(ref, w), abs=0.2)
    # and E_r[q/r] = 1
    assert np.exp(logsumexp(mix.log_weights[0]) - np.log(J)) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"mix": 0.0}, "mix"), ({"mix": 1.5}, "mix"), ({"noise_scale": 0.0}, "noise_scale"),
     ({"n_alternatives": 0}, "n_alternatives")],
)  # fmt: skip
def test_mixture_rollouts_refuse_bad_arguments_by_name(kwargs, field):
    env = Drift()
    demo = collect(env, lambda obs: np.array([0.6], np.float32), 1, seed=4).trajectories[0]
    args = {"n_alternatives": 4, **kwargs}
    with pytest.raises(DataError, match=field):
        mixture_rollouts(env, [demo], args.pop("n_alternatives"), seed=0, **args)


def _assert_choice_sbc(chosen, alternatives, log_weights, w_true, jax_seed):
    """One NUTS run over R independent replicates (each a block of the joint) under the N(0, 1)
    prior; no divergences, and every coordinate's ranks are uniform (chosen [R, N, K],
    alternatives [R, N, J, K], log_weights [R, N, J], w_true [R, K])."""
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    R = len(w_true)
    data = ChoiceData(
        jnp.asarray(chosen, jnp.float32),
        jnp.asarray(alternatives, jnp.float32),
        jnp.asarray(log_weights, jnp.float32),
        jnp.zeros(R),
    )

    def model(data):
        w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([R, K]).to_event(2))
        loglik = jax.vmap(lambda d, w: choice_log_likelihood(d, w, 1.0))(data, w)
        numpyro.factor("choices", loglik.sum())

    mcmc = MCMC(NUTS(model), num_warmup=500, num_samples=50 * L, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(jax_seed), data, extra_fields=("diverging",))
    assert int(mcmc.get_extra_fields()["diverging"].sum()) == 0
    draws = np.asarray(mcmc.get_samples()["w"])[::50]  # [L, R, K]
    assert (_rank_pvalues(draws, w_true) > 0.01).all()


@pytest.mark.slow
def test_simulation_based_calibration_of_the_mixture_proposal():
    """SBC of :func:`mixture_rollouts` on env-simulated data: demonstrations are drawn from the
    model by importance resampling of reference rollouts, and each one's alternatives crowd
    around it (the proposal depends on the demonstration). Calibrated ranks say that dependence
    does not bias the posterior at this J."""

    R, N, P, J = 40, 6, 600, 200  # replicates, starts, SIR pool, alternatives
    env, rng = _FeatureRoom(), np.random.default_rng(1)
    pools = [[reference_rollout(env, s, np.random.default_rng([98, s, p])) for p in range(P)]
             for s in range(N)]  # fmt: skip
    phi = np.array([[t.discounted_feature_counts(1.0) for t in pool] for pool in pools])
    w_true = rng.normal(size=(R, K))
    chosen, alts, logw = np.zeros((R, N, K)), np.zeros((R, N, J, K)), np.zeros((R, N, J))
    for r in range(R):
        demos = []
        for n in range(N):
            u = phi[n] @ w_true[r]
            demos.append(pools[n][rng.choice(P, p=np.exp(u - u.max()) / np.exp(u - u.max()).sum())])
        c = mixture_rollouts(env, demos, J, seed=1000 + r, noise_scale=0.2, mix=0.5)
        chosen[r], alts[r], logw[r] = c.chosen, c.alternatives, c.log_weights
    _assert_choice_sbc(chosen, alts, logw, w_true, jax_seed=1)


@pytest.mark.slow
def test_simulation_based_calibration_on_env_rollouts():
    """SBC of the construction the pipeline uses, on data made by the env: each replicate's
    demonstrations are drawn from the model by importance resampling of a pool of reference
    rollouts (exact as the pool grows), and the fit sees fresh reference rollouts from
    :func:`reference_rollouts`. The R replicates are independent blocks of one NUTS run."""

    R, N, P, J = 60, 8, 600, 300  # replicates, starts, SIR pool, alternatives
    env, rng = _FeatureRoom(), np.random.default_rng(0)
    pools = [[reference_rollout(env, s, np.random.default_rng([99, s, p])) for p in range(P)]
             for s in range(N)]  # fmt: skip
    phi = np.array([[t.discounted_feature_counts(1.0) for t in pool] for pool in pools])
    w_true = rng.normal(size=(R, K))  # the model's prior
    chosen = np.zeros((R, N, K))
    for r in range(R):
        for n in range(N):
            u = phi[n] @ w_true[r]
            chosen[r, n] = phi[n, rng.choice(P, p=np.exp(u - u.max()) / np.exp(u - u.max()).sum())]
    alts = reference_rollouts(env, [pool[0] for pool in pools], J, seed=5).alternatives
    alts = np.broadcast_to(alts, (R, *alts.shape))
    _assert_choice_sbc(chosen, alts, np.zeros((R, N, J)), w_true, jax_seed=0)
