"""Sweeps: one experiment over a grid of settings and seeds, run locally or on a Ray cluster.

A *cell* is one (setting, seed): the experiment's own ``main(argv)`` with the cell's flags and
``--seeds <s>``, run into its own run folder. A sweep lives in one tree::

    <out>/sweeps/<name>/
        sweep.json                       experiment, grid, seeds and flags (a resumed sweep must
                                         match them) and every cell's id, seed, settings and flags
        driver.lock                      while a driver runs: its host, pid and start time
        cells/<experiment>/<cell id>/    one run per cell (rewunc.runs: markers, verified files)
        episodes.csv                     every cell's episodes, with the settings as columns
        cells.csv                        every cell's results rows, with the settings and seed
        results.csv                      per (setting, study, shift, agent) over the seeds: mean
                                         and 95% Student-t interval (rewunc.evaluate.aggregate)
        figures/seed_spread.png          each seed's rates as dots, the mean with its interval

The run folders are the truth. A cell whose run is complete is skipped; every other cell runs
with ``--resume``, so a cell cut off half-way redoes only its unfinished stages. A cell writes
only inside its own folder, and the sweep's tables are written only by the driver after every
cell has finished (atomically, rewunc.io), so no two processes ever write one file. Each cell is
a pure function of its flags and seed: the local and Ray backends give bit-identical files.

One driver at a time: a driver (fresh or ``--resume``) creates ``driver.lock`` atomically before
any cell runs and removes it when it ends, also on an exception or Ctrl-C; a second driver on the
same sweep is refused, naming the holder. A lock left by a driver that was killed (same host and
pid namespace, its pid gone or reused) is taken over, with a warning; any other is removed by
hand.

Backends (both call :func:`run_cell`): ``local`` runs the cells in this process (``workers=1``)
or in a pool of spawned processes; ``ray`` runs each cell as a Ray task (``@ray.remote``, not
Tune) on the cluster at ``address``, or on a local cluster it starts and stops; a task reserves
one CPU per process its cell runs (a deep study's ``--jobs``). On a cluster of several
machines, ``out`` must be on a filesystem every node shares.

Every flag is checked before any folder is made: the grid and seeds here, and each cell's full
flags by the experiment's own parser (:func:`rewunc.config.parse_flags`).

Modules: :mod:`~rewunc.sweep.grid` (defining cells), :mod:`~rewunc.sweep.lock` (one driver),
:mod:`~rewunc.sweep.backends` (local pool, Ray), :mod:`~rewunc.sweep.driver` (running),
:mod:`~rewunc.sweep.results` (tables and figure across seeds).
"""

from rewunc.sweep.backends import BACKENDS, run_cell
from rewunc.sweep.driver import CellsFailed, check_options, run_sweep, sweep_path
from rewunc.sweep.grid import SWEEP_FILE, Cell, Sweep, SweepError, cell_id, define, parse_grid
from rewunc.sweep.lock import LOCK_FILE
from rewunc.sweep.results import collect, load, plot_sweep, summary

__all__ = [
    "BACKENDS",
    "LOCK_FILE",
    "SWEEP_FILE",
    "Cell",
    "CellsFailed",
    "Sweep",
    "SweepError",
    "cell_id",
    "check_options",
    "collect",
    "define",
    "load",
    "parse_grid",
    "plot_sweep",
    "run_cell",
    "run_sweep",
    "summary",
    "sweep_path",
]
