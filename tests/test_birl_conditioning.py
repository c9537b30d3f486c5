"""BIRL's parameterisations of one-hot feature groups, warm-started and accelerated soft value
iteration, and the compile-once sampler, against exact references."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from rewunc import planning
from rewunc.birl import BIRL, DemoData
from rewunc.birl.parameterisation import reference_features, rotation
from rewunc.birl.sampler import compile_clock
from rewunc.envs import LavaLand
from rewunc.mdp import TabularMDP

NAMES = ("a", "b", "x")
GROUPS = (("a", "b"),)


def group_chain() -> TabularMDP:
    """4 states in a line, left/right moves, state 3 terminal. Features (a, b, x): a and b are a
    one-hot group (one of them is 1 in every state), x is 1 in states 1 and 3."""
    S = 4
    ns = np.zeros((S, 2, 1), dtype=int)
    for s in range(S):
        ns[s, 0, 0] = max(s - 1, 0)
        ns[s, 1, 0] = min(s + 1, S - 1)
    phi = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 1, 1]], dtype=float)
    init = np.array([1 / 3, 1 / 3, 1 / 3, 0.0])
    term = np.array([False, False, False, True])
    return TabularMDP(ns, np.ones((S, 2, 1)), phi, NAMES, init, term, 0.9)


COUNTS = np.array([[2, 3], [1, 4], [3, 2], [0, 0]], dtype=float)  # N[s, a]
LOC = (0.0, 0.5, 0.0)
SCALE = (1.5, 0.7, 1.5)  # b has the tighter prior: the reference of the group (a, b)


def _data(mdp=None, counts=COUNTS):
    mdp = mdp or group_chain()
    return DemoData(planning.stack_mdps([mdp]), jnp.asarray(counts[None], jnp.float32))


def exact_posterior(free: list[int], fixed: dict[int, float], half_width=6.0, n=81):
    """Mean and sd of the free weights by quadrature on a grid (float64 soft VI, β = 1), with
    the other weights held at ``fixed``: the raw posterior, or its conditional on them."""
    mdp = group_chain()
    axes = [LOC[k] + np.linspace(-half_width, half_width, n) * SCALE[k] / 1.5 for k in free]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(free))
    W = np.zeros((len(grid), 3))
    W[:, free] = grid
    for k, v in fixed.items():
        W[:, k] = v
    plan = planning.soft_value_iteration(mdp, W @ mdp.features.T, 1.0, dtype=np.float64)
    logpi = plan.q - logsumexp(plan.q, axis=-1, keepdims=True)
    loc, scale = np.array(LOC)[free], np.array(SCALE)[free]
    logpost = np.einsum("msa,sa->m", logpi, COUNTS) - 0.5 * (((grid - loc) / scale) ** 2).sum(1)
    p = np.exp(logpost - logpost.max())
    p /= p.sum()
    mean = p @ grid
    return mean, np.sqrt(p @ (grid - mean) ** 2)


def fit(parameterisation, seed=0, **options):
    birl = BIRL(
        prior_loc=LOC,
        prior_scale=SCALE,
        feature_groups=GROUPS,
        parameterisation=parameterisation,
        num_warmup=400,
        num_samples=1000,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
        **options,
    )
    return birl, birl.fit(_data(), feature_names=NAMES, seed=seed, warn=False)


def assert_matches(post, free, mean, sd):
    ess = np.asarray(post.diagnostics["ess_bulk"])[free]
    assert np.all(ess > 300) and post.diagnostics["divergences"] == 0
    # Monte Carlo error of a mean is sd/sqrt(ESS): allow 4 of them; sds within 10%
    np.testing.assert_array_less(np.abs(post.mean()[free] - mean), 4 * sd / np.sqrt(ess))
    np.testing.assert_allclose(post.std()[free], sd, rtol=0.1)


@pytest.mark.slow
def test_reference_is_the_exact_posterior_conditioned_on_the_reference():
    assert reference_features(((0, 1),), SCALE, 3) == (1,)  # b: the tightest prior
    mean, sd = exact_posterior(free=[0, 2], fixed={1: LOC[1]})
    # the fast path too: Anderson solves warm-started per chain, a looser gradient tolerance
    _, post = fit("reference", solver="anderson", warm_start=True, grad_tol=1e-3)
    assert post.config["warm_start"] and post.config["solver"] == "anderson"
    assert np.all(post.weights[:, 1] == LOC[1])  # the reference sits at its prior location
    assert post.config["reference_features"] == ["b"]
    assert post.config["parameterisation"] == "reference"
    assert post.config["feature_groups"] == [["a", "b"]]
    assert_matches(post, [0, 2], mean, sd)


@pytest.mark.slow
def test_rotated_is_the_raw_posterior():
    mean, sd = exact_posterior(free=[0, 1, 2], fixed={}, n=49)
    _, post = fit("rotated", dense_mass=False)
    assert_matches(post, [0, 1, 2], mean, sd)


def test_rotation_is_orthonormal_and_isolates_the_whitened_constant():
    scale = np.array([1.0, 0.05, 2.0, 0.5])
    B = rotation(((0, 1, 2),), scale, 4)
    np.testing.assert_allclose(B @ B.T, np.eye(4), atol=1e-12)
    # z₀ moves w along the group's constant direction: w = loc + scale ⊙ (B z)
    step = scale * B[:, 0]
    np.testing.assert_allclose(step[:3] / step[0], 1.0)
    assert step[3] == 0.0
    # the contrasts' coordinates leave the constant of the whitened prior untouched
    a = (1 / scale[:3]) / np.linalg.norm(1 / scale[:3])
    np.testing.assert_allclose(a @ B[:3, 1:3], 0.0, atol=1e-12)


def test_raw_and_ungrouped_models_are_the_old_model():
    """No groups (or raw): the same sites and the same log density as before the option."""
    from numpyro.infer.util import log_density

    from rewunc.birl.model import reward_model

    d = _data()
    w = jnp.array([0.3, -0.2, 0.7])
    kw = dict(prior_loc=LOC, prior_scale=SCALE)
    old, _ = log_density(reward_model, (d, None, None), kw, {"w": w})
    raw, _ = log_density(
        reward_model, (d, None, None), dict(kw, feature_groups=((0, 1),)), {"w": w}
    )
    np.testing.assert_allclose(float(raw), float(old), rtol=1e-6)
    # reference: the raw density at w_ref = loc_ref, less the reference's prior term
    ref, _ = log_density(
        reward_model,
        (d, None, None),
        dict(kw, feature_groups=((0, 1),), parameterisation="reference"),
        {"w_free": w[jnp.array([0, 2])]},
    )
    at_ref, _ = log_density(reward_model, (d, None, None), kw, {"w": w.at[1].set(LOC[1])})
    log_prior_ref = -0.5 * np.log(2 * np.pi * SCALE[1] ** 2)
    np.testing.assert_allclose(float(ref), float(at_ref) - log_prior_ref, rtol=1e-5)


# ---- soft value iteration: warm starts and Anderson acceleration -------------------------


def lavaland_arrays(size=8, seed=0):
    env = LavaLand(size=size, layout_seed=seed, shift="lava")
    env.reset(seed=0)
    mdp = env.to_mdp()
    return mdp, planning.mdp_arrays(mdp)


@pytest.mark.parametrize("solver", planning.SOLVERS)
def test_warm_started_and_accelerated_soft_vi_give_the_same_q_and_gradients(solver):
    mdp, arrays = lavaland_arrays()
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=len(mdp.feature_names)), jnp.float32)
    states = jnp.arange(0, mdp.n_states, 3)

    def loss(w, v0, solver):
        plan = planning.soft_plan_arrays(
            arrays, (arrays.features @ w)[None], 1.3, 1e-6, 20_000, v0=v0, solver=solver
        )
        return jnp.sum(jnp.log(plan.policy[0, states, 1])), plan.q

    grad = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=2)
    cold = jnp.zeros(mdp.n_states)
    (_, q_ref), g_ref = grad(w, cold, "sweeps")
    near = planning.soft_plan_arrays(
        arrays, (arrays.features @ (w + 0.3))[None], 1.3, 1e-6, 20_000
    ).v[0]
    for v0 in (cold, near, jnp.asarray(rng.normal(size=mdp.n_states) * 10, jnp.float32)):
        (_, q), g = grad(w, v0, solver)
        scale = float(jnp.abs(q_ref).max())
        np.testing.assert_allclose(np.asarray(q), np.asarray(q_ref), atol=2e-5 * scale)
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=2e-3, atol=1e-4)
    # and the gradient is the derivative: central differences in float64
    with jax.enable_x64(True):
        arrays64 = planning.mdp_arrays(mdp, jnp.float64)

        @jax.jit
        def loss64(w):
            plan = planning.soft_plan_arrays(
                arrays64, (arrays64.features @ w)[None], 1.3, 1e-12, 20_000, solver=solver
            )
            return jnp.sum(jnp.log(plan.policy[0, states, 1]))

        w64 = jnp.asarray(w, jnp.float64)
        g64 = np.asarray(jax.jit(jax.grad(loss64))(w64))
        h = 1e-5
        fd = [
            (float(loss64(w64.at[k].add(h))) - float(loss64(w64.at[k].add(-h)))) / (2 * h)
            for k in range(len(w))
        ]
        np.testing.assert_allclose(g64, fd, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.asarray(g_ref), g64, rtol=2e-3, atol=1e-4)


def test_anderson_needs_fewer_sweeps_for_the_same_values():
    mdp, arrays = lavaland_arrays(size=16)
    r = jnp.asarray(mdp.state_rewards(mdp.true_weights), jnp.float32)[None]
    plain = planning._soft_vi(arrays, r, 1.0, 1e-6, 20_000, "sweeps")
    fast = planning._soft_vi(arrays, r, 1.0, 1e-6, 20_000, "anderson")
    exact = planning.soft_value_iteration(mdp, r[0], 1.0, dtype=np.float64).v
    for plan in (plain, fast):
        np.testing.assert_allclose(np.asarray(plan.v[0]), exact, atol=2e-5 * np.abs(exact).max())
    assert int(fast.iterations) < 0.5 * int(plain.iterations)


# ---- the sampler --------------------------------------------------------------------------


def test_a_second_fit_with_the_same_shapes_compiles_nothing():
    birl = BIRL(
        num_warmup=30,
        num_samples=30,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
        warm_start=True,  # the refresh between warm-up chunks must not compile either
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = birl.fit(_data(), feature_names=NAMES, seed=0, warn=False)
        counts = COUNTS.copy()
        counts[0] += 1  # other data, same shapes
        with compile_clock() as compiled:
            second = birl.fit(_data(counts=counts), feature_names=NAMES, seed=1, warn=False)
    assert first.diagnostics["compile_seconds"] > 0
    assert second.diagnostics["compile_seconds"] == 0.0 and compiled() == 0.0
    assert not np.allclose(first.weights, second.weights)


def test_the_compiled_sampler_draws_what_numpyros_mcmc_draws():
    """Same kernel, keys and model (raw, plain sweeps, no warm start, exact gradients): the same
    draws as numpyro's MCMC.run, bit for bit, with vectorized chains. (A single chain's
    initialisation runs eagerly in numpyro and jitted here, which can differ in the last bit and
    then send the chain elsewhere: same algorithm, not the same floating-point path.)"""
    from functools import partial

    from numpyro.infer import MCMC, NUTS

    from rewunc.birl.model import reward_model

    d = _data()
    for chains, method in ((2, "vectorized"),):
        options = dict(prior_loc=LOC, prior_scale=SCALE, parameterisation="raw", solver="sweeps")
        mcmc = MCMC(
            NUTS(partial(reward_model, **options)),
            num_warmup=40,
            num_samples=40,
            num_chains=chains,
            chain_method=method,
            progress_bar=False,
            jit_model_args=True,
        )
        mcmc.run(jax.random.PRNGKey(3), d, None, None)
        old = np.asarray(mcmc.get_samples(group_by_chain=True)["w"])
        birl = BIRL(
            **options,
            warm_start=False,
            grad_tol=None,
            num_warmup=40,
            num_samples=40,
            num_chains=chains,
            chain_method=method,
            progress_bar=False,
        )
        new = birl.fit(d, feature_names=NAMES, seed=3, warn=False).weights
        np.testing.assert_array_equal(new, old.reshape(-1, 3))


def test_lavaland_declares_its_terrain_group_and_it_is_one_hot():
    assert LavaLand.feature_groups == (("dirt", "grass", "lava", "target", "gravel"),)
    for shift in (None, *LavaLand.SHIFTS):
        env = LavaLand(shift, size=6, layout_seed=1)
        env.reset(seed=0)
        np.testing.assert_allclose(env.to_mdp().features.sum(1), 1.0)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="parameterisation: expected one of"):
        BIRL(parameterisation="centred")
    with pytest.raises(ValueError, match="solver: expected"):
        BIRL(solver="newton")
    with pytest.raises(ValueError, match="groups must not overlap"):
        BIRL(feature_groups=(("a", "b"), ("b", "x")))
    with pytest.raises(ValueError, match="two or more distinct features"):
        BIRL(feature_groups=(("a",),))
    with pytest.raises(ValueError, match="groups of feature names"):
        BIRL(feature_groups="ab")
    birl = BIRL(feature_groups=(("a", "zzz"),), num_warmup=5, num_samples=5, progress_bar=False)
    with pytest.raises(ValueError, match=r"unknown features \['zzz'\]"):
        birl.fit(_data(), feature_names=NAMES)
    birl = BIRL(feature_groups=(("b", "x"),), num_warmup=5, num_samples=5, progress_bar=False)
    with pytest.raises(ValueError, match="not one-hot"):
        birl.fit(_data(), feature_names=NAMES)


def test_the_studies_run_birl_with_its_defaults():
    """One BIRL: a study's posterior comes from the same numerics as a user's ``BIRL()`` (the
    fast soft VI, the reference parameterisation) and the env's declared feature groups."""
    from experiments.lavaland import LavaLandConfig

    default = BIRL().config
    assert (default["solver"], default["warm_start"], default["grad_tol"]) == (
        "anderson", True, 1e-3
    )  # fmt: skip
    study = BIRL(**LavaLandConfig().birl_options()).config
    for key in ("solver", "warm_start", "grad_tol", "parameterisation"):
        assert study[key] == default[key], key
    assert tuple(map(tuple, study["feature_groups"])) == LavaLand.feature_groups


def test_target_accept_flag_reaches_nuts():
    """``--target-accept`` is NUTS's ``target_accept_prob``: 0.9 by default in the tabular
    studies (dense mass, correlated weights), 0.8 (NumPyro's) in the feature studies."""
    from experiments.lavaland import LavaLandConfig
    from experiments.point_lava import PointLavaConfig

    assert LavaLandConfig().birl_options()["target_accept_prob"] == 0.9
    assert LavaLandConfig(target_accept=0.97).birl_options()["target_accept_prob"] == 0.97
    assert PointLavaConfig().birl_options()["target_accept_prob"] == 0.8
    assert (
        BIRL(**LavaLandConfig(target_accept=0.97).birl_options()).config["target_accept_prob"]
        == 0.97
    )
