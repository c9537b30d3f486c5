"""The stages of a study that needs no MDP (the MuJoCo-lite envs, or any env with features):

    demonstrations (a scripted expert) ──► reference rollouts ──► trajectory choices ─┐
    rollouts at several noise levels ──► segment pairs ──► B-Pref teacher ──► preferences ─┤
                                                              posterior (NUTS) ◄───────┘
        ──► deep agents (trained where ``deep_train_shift`` says) ──► evaluation on every shift

and :func:`feature_study`, the whole study from data to figures (PointLava and PointColor run
it, each with its env and expert). Stages go through :meth:`~rewunc.runs.Run.produce`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rewunc.data import Demonstrations, Preferences, TrajectoryChoices
from rewunc.evaluate import EvalLayouts
from rewunc.experts import PreferenceTeacher, label_segment_preferences
from rewunc.rollout import collect
from rewunc.runs import Run, slug
from rewunc.study import common, deep, report
from rewunc.study.config import make_env


def collect_choices(
    run: Run,
    env_id: str,
    env_kwargs: dict,
    demos: Demonstrations,
    n_alternatives: int,
    noise_scales,
    seed: int,
    *,
    study: str,
    normaliser: str = "sampled",
    horizon: str = "demonstration",
) -> TrajectoryChoices:
    """Each demonstration beside ``n_alternatives`` alternatives from its start: reference
    rollouts (``normaliser="sampled"``, :func:`rewunc.birl.choice.reference_rollouts`), draws
    from the defensive mixture of the reference and replays of it (``"mixture"``,
    :func:`~rewunc.birl.choice.mixture_rollouts`, noise ``noise_scales[0]``), or noisy replays
    of it (``"choice_set"``, :func:`~rewunc.birl.choice.perturbed_replays`, with
    ``noise_scales`` and ``horizon``)."""
    from rewunc.birl.choice import mixture_rollouts, perturbed_replays, reference_rollouts

    def write(path):
        kind = {"sampled": "reference rollouts", "mixture": "mixture rollouts"}.get(
            normaliser, "perturbed replays"
        )
        run.say(f"[{study} seed {seed}] {n_alternatives} {kind} per demonstration")
        env = make_env(env_id, None, env_kwargs)
        try:
            if normaliser == "sampled":
                data = reference_rollouts(env, demos, n_alternatives, seed)
            elif normaliser == "mixture":
                scale = tuple(noise_scales)[0]
                data = mixture_rollouts(env, demos, n_alternatives, seed, noise_scale=scale)
            else:
                data = perturbed_replays(
                    env, demos, n_alternatives, noise_scales, seed, horizon=horizon
                )
        finally:
            env.close()
        data.save(path, force=True)

    key = f"{study}/seed{seed}/choices"
    relative = f"choices_{slug(f'{study}/seed{seed}')}.npz"
    inputs = run.files_of(f"{study}/seed{seed}/demonstrations")
    info = dict(kind="choices", study=study, seed=seed)
    (path,) = run.produce(key, [relative], write, inputs=inputs, **info)
    return TrajectoryChoices.load(path)


def collect_preferences(
    run: Run,
    env_id: str,
    env_kwargs: dict,
    make_expert,
    noise_levels,
    n_rollouts: int,
    teacher: PreferenceTeacher,
    n_pairs: int,
    segment_length: int,
    seed: int,
    *,
    study: str,
) -> Preferences:
    """``n_pairs`` segment pairs from ``n_rollouts`` rollouts of ``make_expert(noise, seed)``
    per noise level, labelled by ``teacher`` on the env's (true) rewards."""

    def write(path):
        run.say(f"[{study} seed {seed}] {n_pairs} preferences from {teacher}")
        trajectories = []
        for i, noise in enumerate(noise_levels):
            policy = make_expert(noise, [seed, i])
            demos = collect(env_id, policy, n_rollouts, seed + 10_000 * (i + 1), **env_kwargs)
            trajectories += demos.trajectories
        data = label_segment_preferences(
            trajectories, teacher, n_pairs, segment_length, seed, demos.feature_names, env_id
        )
        data.save(path, force=True)

    key = f"{study}/seed{seed}/preferences"
    relative = f"preferences_{slug(f'{study}/seed{seed}')}.npz"
    info = dict(kind="preferences", study=study, seed=seed)
    (path,) = run.produce(key, [relative], write, **info)
    return Preferences.load(path)


def feature_study(experiment: str, cfg, flags, *, expert, summary: Sequence[str]) -> int:
    """The MDP-free study from data to figures: preferences and/or choices by ``expert(noise,
    seed)`` → posterior → deep agents (trained on ``cfg.deep_train_shift``) → evaluation on every
    shift → tables and figures."""
    env, env_kwargs = cfg.env, cfg.env_options()
    run = common.start(experiment, cfg, flags)
    posteriors, rows, tasks = {}, [], []
    study = experiment
    # fmt: off
    for seed in cfg.seeds:
        prefs = choices = None
        if cfg.data in ("both", "preferences"):
            prefs = collect_preferences(run, env, env_kwargs, expert, cfg.rollout_noise,
                                        cfg.n_rollouts, cfg.teacher(), cfg.n_pairs,
                                        cfg.segment_length, seed, study=study)
        if cfg.data in ("both", "choices"):
            demos = common.collect_demonstrations(run, env, env_kwargs,
                                                  expert(cfg.demo_noise, seed), cfg.n_demos,
                                                  seed, study=study)
            choices = collect_choices(run, env, env_kwargs, demos, cfg.n_alternatives,
                                      cfg.replay_noise, seed, study=study,
                                      normaliser=cfg.choice_normaliser,
                                      horizon=cfg.replay_horizon)
        posteriors[seed] = common.fit_posterior(run, prefs, cfg.birl_options(), seed,
                                                study=study, env_id=env, env_kwargs=env_kwargs,
                                                choices=choices, feature_names=cfg.feature_names)
        rows.append(report.posterior_row(study, seed, posteriors[seed]))
        tasks += [deep.DeepTask(study, seed, spec, env, cfg.deep_env_kwargs(), posteriors[seed])
                  for spec in cfg.deep_agents]
    models = deep.train_deep_agents(run, tasks, settings=cfg.settings(),
                                    agent_samples=cfg.agent_samples, jobs=cfg.jobs)
    cells = []
    for seed in cfg.seeds:
        for shift in cfg.shifts:
            layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma, **env_kwargs)
            cells += [deep.deep_evaluation_cell(run, models[task.key], task.spec, layouts, seed,
                                                study=study, posterior=posteriors[seed])
                      for task in tasks if task.seed == seed]
    # fmt: on
    return report.conclude(run, cells, posteriors=rows, summary=summary)
