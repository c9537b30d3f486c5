"""What every study does first: open its run folder, collect demonstrations, fit the posterior.

Each stage is keyed ``<study>/seed<s>/...`` in a :class:`~rewunc.runs.Run` and goes through
:meth:`~rewunc.runs.Run.produce`: read back if finished (its files intact and the inputs it was
computed from unchanged), else computed, written atomically and only then marked finished, with
a per-stage lock so that one process writes a stage's files. A stage's files are a pure function
of (config, seed): wall times go in its marker, never in its files, so a stage redone after a kill
writes the same bytes and nothing computed from it goes stale.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Sequence

from rewunc.agents.tabular import BROIL, CVaR, Maximin
from rewunc.data import Demonstrations, Preferences, TrajectoryChoices
from rewunc.posterior import RewardPosterior
from rewunc.rollout import collect
from rewunc.runs import Run, RunError, slug
from rewunc.runtime import host_devices, remember_interrupts
from rewunc.study.config import EXECUTION_ONLY

# diagnostics that measure the machine, not the posterior: kept in the stage's marker
TIMINGS = ("wall_seconds", "compile_seconds", "run_seconds")


def start(experiment: str, config, flags) -> Run:
    """The run folder ``<out>/<experiment>/<name>`` for a validated config (RUN_FLAGS); sets up
    the process (JAX's host devices, one per NUTS chain, for a config with ``num_chains``) once."""
    name = flags.name or ("fast" if flags.fast else "default")
    recorded = {k: v for k, v in dataclasses.asdict(config).items() if k not in EXECUTION_ONLY}
    try:
        run = Run.start(
            flags.out,
            experiment,
            name,
            recorded,
            force=flags.force,
            resume=flags.resume,
            quiet=flags.quiet,
        )
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    run.figure_format = getattr(flags, "figure_format", "png")
    if hasattr(config, "num_chains"):  # a study with NUTS: one JAX device per chain
        host_devices(config.num_chains)
    remember_interrupts()
    return run


def collect_demonstrations(
    run: Run,
    env_id: str,
    env_kwargs: dict,
    expert,
    n_episodes: int,
    seed: int,
    *,
    study: str,
    gamma: float = 0.95,
) -> Demonstrations:
    """``n_episodes`` demonstrations by ``expert`` on the training distribution."""
    key = f"{study}/seed{seed}/demonstrations"

    def write(path):
        run.say(f"[{study} seed {seed}] {n_episodes} demonstrations by {expert}")
        collect(env_id, expert, n_episodes, seed, gamma=gamma, **env_kwargs).save(path, force=True)

    relative = f"demos_{slug(f'{study}/seed{seed}')}.npz"
    (path,) = run.produce(key, [relative], write, kind="demonstrations", study=study, seed=seed)
    return Demonstrations.load(path)


def fit_posterior(
    run: Run,
    data: Demonstrations | Preferences | None,
    birl_options: dict,
    seed: int,
    *,
    study: str,
    env_id: str,
    env_kwargs: dict,
    choices: TrajectoryChoices | None = None,
    feature_names: Sequence[str] | None = None,
) -> RewardPosterior:
    """The BIRL posterior (NUTS) given demonstrations or preferences, and/or trajectory choices
    (the MDP-free demonstration likelihood); ``feature_names`` when no demonstrations are given.
    Its inputs are the seed's demonstrations, preferences and choices stages, where they exist.
    The sampler's wall times are recorded in the stage's marker (``timings``), not its files."""
    import jax

    from rewunc.birl import BIRL, MCMCDiagnosticsWarning

    key = f"{study}/seed{seed}/posterior"
    stem = f"posterior_{slug(f'{study}/seed{seed}')}"
    inputs = [
        f
        for stage in ("demonstrations", "preferences", "choices")
        for f in run.files_of(f"{study}/seed{seed}/{stage}")
    ]

    def write(npz, meta, nc):
        run.say(f"[{study} seed {seed}] BIRL posterior (NUTS)")
        birl = BIRL(progress_bar=not run.quiet, **birl_options)
        demos = data if isinstance(data, Demonstrations) else None
        prefs = data if isinstance(data, Preferences) else None
        names = feature_names or (data or choices).feature_names
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MCMCDiagnosticsWarning)
            post = birl.fit(demos, prefs, choices, seed=seed, feature_names=tuple(names))
        # Each BIRL compiles its own sampler, and JAX's caches keep that code mapped for the
        # life of the process (~2,500 memory maps per fit on the CPU): a study fitting a few
        # dozen posteriors in one process meets the kernel's 65,530-map limit, and XLA fails
        # with "LLVM compilation error: Cannot allocate memory". Nothing else reuses it.
        del birl
        jax.clear_caches()
        for w in caught:  # shown once, with the run's context, not from deep inside
            print(f"warning: [{study} seed {seed}] {w.message}", file=sys.stderr)
        timings = {k: post.diagnostics[k] for k in TIMINGS if k in post.diagnostics}
        kept = {k: v for k, v in post.diagnostics.items() if k not in TIMINGS}
        dataclasses.replace(post, diagnostics=kept).save(run.file(stem), force=True)
        return {"divergences": post.diagnostics.get("divergences"), "timings": timings}

    info = dict(kind="posterior", study=study, seed=seed, env=env_id, env_kwargs=env_kwargs)
    run.produce(key, [f"{stem}.npz", f"{stem}.json", f"{stem}.nc"], write, inputs=inputs, **info)
    return RewardPosterior.load(run.file(stem))


def planning_draws(agent, posterior: RewardPosterior, agent_samples: int) -> RewardPosterior:
    """The draws a planner sees: ``agent_samples`` thinned draws for the LP agents (Maximin,
    CVaR, BROIL), every draw otherwise."""
    uses_lp = isinstance(agent, Maximin | CVaR | BROIL)
    return posterior.thin(agent_samples) if uses_lp else posterior
