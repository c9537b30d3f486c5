"""The ``rewunc`` command.

rewunc run <experiment> [options]   run experiments/<experiment>.py (``--help`` for options)
rewunc sweep <experiment> --grid KEY=V1,V2 --seeds S ... [options]   an experiment over a grid
                                    of settings and seeds, locally or on Ray (rewunc.sweep)
rewunc plot RUN_DIR                 redraw a run's (or a sweep's) figures from its files
rewunc envs                         every registered env with its shifts and features
rewunc experiments                  every registered experiment
rewunc check-env ID [--env-kwargs JSON]   check an env against rewunc's protocol and gymnasium
"""

from __future__ import annotations

import argparse
import importlib
import sys


def _envs() -> int:
    import gymnasium as gym

    from rewunc.envs import rewunc_env_ids

    rows = []
    for env_id in rewunc_env_ids():
        env = gym.make(env_id).unwrapped
        weights = ", ".join(
            f"{n} {w:g}" for n, w in zip(env.feature_names, env.true_weights, strict=True)
        )
        rows.append((env_id, ", ".join(env.SHIFTS), weights))
        env.close()
    width = [max(len(r[i]) for r in rows + [("id", "shifts", "")]) for i in range(2)]
    print(f"{'id':{width[0]}s}  {'shifts':{width[1]}s}  features (true weights)")
    for env_id, shifts, weights in rows:
        print(f"{env_id:{width[0]}s}  {shifts:{width[1]}s}  {weights}")
    return 0


def _experiments() -> int:
    from rewunc.experiments import REGISTRY

    width = max(len(name) for name in REGISTRY)
    for name, record in REGISTRY.items():
        print(f"{name:{width}s}  {record.about}")
    return 0


def _plot(run_dir: str, fmt: str = "png") -> int:
    from pathlib import Path

    from rewunc.plots import plot_run
    from rewunc.runs import RunError
    from rewunc.sweep import SWEEP_FILE, plot_sweep

    try:
        is_sweep = (Path(run_dir) / SWEEP_FILE).is_file()
        written = plot_sweep(run_dir, fmt) if is_sweep else plot_run(run_dir, fmt)
    except (RunError, OSError, ValueError) as err:  # ValueError: our file errors, pandas'
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _check_env(env_id: str, env_kwargs: str | None) -> int:
    """Run every check of :mod:`rewunc.checks` on a registered id: 0 all pass, 1 one fails,
    2 the id (or --env-kwargs) is not usable."""
    import json

    import gymnasium as gym

    from rewunc.checks import env_factory, run_checks

    try:
        kwargs = json.loads(env_kwargs) if env_kwargs else {}
    except json.JSONDecodeError as err:
        print(f"error: --env-kwargs is not valid JSON: {err}", file=sys.stderr)
        return 2
    if not isinstance(kwargs, dict):
        print(f"error: --env-kwargs must be a JSON object, got {env_kwargs}", file=sys.stderr)
        return 2
    # gymnasium's "module:Env-v0" form: importing the module registers the env.
    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        gym.spec(name)
    except Exception as err:
        print(f"error: unknown environment id {env_id!r}: {err}", file=sys.stderr)
        return 2
    results = run_checks(env_factory(env_id, **kwargs))
    for result in results:
        print(result)
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"{env_id}: {len(failed)} of {len(results)} checks FAILED")
        return 1
    print(f"{env_id}: all {len(results)} checks passed")
    return 0


def _sweep(args, flags: list[str]) -> int:
    """``rewunc sweep``: 0 done, 1 some cells failed (the others are kept), 2 bad flags or a
    sweep that cannot be started or resumed (nothing made)."""
    from rewunc.runs import RunError
    from rewunc.sweep import CellsFailed, SweepError, check_options, define, run_sweep, summary

    name = args.name or args.experiment + "_fast" * ("--fast" in flags)
    try:
        check_options(args.backend, args.workers, args.address, args.resume, args.force, name)
        sweep = define(args.experiment, args.grid, args.seeds, flags)
        path = run_sweep(
            sweep,
            args.out,
            name,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            resume=args.resume,
            force=args.force,
            quiet=args.quiet,
        )
    except (SweepError, RunError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except CellsFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary(path))
    print(f"\nwrote {path}/results.csv (over seeds), cells.csv, episodes.csv and figures/")
    return 0


def _sweep_parser(sub) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run an experiment over a grid of settings and seeds (locally or on Ray)",
        description="Run an experiment over every combination of --grid and every seed, one run "
        "folder per cell, into <out>/sweeps/<name>/; then results.csv over the seeds and a "
        "figure. Other flags go to every cell (e.g. --fast; see rewunc run EXPERIMENT --help).",
        allow_abbrev=False,
    )
    sweep.add_argument("experiment", help="a registered experiment (rewunc experiments lists them)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a flag of the experiment and its values (repeat for more keys; commas inside "
        "brackets do not split, e.g. agents=CVaR(alpha=0.9),BayesMean)",
    )
    sweep.add_argument("--seeds", nargs="+", type=int, required=True, help="seeds of every setting")
    sweep.add_argument("--name", help="sweep name (default: the experiment's, + _fast with --fast)")
    sweep.add_argument("--out", default="runs", help="root folder (default: runs)")
    sweep.add_argument("--backend", default="local", help="local (default) or ray")
    sweep.add_argument(
        "--workers",
        type=int,
        help="cells at once (local: default 1, >1 spawns processes; ray: default all the "
        "cluster's CPUs)",
    )
    sweep.add_argument("--address", help="a Ray cluster to join (--backend ray; default: new)")
    sweep.add_argument("--resume", action="store_true", help="continue: skip complete cells")
    sweep.add_argument("--force", action="store_true", help="replace an existing sweep")
    sweep.add_argument("--quiet", action="store_true", help="no progress output")


def main(argv=None) -> int:
    from rewunc.io import FIGURE_FORMATS
    from rewunc.runtime import file_backend

    file_backend()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="rewunc", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment", add_help=False, allow_abbrev=False)
    run.add_argument("experiment")
    _sweep_parser(sub)
    plot = sub.add_parser("plot", help="redraw a run's figures from disk", allow_abbrev=False)
    plot.add_argument("run_dir", help="a run folder, or a sweep's (runs/sweeps/NAME)")
    plot.add_argument("--format", default="png", choices=FIGURE_FORMATS,
                      help="figure format (default: png)")  # fmt: skip
    sub.add_parser("envs", help="list the registered environments")
    sub.add_parser("experiments", help="list the registered experiments")
    check = sub.add_parser(
        "check-env", help="check an environment (protocol, gymnasium, ...)", allow_abbrev=False
    )
    check.add_argument("env_id", help="a registered id, e.g. rewunc/LavaLand-v0 or pkg:Env-v0")
    check.add_argument("--env-kwargs", help="constructor keywords as JSON, e.g. '{\"size\": 6}'")
    args, rest = parser.parse_known_args(argv)
    if args.command in ("run", "sweep"):
        from rewunc.experiments import REGISTRY  # imports the experiments: only when needed

        if args.experiment not in REGISTRY:
            parser.error(
                f"argument experiment: invalid choice: {args.experiment!r} (choose from "
                f"{', '.join(sorted(REGISTRY))})"
            )
        if args.command == "run":
            return REGISTRY[args.experiment].main(rest)
        return _sweep(args, rest)
    if args.command == "experiments":
        return _experiments()
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "plot":
        return _plot(args.run_dir, args.format)
    if args.command == "check-env":
        return _check_env(args.env_id, args.env_kwargs)
    return _envs()


if __name__ == "__main__":
    sys.exit(main())
