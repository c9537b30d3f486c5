"""Exact tabular planners over a reward posterior: each maps (TabularMDP, RewardPosterior) to a
stochastic policy π[S, A] and the value of its own objective.

The risk-averse planners (:class:`Maximin`, :class:`CVaR`, :class:`BROIL`) are linear programs over
the discounted state-action occupancy x[s, a] (Puterman §6.9), solved by HiGHS through
``scipy.optimize.linprog`` with sparse constraints:

    flow        Σ_a x(s', a) − γ Σ_{s,a} P(s'|s, a)·x(s, a) = initial(s')   for non-terminal s'
    features    μ_k = Σ_{s,a} x(s, a)·Σ_{s'} P(s'|s, a)·φ_k(s')             (K rows)
    returns     X_m = w_m·(μ − μ_E)   (μ_E = 0 in the robust form; see rewunc.risk)
    BROIL       max λ·Σ_m p_m X_m + (1 − λ)·(σ − Σ_m p_m z_m / (1 − α)),  z_m ≥ σ − X_m,  z ≥ 0

Routing the M posterior draws through the K feature expectations keeps the matrix sparse: the
published BROIL code instead writes one dense row of S·A returns per draw. α follows the
convention of :mod:`rewunc.risk` (confidence level in (0, 1]; α = 1 is the worst case, which is
:class:`Maximin`). Terminal states carry no occupancy (episodes end on arrival).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from rewunc import planning
from rewunc.agents.specs import parse_spec
from rewunc.io import CorruptFileError, read_npz, write_npz
from rewunc.mdp import TabularMDP
from rewunc.posterior import RewardPosterior
from rewunc.risk import check_alpha, check_lam


class AgentError(ValueError):
    """An agent cannot be built or cannot plan with what it was given."""


@dataclass(frozen=True)
class PlannedPolicy:
    """A planner's answer on one MDP.

    Attributes:
        policy: float [S, A], rows sum to 1 (uniform at terminal and unreachable states).
        objective: the planner's own objective at ``policy`` (e.g. CVaR_α of the return).
        mu: float [K], the policy's discounted feature expectations from ``mdp.initial``.
    """

    policy: np.ndarray
    objective: float
    mu: np.ndarray


# ---- occupancy-measure linear programs ---------------------------------------------------


def successor_features(mdp: TabularMDP) -> np.ndarray:
    """φ̄[S, A, K] = Σ_{s'} P(s'|s, a)·φ(s'): expected features of the state arrived in."""
    return np.einsum("sab,sabk->sak", mdp.probs, mdp.features[mdp.next_states])


def occupancy_constraints(mdp: TabularMDP) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The flow constraints over non-terminal occupancies, sparse.

    Returns (A_eq [N, N·A], b_eq [N], live [N]): ``live`` lists the N non-terminal states, and the
    variable of (live[i], a) is column i·A + a.
    """
    S, A, B = mdp.next_states.shape
    live = np.flatnonzero(~mdp.terminal)
    pos = np.full(S, -1)
    pos[live] = np.arange(len(live))
    N = len(live)
    cols = np.arange(N * A)
    # inflow: −γ P(s'|s,a) for each live s and each successor s' that is live
    ns = mdp.next_states[live].reshape(N * A, B)
    pr = mdp.probs[live].reshape(N * A, B)
    keep = (pos[ns] >= 0) & (pr > 0)
    rows = np.concatenate([np.repeat(np.arange(N), A), pos[ns][keep]])
    cc = np.concatenate([cols, np.broadcast_to(cols[:, None], (N * A, B))[keep]])
    vals = np.concatenate([np.ones(N * A), -mdp.gamma * pr[keep]])
    a_eq = sp.csr_matrix((vals, (rows, cc)), shape=(N, N * A))  # duplicates are summed
    return a_eq, mdp.initial[live].astype(np.float64), live


def risk_lp(
    mdp: TabularMDP,
    weights: np.ndarray,
    lam: float,
    alpha: float,
    mu_expert: np.ndarray | None = None,
    p: np.ndarray | None = None,
) -> PlannedPolicy:
    """max over policies of λ·E[X] + (1 − λ)·CVaR_α[X], X_m = w_m·(μ − μ_E), as one sparse LP.

    Args:
        mdp: the MDP (its own features and dynamics).
        weights: [M, K] posterior draws.
        lam: λ ∈ [0, 1] (1: the posterior mean; 0: pure CVaR).
        alpha: confidence level in (0, 1] (1: worst case, i.e. maximin).
        mu_expert: [K] the demonstrator's feature expectations (regret form) or None (robust).
        p: [M] draw probabilities (default uniform).
    """
    W = np.asarray(weights, dtype=np.float64)
    base = None if mu_expert is None else W @ np.asarray(mu_expert, dtype=np.float64)
    (x,), _, mu, objective = _risk_program([mdp], W, lam, alpha, base, p)
    live = np.flatnonzero(~mdp.terminal)  # the states occupancy_constraints keeps
    return PlannedPolicy(_policy_from_occupancy(mdp, x, live), objective, mu)


def pooled_risk_lp(
    mdps: Sequence[TabularMDP], weights: np.ndarray, lam: float, alpha: float
) -> tuple[float, np.ndarray]:
    """max over one policy per MDP of λ·E[X̄] + (1 − λ)·CVaR_α[X̄], X̄_m = w_m·(1/N)·Σ_L μ_L: the
    risk of the return *averaged over the N layouts* (what one agent trained on a distribution
    of layouts, scored by its pooled per-draw returns, maximises), as one sparse LP with
    block-diagonal flows and shared σ, z.

    By the concavity of CVaR this is ≥ the mean over layouts of :func:`risk_lp`'s per-layout
    optima (equal at λ = 1, where the objective is linear).

    Returns:
        (objective, mu [N, K]): the optimum and each layout's feature expectations at it.
    """
    if len(mdps) == 0:
        raise AgentError("pooled_risk_lp: expected at least one MDP")
    W = np.asarray(weights, dtype=np.float64)
    xs, phis, _, objective = _risk_program(list(mdps), W, lam, alpha, None, None)
    mu = np.stack([x.reshape(-1) @ phi for x, phi in zip(xs, phis, strict=True)])
    return objective, mu


def _risk_program(mdps, W, lam, alpha, base, p):
    """Solve max λ·E_p[X̄] + (1 − λ)·CVaR_α[X̄], X̄_m = w_m·(μ̄ − μ_E), μ̄ = (1/N)·Σ_L φ̄_Lᵀx_L,
    over occupancies x_L of the N MDPs (block-diagonal flows). Returns (x_L [N_L, A] and
    φ̄_L [N_L·A, K] per MDP over its live states, μ̄ [K], objective)."""
    lam, alpha = check_lam(lam), check_alpha(alpha)
    M, K = W.shape
    p = np.full(M, 1.0 / M) if p is None else np.asarray(p, dtype=np.float64)
    base = np.zeros(M) if base is None else base
    flows, lives, phis = [], [], []
    for mdp in mdps:
        if K != mdp.n_features:
            raise AgentError(f"weights: {K} features, the MDP has {mdp.n_features}")
        a_flow, b_flow, live = occupancy_constraints(mdp)
        flows.append((a_flow, b_flow))
        lives.append(live)
        phis.append(successor_features(mdp)[live].reshape(-1, K))
    sizes = [phi.shape[0] for phi in phis]
    nx, n_rows = sum(sizes), sum(len(live) for live in lives)
    a_flow = flows[0][0] if len(flows) == 1 else sp.block_diag([f[0] for f in flows], "csr")
    b_flow = np.concatenate([f[1] for f in flows])
    phi = np.concatenate(phis) / len(mdps)
    # variables: x [nx], μ̄ [K], σ [1], z [M]
    a_mu = sp.hstack([-phi.T, sp.eye(K), sp.csr_matrix((K, 1 + M))])
    a_eq = sp.vstack([sp.hstack([a_flow, sp.csr_matrix((n_rows, K + 1 + M))]), a_mu], format="csr")
    b_eq = np.concatenate([b_flow, np.zeros(K)])
    # σ − w_m·μ̄ − z_m ≤ −w_m·μ_E
    a_ub = sp.hstack([sp.csr_matrix((M, nx)), -W, np.ones((M, 1)), -sp.eye(M)], format="csr")
    b_ub = -base
    tail = (1.0 - alpha) if alpha < 1.0 else 1.0
    c = np.concatenate(
        [
            np.zeros(nx),
            -lam * (p @ W),
            [-(1.0 - lam)],
            # α = 1: z is dropped (cost 0, and z ≥ 0 with σ ≤ X_m enforced by fixing z = 0)
            np.full(M, (1.0 - lam) / tail) * p if alpha < 1.0 else np.zeros(M),
        ]
    )
    z_bounds = (0, None) if alpha < 1.0 else (0, 0)
    bounds = [(0, None)] * nx + [(None, None)] * (K + 1) + [z_bounds] * M
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise AgentError(f"risk LP failed: {res.message}")
    xs = [
        x.reshape(len(live), -1)
        for x, live in zip(np.split(res.x[:nx], np.cumsum(sizes)[:-1]), lives, strict=True)
    ]
    mu = res.x[nx : nx + K]
    objective = -res.fun - lam * float(p @ base)
    return xs, phis, mu, float(objective)


def _policy_from_occupancy(mdp: TabularMDP, x: np.ndarray, live: np.ndarray) -> np.ndarray:
    """π(a|s) = x(s, a) / Σ_a x(s, a); uniform where the policy never goes."""
    S, A = mdp.n_states, mdp.n_actions
    pi = np.full((S, A), 1.0 / A)
    x = np.maximum(x, 0.0)
    total = x.sum(1)
    visited = total > 1e-9 * max(1.0, total.max())
    pi[live[visited]] = x[visited] / total[visited, None]
    return pi


# ---- planners -----------------------------------------------------------------------------


def _check(mdp: TabularMDP, posterior: RewardPosterior) -> None:
    if tuple(mdp.feature_names) != posterior.feature_names:
        raise AgentError(
            f"feature names differ: posterior {posterior.feature_names}, MDP {mdp.feature_names}"
        )


def _optimal_for(mdp: TabularMDP, weights: np.ndarray) -> tuple[np.ndarray, float]:
    plan = planning.value_iteration(mdp, mdp.state_rewards(weights), dtype=np.float64)
    return np.asarray(plan.policy), float(mdp.initial @ plan.v)


def _planned(mdp, policy, objective) -> PlannedPolicy:
    mu = planning.feature_expectations(mdp, policy, dtype=np.float64)
    return PlannedPolicy(np.asarray(policy), float(objective), np.asarray(mu))


@dataclass(frozen=True)
class BayesMean:
    """Optimal for the posterior-mean reward (which maximises the posterior-expected return)."""

    def plan(self, mdp, posterior, mu_expert=None) -> PlannedPolicy:
        _check(mdp, posterior)
        return _planned(mdp, *_optimal_for(mdp, posterior.mean()))


@dataclass(frozen=True)
class MAP:
    """Optimal for the posterior draw of highest density (needs ``posterior.log_density``)."""

    def plan(self, mdp, posterior, mu_expert=None) -> PlannedPolicy:
        _check(mdp, posterior)
        if posterior.log_density is None:
            raise AgentError("MAP needs a posterior with log_density (fit it with BIRL)")
        return _planned(mdp, *_optimal_for(mdp, posterior.map_weights()))


@dataclass(frozen=True)
class Maximin:
    """max_π min_m X_m over the posterior draws (an LP; α = 1 in BROIL's terms)."""

    regret: bool = False

    def plan(self, mdp, posterior, mu_expert=None) -> PlannedPolicy:
        _check(mdp, posterior)
        return risk_lp(mdp, posterior.weights, 0.0, 1.0, _expert(self.regret, mu_expert))


@dataclass(frozen=True)
class CVaR:
    """max_π CVaR_α[X] (BROIL with λ = 0)."""

    alpha: float = 0.95
    regret: bool = False

    def __post_init__(self):
        check_alpha(self.alpha)

    def plan(self, mdp, posterior, mu_expert=None) -> PlannedPolicy:
        _check(mdp, posterior)
        return risk_lp(mdp, posterior.weights, 0.0, self.alpha, _expert(self.regret, mu_expert))


@dataclass(frozen=True)
class BROIL:
    """max_π λ·E[X] + (1 − λ)·CVaR_α[X] (Brown, Niekum & Petrik, 2020)."""

    lam: float = 0.5
    alpha: float = 0.95
    regret: bool = False

    def __post_init__(self):
        check_lam(self.lam)
        check_alpha(self.alpha)

    def plan(self, mdp, posterior, mu_expert=None) -> PlannedPolicy:
        _check(mdp, posterior)
        return risk_lp(
            mdp, posterior.weights, self.lam, self.alpha, _expert(self.regret, mu_expert)
        )


@dataclass(frozen=True)
class PessimisticReward:
    """Optimal for r_q(s), the q-quantile over draws of each state's reward (after Inverse
    Reward Design's risk-averse planning): cheap, but ignores how rewards co-vary."""

    q: float = 0.05

    def __post_init__(self):
        if not 0.0 < self.q < 1.0:
            raise AgentError(f"q: expected a quantile in (0, 1), got {self.q!r}")

    def plan(self, mdp, posterior, mu_expert=None) -> PlannedPolicy:
        _check(mdp, posterior)
        reward = np.quantile(posterior.rewards(mdp), self.q, axis=0)
        plan = planning.value_iteration(mdp, reward, dtype=np.float64)
        return _planned(mdp, plan.policy, float(mdp.initial @ plan.v))


@dataclass(frozen=True)
class Oracle:
    """Optimal for the MDP's true reward (the reference for regret)."""

    def plan(self, mdp, posterior=None, mu_expert=None) -> PlannedPolicy:
        if mdp.true_weights is None:
            raise AgentError("Oracle needs an MDP with true_weights")
        return _planned(mdp, *_optimal_for(mdp, mdp.true_weights))


def _expert(regret: bool, mu_expert):
    if regret and mu_expert is None:
        raise AgentError("the regret form needs the demonstrator's feature expectations")
    return mu_expert if regret else None


AGENTS = {
    "BayesMean": BayesMean,
    "MAP": MAP,
    "Maximin": Maximin,
    "CVaR": CVaR,
    "BROIL": BROIL,
    "PessimisticReward": PessimisticReward,
    "Oracle": Oracle,
}


def make_agent(spec: str):
    """Build an agent from a name such as ``"BayesMean"``, ``"CVaR(alpha=0.9)"`` or
    ``"BROIL(lam=0.5, alpha=0.95)"`` (:mod:`rewunc.agents.specs`); unknown names and parameters
    are refused clearly."""
    name, kwargs = parse_spec(
        spec,
        {n: cls.__dataclass_fields__ for n, cls in AGENTS.items()},
        error=AgentError,
        flags=("regret",),
    )
    cls = AGENTS[name]
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise AgentError(f"agent {spec!r}: {err}") from err


def is_regret_form(spec: str) -> bool:
    """Whether an agent spec asks for the regret form (needs the demonstrator's μ_E)."""
    return bool(getattr(make_agent(spec), "regret", False))


def agent_name(agent) -> str:
    """The canonical spec of an agent (round-trips through :func:`make_agent`)."""
    fields = {k: getattr(agent, k) for k in type(agent).__dataclass_fields__}
    fields = {k: v for k, v in fields.items() if not (k == "regret" and not v)}
    # repr: the shortest text that round-trips, so distinct parameters get distinct names
    args = ", ".join(
        f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
    )
    return f"{type(agent).__name__}({args})" if args else type(agent).__name__


# ---- plans for a set of layouts ------------------------------------------------------------

PLANS_FORMAT = "rewunc.layout_plans.v1"


@dataclass(frozen=True, eq=False)
class LayoutPlans:
    """One agent's plans for a list of layouts (the "plan" stage of a study).

    Attributes:
        agent: the agent's spec (``agent_name``).
        policies: N arrays π[S_i, A], one per layout.
        objectives: float [N], each plan's own objective.
        mu: float [N, K], each plan's discounted feature expectations on its layout.
    """

    agent: str
    policies: tuple[np.ndarray, ...]
    objectives: np.ndarray
    mu: np.ndarray

    def __len__(self) -> int:
        return len(self.policies)

    def save(self, path, *, force: bool = False):
        """One pickle-free .npz (policies padded to the largest layout)."""
        S = max(p.shape[0] for p in self.policies)
        A = self.policies[0].shape[1]
        padded = np.zeros((len(self), S, A))
        for i, p in enumerate(self.policies):
            padded[i, : p.shape[0]] = p
        return write_npz(
            path,
            {
                "format": np.array(PLANS_FORMAT),
                "agent": np.array(self.agent),
                "policies": padded,
                "n_states": np.array([p.shape[0] for p in self.policies]),
                "objectives": self.objectives,
                "mu": self.mu,
            },
            force=force,
        )

    @classmethod
    def load(cls, path) -> LayoutPlans:
        d = read_npz(path)
        need = ("format", "agent", "policies", "n_states", "objectives", "mu")
        if any(k not in d for k in need) or str(d["format"]) != PLANS_FORMAT:
            raise CorruptFileError(f"{path}: not a {PLANS_FORMAT} file")
        n = len(d["n_states"])
        if not (d["policies"].shape[0] == len(d["objectives"]) == len(d["mu"]) == n):
            raise CorruptFileError(f"{path}: policies, objectives and mu disagree in length")
        policies = tuple(d["policies"][i, : int(S)] for i, S in enumerate(d["n_states"]))
        if any(not np.allclose(p.sum(1), 1.0, atol=1e-6) for p in policies):
            raise CorruptFileError(f"{path}: a stored policy's rows do not sum to 1")
        return cls(str(d["agent"]), policies, d["objectives"], d["mu"])


def plan_layouts(agent, posterior, mdps, mu_expert=None) -> LayoutPlans:
    """``agent.plan`` on each of ``mdps`` (e.g. an evaluation's layouts)."""
    plans = [agent.plan(mdp, posterior, mu_expert) for mdp in mdps]
    return LayoutPlans(
        agent_name(agent),
        tuple(np.asarray(p.policy, dtype=np.float64) for p in plans),
        np.array([p.objective for p in plans], dtype=np.float64),
        np.stack([np.asarray(p.mu, dtype=np.float64) for p in plans]),
    )
