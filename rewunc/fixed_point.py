"""Fixed points of γ-contractions x ← step(x) on rows x [M, S], in JAX: plain sweeps
(:func:`iterate`) and Anderson acceleration (:func:`anderson`), with one stopping rule (see
:mod:`rewunc.planning`): the change ρ between sweeps satisfies γ/(1−γ)·ρ ≤ tol·max(1, ‖x‖∞), or
has reached rounding level and stopped shrinking. A solve that does not converge within
``max_iters`` sweeps returns NaN, never a silently wrong number."""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Sweeps between convergence checks: amortises the while-loop's per-iteration cost.
_SWEEPS_PER_CHECK = 4
SOLVERS = ("sweeps", "anderson")
# Anderson acceleration: one extrapolation every _ANDERSON_SWEEPS sweeps from the last
# _ANDERSON_MEMORY differences (the fastest of memory 3, 5, 8 × 1, 2, 4 sweeps on 64×64 LavaLand).
_ANDERSON_MEMORY = 3
_ANDERSON_SWEEPS = 2
_ANDERSON_PATIENCE = 9  # iterations without a new low (three restarts) before a stall is accepted


def _residual_threshold(tol, gamma, dtype):
    """Largest sweep-to-sweep change (relative to max(1, ‖V‖)) that meets ``tol`` (see module)."""
    floor = 4 * jnp.finfo(dtype).eps
    return jnp.maximum(tol * (1 - gamma) / gamma, floor)


def relative_change(v_new, v):
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(v_new), axis=-1))
    return jnp.max(jnp.max(jnp.abs(v_new - v), axis=-1) / scale)


def iterate(step, x0, tol, gamma, max_iters):
    """Iterate the γ-contraction x ← step(x) to tolerance ``tol`` (module docstring).

    Also converged: a change that is already at rounding level (≤ 1024 ulp of the scale) and
    has stopped shrinking. A contraction shrinks its change by ~γ^4 between checks until
    rounding noise takes over; rounding scales with the *summands* (which can be far larger
    than x when signs cancel, as in the adjoint solve), so a fixed ulp floor alone can stall.

    Returns (x, sweeps, residual); non-converged results are NaN so they cannot be used silently.
    """
    threshold = _residual_threshold(tol, gamma, x0.dtype)
    stall_level = 1024 * jnp.finfo(x0.dtype).eps

    def converged(res, prev):
        return (res <= threshold) | ((res <= stall_level) & (res >= prev))

    def cond(state):
        it, _, res, prev = state
        return ~converged(res, prev) & (it < max_iters)

    def body(state):
        it, x, res, _ = state
        for _ in range(_SWEEPS_PER_CHECK - 1):
            x = step(x)
        x_new = step(x)
        return it + _SWEEPS_PER_CHECK, x_new, relative_change(x_new, x), res

    inf = jnp.asarray(jnp.inf, x0.dtype)
    it, x, res, prev = jax.lax.while_loop(cond, body, (jnp.asarray(0), x0, inf, inf))
    x = jnp.where(converged(res, prev), x, jnp.nan)
    return x, it, res


def anderson(step, x0, tol, gamma, max_iters, memory=_ANDERSON_MEMORY, sweeps=_ANDERSON_SWEEPS):
    """Solve x = step(x), a γ-contraction on rows x [M, S], by Anderson acceleration (type II).

    With G = step applied ``sweeps`` times and residual f = G(x) − x, each iteration moves to
    x ← G(x) − Σ_i c_i·(Δx_i + Δf_i), where Δx, Δf are the last ``memory`` differences of
    iterates and residuals and c fits f by the Δf in least squares (Tikhonov-regularised; one fit
    per row). It stops by :func:`iterate`'s rule applied to G's last plain sweep: the change ρ of
    that sweep bounds the error of G(x) by γ/(1−γ)·ρ whatever x was, so a tolerance means what
    it means for plain sweeps. When the change has set no new low for three iterations the
    history is dropped (a restart: the next step is a plain one). Near rounding level the
    extrapolation can wander rather than shrink, so a change at rounding level (≤ 1024 ulp)
    that has set no new low for ``_ANDERSON_PATIENCE`` iterations, restarts included, also
    counts as converged.

    Returns (G(x), sweeps, residual); non-converged results are NaN.
    """
    threshold = _residual_threshold(tol, gamma, x0.dtype)
    stall_level = 1024 * jnp.finfo(x0.dtype).eps
    eye = jnp.eye(memory, dtype=x0.dtype)

    def plain(x):
        for _ in range(sweeps - 1):
            x = step(x)
        g = step(x)
        return g, relative_change(g, x)

    def converged(res, since_low):
        return (res <= threshold) | ((res <= stall_level) & (since_low >= _ANDERSON_PATIENCE))

    def extrapolate(g, f, dx, df, gram, n):
        filled = (jnp.arange(memory) < jnp.minimum(n, memory)).astype(g.dtype)
        gram = gram * filled[:, None] * filled[None, :]
        scale = jnp.trace(gram, axis1=1, axis2=2) / jnp.maximum(jnp.minimum(n, memory), 1)
        # slots not (or no longer) in the history get a unit diagonal and c = 0
        ridge = jnp.where(filled > 0, 1e-6 * scale[:, None] + jnp.finfo(g.dtype).tiny, 1.0)
        rhs = jnp.einsum("ims,ms->mi", df, f) * filled
        c = _spd_solve(gram + ridge[:, :, None] * eye, rhs)
        x = g - jnp.einsum("mi,ims->ms", c, dx + df)
        return jnp.where(jnp.all(jnp.isfinite(x), axis=-1, keepdims=True), x, g)

    def cond(state):
        it, _, _, _, res, since_low = state[:6]
        return ~converged(res, since_low) & (it < max_iters)

    def body(state):
        it, x, g, f, _, since_low, low, dx, df, gram, n = state
        x_new = extrapolate(g, f, dx, df, gram, n)
        g, res = plain(x_new)
        f_new = g - x_new
        slot = n % memory
        dx = dx.at[slot].set(x_new - x)
        df = df.at[slot].set(f_new - f)
        column = jnp.einsum("ims,ms->mi", df, df[slot])  # the Gram matrix's new row and column
        gram = gram.at[:, slot, :].set(column).at[:, :, slot].set(column)
        since_low = jnp.where(res < low, 0, since_low + 1)
        low = jnp.minimum(res, low)
        restart = (since_low > 0) & (since_low % 3 == 0)  # three iterations without a new low
        n = jnp.where(restart, 0, n + 1)  # a restart forgets the history
        return it + sweeps, x_new, g, f_new, res, since_low, low, dx, df, gram, n

    g, res = plain(x0)
    M, S = x0.shape
    history = jnp.zeros((memory, M, S), x0.dtype)
    state = (
        jnp.asarray(sweeps),
        x0,
        g,
        g - x0,
        res,
        jnp.asarray(0),
        res,
        history,
        history,
        jnp.zeros((M, memory, memory), x0.dtype),
        jnp.asarray(0),
    )
    it, _, g, _, res, since_low = jax.lax.while_loop(cond, body, state)[:6]
    g = jnp.where(converged(res, since_low), g, jnp.nan)
    return g, it, res


def _spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """x with a·x = b for small symmetric positive definite a [M, m, m], b [M, m]: a Cholesky
    factorisation unrolled at trace time (a LAPACK call per tiny system costs more than the
    sweeps it saves)."""
    m = a.shape[-1]
    L = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(i + 1):
            t = a[:, i, j] - sum(L[i][k] * L[j][k] for k in range(j))
            L[i][j] = jnp.sqrt(jnp.maximum(t, jnp.finfo(a.dtype).tiny)) if i == j else t / L[j][j]
    y = []
    for i in range(m):
        y.append((b[:, i] - sum(L[i][k] * y[k] for k in range(i))) / L[i][i])
    x = [None] * m
    for i in reversed(range(m)):
        x[i] = (y[i] - sum(L[k][i] * x[k] for k in range(i + 1, m))) / L[i][i]
    return jnp.stack(x, axis=-1)


def solver_named(solver: str):
    """The fixed-point solver of that name (see SOLVERS): (step, x0, tol, γ, max_iters) → ..."""
    if solver == "sweeps":
        return iterate
    if solver == "anderson":
        return anderson
    raise ValueError(f"solver: expected one of {SOLVERS}, got {solver!r}")
