"""The ``rewunc`` command.

rewunc run <experiment> [options]   run experiments/<experiment>.py (``--help`` for options)
rewunc plot RUN_DIR                 redraw a run's figures from its files
rewunc envs                         every registered env with its shifts and features
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXPERIMENTS = {
    "lavaland": "rewunc.experiments.lavaland",
    "corner_goal": "rewunc.experiments.corner_goal",
    "color_goal": "rewunc.experiments.color_goal",
}


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


def _plot(run_dir: str) -> int:
    from rewunc.plots import plot_run
    from rewunc.runs import RunError

    try:
        written = plot_run(run_dir)
    except (RunError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="rewunc", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment", add_help=False)
    run.add_argument("experiment", choices=sorted(EXPERIMENTS))
    plot = sub.add_parser("plot", help="redraw a run's figures from disk")
    plot.add_argument("run_dir")
    sub.add_parser("envs", help="list the registered environments")
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return importlib.import_module(EXPERIMENTS[args.experiment]).main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "plot":
        return _plot(args.run_dir)
    return _envs()


if __name__ == "__main__":
    sys.exit(main())
