"""A compile-once driver for NumPyro MCMC kernels (NUTS by default), used by :class:`BIRL`.

Why not ``numpyro.infer.MCMC``: its ``run`` recompiles the sampling loop on every call, even
with ``jit_model_args=True`` (numpyro 0.22, measured: ~2–4 s per fit on a 2-core CPU). Three
causes, all in numpyro's own code: ``fori_collect`` passes its loop body to
``jit(_fori_collect_loop, static_argnums=(0, 1))`` wrapped in a *fresh* ``jax.jit`` object on
every run, and jit wrappers hash by identity, so the static argument never hits the cache;
``chain_method="parallel"`` ``pmap``\\ s a fresh ``functools.partial`` on every run (also a cache
miss); and ``kernel.init`` evaluates the model eagerly, where every ``lax.while_loop`` of the
soft value iteration is compiled anew because it closes over new lambdas.

Here the kernel's ``init`` and ``sample`` steps run inside programs this object builds once
(jitted, vmapped over chains, or pmapped over host devices), with the data as traced arguments:
a second :meth:`CompiledSampler.run` with data of the same shapes compiles nothing. The loop runs
in chunks so a progress bar can be shown between them and, during warm-up, ``refresh`` may
update parts of the data between chunks (BIRL's warm starts of the soft value iteration) without
recompiling. The transition kernel is NumPyro's, unchanged: the same NUTS, the same adaptation
(NumPyro's kernel adapts while its state's iteration counter is below ``num_warmup``).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rewunc.progress import progress

CHAIN_METHODS = ("sequential", "vectorized", "parallel")


def _take(tree, index):
    """tree's slice ``x[index]`` of every leaf (``None``: a new leading axis of 1)."""
    return jax.tree.map(lambda x: x[index], tree)


@contextlib.contextmanager
def compile_clock():
    """Seconds JAX spends tracing, lowering and compiling inside the block: ``with compile_clock()
    as clock: ...; clock()`` (from JAX's own monitoring events)."""
    total = [0.0]

    def listener(event, duration, **kwargs):
        if event.startswith("/jax/core/compile/"):
            total[0] += duration

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield lambda: total[0]
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# the per-transition fields of NumPyro's HMCState kept for every draw
STATS = ("diverging", "num_steps", "potential_energy", "energy", "accept_prob")


@dataclass(frozen=True)
class SamplerResult:
    """Draws after warm-up, by chain.

    Attributes:
        sites: the model's sites in constrained space (deterministic ones included) [C, N, ...].
        diverging, num_steps, potential_energy, energy, accept_prob: per transition [C, N]
            (``energy`` the Hamiltonian, ``accept_prob`` the mean acceptance probability of the
            trajectory's states: ArviZ's ``energy`` and ``acceptance_rate``).
        step_size: the adapted step size per chain [C].
        compile_seconds: time spent tracing and compiling during this run (0 on a reused
            sampler with data of the same shapes).
        run_seconds: wall time of the run less compile_seconds.
    """

    sites: dict
    diverging: np.ndarray
    num_steps: np.ndarray
    potential_energy: np.ndarray
    energy: np.ndarray
    accept_prob: np.ndarray
    step_size: np.ndarray
    compile_seconds: float
    run_seconds: float


class CompiledSampler:
    """Run a NumPyro kernel's chains with programs compiled once per data shape.

    Args:
        kernel: a NumPyro MCMC kernel built from a model (``NUTS(model)``, ``HMC(model)``).
        num_warmup, num_samples, num_chains: as in ``numpyro.infer.MCMC``.
        chain_method: "sequential" (one program, chains one after another), "vectorized"
            (``vmap`` over chains) or "parallel" (``pmap`` over host devices; with fewer
            than ``num_chains`` devices it warns and runs sequentially, as numpyro does).
        progress_bar: show progress over chunks of iterations on stderr (a tqdm bar on a
            terminal, a few plain lines otherwise: :func:`rewunc.progress.progress`).
        chunks: the loop runs in this many chunks per phase (progress and refresh points).
        refresh: ``refresh(sites, args) -> args``, called before each warm-up chunk after the
            first and once before sampling, with the chains' current constrained sites
            ({name: [C, ...]}); it may change *values* in ``args`` (shapes fixed).
        args_axes: the chain axis of each part of ``args`` (a pytree prefix as in ``vmap``'s
            ``in_axes``): None where all chains share it (default), 0 where ``args`` holds one
            slice per chain (what ``refresh`` returns must agree).
    """

    def __init__(
        self,
        kernel,
        *,
        num_warmup: int,
        num_samples: int,
        num_chains: int,
        chain_method: str = "sequential",
        progress_bar: bool = True,
        chunks: int = 10,
        refresh: Callable | None = None,
        args_axes=None,
    ):
        if chain_method not in CHAIN_METHODS:
            raise ValueError(f"chain_method: expected one of {CHAIN_METHODS}, got {chain_method!r}")
        if chain_method == "parallel" and jax.local_device_count() < num_chains:
            warnings.warn(  # as numpyro's MCMC does
                f"chain_method='parallel' needs {num_chains} devices, JAX has "
                f"{jax.local_device_count()}: chains run sequentially (set XLA_FLAGS="
                f"--xla_force_host_platform_device_count={num_chains} before JAX starts)",
                stacklevel=3,
            )
            chain_method = "sequential"
        for name, value, low in (
            ("num_warmup", num_warmup, 0),
            ("num_samples", num_samples, 1),
            ("num_chains", num_chains, 1),
        ):
            if not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        self.kernel = kernel
        self.num_warmup, self.num_samples = int(num_warmup), int(num_samples)
        self.num_chains, self.chain_method = int(num_chains), chain_method
        self.progress_bar, self.chunks = progress_bar, max(1, int(chunks))
        self.refresh, self.args_axes = refresh, args_axes
        self._build()

    # ---- the programs (built once; JAX caches their compilations per argument shapes) ------

    def _build(self) -> None:
        kernel, warmup = self.kernel, self.num_warmup
        fields = STATS

        def init_one(key, args):
            return kernel.init(key, warmup, None, args, {})

        def advance_one(state, args, buffer, start, stop):
            """Iterations start..stop-1 of one chain; post-warm-up ones are written to buffer."""

            def body(i, carry):
                state, buffer = carry
                state = kernel.sample(state, args, {})
                row = {"z": state.z, **{f: getattr(state, f) for f in fields}}
                j = jnp.clip(i - warmup, 0, self.num_samples - 1)
                keep = i >= warmup
                buffer = jax.tree.map(lambda b, x: jnp.where(keep, b.at[j].set(x), b), buffer, row)
                return state, buffer

            return jax.lax.fori_loop(start, stop, body, (state, buffer))

        def sites_one(z, args):
            return kernel.postprocess_fn(args, {})(z)

        axes = self.args_axes
        if self.chain_method == "sequential":
            self._init = jax.jit(init_one)
            self._advance = jax.jit(advance_one, donate_argnums=(2,))
            self._sites = jax.jit(jax.vmap(sites_one, in_axes=(0, None)))
        elif self.chain_method == "vectorized":
            self._init = jax.jit(jax.vmap(init_one, in_axes=(0, axes)))
            self._advance = jax.jit(
                jax.vmap(advance_one, in_axes=(0, axes, 0, None, None)), donate_argnums=(2,)
            )
            self._sites = jax.jit(jax.vmap(jax.vmap(sites_one, in_axes=(0, None)), (0, axes)))
        else:
            self._init = jax.pmap(init_one, in_axes=(0, axes))
            self._advance = jax.pmap(
                advance_one, in_axes=(0, axes, 0, None, None), donate_argnums=(2,)
            )
            self._sites = jax.pmap(jax.vmap(sites_one, in_axes=(0, None)), in_axes=(0, axes))

    def _chain_args(self, args, c):
        """Chain c's slice of ``args`` (sequential runs one chain per call)."""
        if self.args_axes is None:
            return args
        return jax.tree.map(
            lambda ax, a: a if ax is None else _take(a, c),
            self.args_axes,
            args,
            is_leaf=lambda x: x is None,
        )

    def _current_sites(self, states, args):
        """Constrained sites of each chain's current state {name: [C, ...]}, as host arrays
        (device arrays sharded over the chains would make a jitted ``refresh`` a program
        partitioned over devices, whose loops synchronise every iteration)."""
        if self.chain_method == "sequential":
            per_chain = [
                _take(self._sites(_take(s.z, None), self._chain_args(args, c)), 0)
                for c, s in enumerate(states)
            ]
            sites = jax.tree.map(lambda *xs: jnp.stack(xs), *per_chain)
        else:
            z = jax.tree.map(lambda x: x[:, None], states.z)
            sites = jax.tree.map(lambda x: x[:, 0], self._sites(z, args))
        return jax.tree.map(np.asarray, sites)

    # ---- running ---------------------------------------------------------------------------

    def run(self, rng_key, args) -> SamplerResult:
        """Warm up and sample every chain; ``args`` are the model's positional arguments."""
        t0 = time.perf_counter()
        with compile_clock() as compiled:
            result = self._run(rng_key, tuple(args))
            jax.block_until_ready(result)
            compile_s = compiled()
        wall = time.perf_counter() - t0
        sites, extra, step_size = result
        return SamplerResult(
            sites={k: np.asarray(v) for k, v in sites.items()},
            diverging=np.asarray(extra["diverging"]),
            num_steps=np.asarray(extra["num_steps"]),
            potential_energy=np.asarray(extra["potential_energy"]),
            energy=np.asarray(extra["energy"]),
            accept_prob=np.asarray(extra["accept_prob"]),
            step_size=np.atleast_1d(np.asarray(step_size)),
            compile_seconds=compile_s,
            run_seconds=max(0.0, wall - compile_s),
        )

    def _schedule(self):
        """(start, stop, refresh_before) chunks over warm-up then sampling iterations."""
        W, N, n = self.num_warmup, self.num_samples, self.chunks
        edges_w = np.unique(np.linspace(0, W, n + 1).round().astype(int)) if W else np.array([0])
        edges_s = np.unique(np.linspace(W, W + N, n + 1).round().astype(int))
        out = []
        for a, b in zip(edges_w[:-1], edges_w[1:], strict=True):
            out.append((int(a), int(b), a > 0))
        for i, (a, b) in enumerate(zip(edges_s[:-1], edges_s[1:], strict=True)):
            out.append((int(a), int(b), i == 0 and W > 0))
        return out

    def _run(self, rng_key, args):
        C = self.num_chains
        # as numpyro's MCMC: one key per chain from a split, a single chain uses the key itself
        keys = jax.random.split(rng_key, C) if C > 1 else rng_key[None]
        total = self.num_warmup + self.num_samples
        # a tqdm bar on a terminal, a few plain lines on a log or captured stderr
        with progress(total, "warmup", enabled=self.progress_bar) as bar:
            if self.chain_method == "sequential":
                states = [self._init(keys[c], self._chain_args(args, c)) for c in range(C)]
            else:
                states = self._init(keys, args)
            buffers = None
            for start, stop, refresh in self._schedule():
                if refresh and self.refresh is not None:
                    args = self.refresh(self._current_sites(states, args), args)
                if buffers is None:
                    buffers = self._empty_buffers(states)
                if self.chain_method == "sequential":
                    out = [
                        self._advance(s, self._chain_args(args, c), b, start, stop)
                        for c, (s, b) in enumerate(zip(states, buffers, strict=True))
                    ]
                    states, buffers = [o[0] for o in out], [o[1] for o in out]
                else:
                    states, buffers = self._advance(states, args, buffers, start, stop)
                if self.progress_bar:
                    jax.block_until_ready(buffers)
                    bar.set_description("warmup" if stop <= self.num_warmup else "sample")
                    bar.update(stop - start)
        if self.chain_method == "sequential":
            buffers = jax.tree.map(lambda *xs: jnp.stack(xs), *buffers)
            per_chain = [
                self._sites(_take(buffers["z"], c), self._chain_args(args, c)) for c in range(C)
            ]
            sites = jax.tree.map(lambda *xs: jnp.stack(xs), *per_chain)
            step_size = jnp.stack([s.adapt_state.step_size for s in states])
        else:
            sites = self._sites(buffers["z"], args)
            step_size = states.adapt_state.step_size
        extra = {k: v for k, v in buffers.items() if k != "z"}
        return sites, extra, step_size

    def _empty_buffers(self, states):
        N = self.num_samples
        one = states[0] if self.chain_method == "sequential" else states
        lead = () if self.chain_method == "sequential" else (self.num_chains,)

        def zeros(x):
            shape = x.shape[len(lead) :]
            return jnp.zeros(lead + (N,) + shape, x.dtype)

        row = {"z": one.z, **{f: getattr(one, f) for f in STATS}}
        buffer = jax.tree.map(zeros, row)
        if self.chain_method == "sequential":
            return [jax.tree.map(jnp.copy, buffer) for _ in states]
        return buffer
