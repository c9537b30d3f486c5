"""PG-BROIL's policy-gradient weights over posterior draws (:func:`broil_weights`) and the basis
the successor-feature critic predicts in (:func:`critic_basis`)."""

from __future__ import annotations

import numpy as np

from rewunc.risk import check_alpha, check_lam, check_probs


def broil_weights(
    x, lam: float, alpha: float, p=None, *, return_var: bool = False
) -> np.ndarray | tuple[np.ndarray, float]:
    """PG-BROIL's policy-gradient weights over posterior draws, with the exact VaR straddle.

    PG-BROIL (Javed et al. 2021) weights draw m by c_m = p_m·(λ + (1−λ)/(1−α)·1[X_m ≤ VaR_α]).
    Here the tail term is made exact: the CVaR tail holds exactly 1 − α of the mass, so the draw
    straddling the (1−α)-quantile counts with the part of its mass inside the tail (as
    ``rewunc.risk.cvar`` does), and draws *tied* at the VaR share that part in proportion to p
    (so the weights never depend on the order of tied draws). Then

        c ≥ 0,   Σ_m c_m = 1,   Σ_m c_m X_m = λ·E_p[X] + (1−λ)·CVaR_α[X] = rewunc.risk.broil,

    and c differs from PG-BROIL's indicator weights only at the straddling draw(s).
    α = 1 (Maximin): the tail is the worst draw (tied minima split in proportion to p);
    λ = 1 (BayesMean): c = p.

    Args:
        x: [M] per-draw returns X_m.
        lam: λ ∈ [0, 1], the weight of the mean.
        alpha: α ∈ (0, 1], the CVaR confidence level.
        p: [M] draw probabilities (default uniform).
        return_var: also return VaR_α, the (1−α)-quantile of X under p (the worst X at α = 1).

    Returns:
        c [M] (float64), or (c, VaR) when ``return_var``.
    """
    lam, alpha = check_lam(lam), check_alpha(alpha)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(
            f"x: expected a non-empty 1-d array of finite returns, got shape {x.shape}"
        )
    M = x.size
    p = check_probs(p, M, "probs")
    tail = 1.0 - alpha
    values, inverse = np.unique(x, return_inverse=True)  # sorted distinct returns
    mass = np.bincount(inverse, weights=p, minlength=values.size)  # p-mass at each value
    if tail <= 0.0:
        j = 0  # α = 1: the worst value, whatever its mass
        below = 0.0
        share = 1.0  # the whole (limit) tail sits at the minimum
    else:
        cum = np.cumsum(mass)
        # First value whose cumulative mass reaches the tail (tolerance: 1 − 0.95 ≠ 0.05 in floats).
        j = int(np.searchsorted(cum, tail * (1.0 - 1e-12), side="left"))
        j = min(j, values.size - 1)
        below = float(cum[j] - mass[j])  # mass strictly below the VaR
        share = min(max(tail - below, 0.0), mass[j]) / tail  # tail fraction held at the VaR
    q = np.zeros(M)
    if tail > 0.0:
        q[inverse < j] = p[inverse < j] / tail
    at = inverse == j
    if mass[j] > 0:
        q[at] = share * p[at] / mass[j]
    else:  # only at α = 1, when every draw at the minimum has probability 0: split evenly
        q[at] = share / at.sum()
    q /= q.sum()  # exact to rounding already; guards the 1e-12 tolerance above
    c = lam * p + (1.0 - lam) * q
    return (c, float(values[j])) if return_var else c


def critic_basis(W, p=None, kind: str = "posterior", gamma: float = 0.99) -> np.ndarray:
    """The basis B [K, K] in which the critic predicts successor features: y(s) = ψ(s)·B.

    ``kind="posterior"``: B = √K·G^{1/2}, G = Σ_m p_m w_m w_mᵀ (symmetric square root). The MSE
    over the K outputs is then (1/K)·‖(ψ − R)·B‖² = E_p[(w_m·(ψ − R))²], the posterior-mean of
    each draw's squared value error in reward units, and the outputs are reward-scale numbers,
    as a plain PPO critic's are (one draw w: y = 2(w·ψ)·w/‖w‖ for K = 4, and the loss is plain
    PPO's). Directions no draw weighs (the null space of G) are not learned: per-draw values
    and advantages are exact for every w in the span of the draws.

    ``kind="features"``: B = (1 − γ)·I, the discounted feature occupancy (1 − γ)·ψ, every feature
    weighted alike whatever the posterior makes it worth. Measured (one seed, true weights,
    egocentric GridCNN, grass-free procedural LavaLand, 60k steps): goal rate 0.08 against 1.00
    with ``"posterior"`` — the small-weight features dominate the loss and the output scale.
    """
    W = np.asarray(W, dtype=np.float64)
    K = W.shape[1]
    if kind == "features":
        return (1.0 - gamma if gamma < 1.0 else 1.0) * np.eye(K)
    if kind != "posterior":
        raise ValueError(
            f"critic_basis: expected 'posterior', 'features' or a matrix, got {kind!r}"
        )
    p = check_probs(p, W.shape[0], "probs")
    G = (W * p[:, None]).T @ W
    evals, evecs = np.linalg.eigh(G)
    evals = np.where(evals > 1e-12 * max(evals.max(), 1e-300), evals, 0.0)
    B = np.sqrt(K) * (evecs * np.sqrt(evals)) @ evecs.T
    if not np.any(B):
        raise ValueError("posterior_weights: every draw is zero; there is no reward to learn")
    return B
