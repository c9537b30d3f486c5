"""Progress reporting: a tqdm bar on a terminal, a few plain lines on logs and captured stderr."""

import contextlib
import io
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from rewunc import planning
from rewunc import progress as progress_module
from rewunc.birl import BIRL, DemoData
from rewunc.mdp import TabularMDP
from rewunc.progress import progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def run(total=1000, stream=None, **options):
    stream = io.StringIO() if stream is None else stream
    with progress(total, "warmup", stream=stream, **options) as bar:
        for i in range(total):
            if i == total // 2:
                bar.set_description("sample")
            bar.update(1)
    return bar, stream.getvalue()


def test_a_non_terminal_gets_a_handful_of_plain_lines_and_the_final_count():
    bar, text = run()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= 3  # fast: the 10 s spacing leaves only the final line
    assert bar.n == 1000
    assert lines[-1].startswith("sample 1000/1000 (100%)")


def test_plain_lines_come_at_most_every_tenth_of_the_total():
    _, text = run(min_interval=0.0)
    lines = text.splitlines()
    assert "\r" not in text
    assert len(lines) == 10  # at 100, 200, ..., 900 and the final one
    assert lines[0].startswith("warmup 100/1000 (10%)")
    assert lines[-1].startswith("sample 1000/1000 (100%)")


def test_plain_lines_are_at_least_min_interval_apart(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_module, "_clock", lambda: now[0])
    stream = io.StringIO()
    with progress(1000, "warmup", stream=stream, min_interval=10.0) as bar:
        for i in range(1000):
            now[0] = (i + 1) / 20  # 50 s in all: room for 5 lines, though 10% steps allow 10
            bar.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5  # at 10, 20, 30, 40 s and the final one
    assert lines[0] == "warmup 200/1000 (20%) 10.0 s"
    assert lines[-1] == "warmup 1000/1000 (100%) 50.0 s"


def test_disabled_writes_nothing():
    bar, text = run(enabled=False)
    assert text == ""
    _, text = run(enabled=False, stream=FakeTerminal())
    assert text == ""


def test_a_terminal_gets_the_tqdm_bar():
    _, text = run(stream=FakeTerminal())
    assert "\r" in text  # tqdm redraws in place
    assert "warmup" in text and "/1000" in text and "|" in text


def test_close_is_idempotent_and_default_stream_is_the_current_stderr():
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        bar = progress(3, "x")
        bar.update(3)
        bar.close()
        bar.close()
        bar.update(1)  # ignored after close
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("x 3/3 (100%)")


@pytest.mark.parametrize("chain_method", ["sequential", "vectorized"])
def test_a_birl_fit_with_captured_stderr_writes_a_few_lines(chain_method):
    # tests/test_birl.py's chain MDP and counts
    S = 5
    ns = np.zeros((S, 2, 1), dtype=int)
    for s in range(S):
        ns[s, 0, 0], ns[s, 1, 0] = max(s - 1, 0), min(s + 1, S - 1)
    phi = np.array([[1, 0], [0, 0], [0, 1], [0, 0], [1, 1]], dtype=float)
    init = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    mdp = TabularMDP(ns, np.ones((S, 2, 1)), phi, ("a", "b"), init, np.arange(S) == 4, 0.9)
    counts = np.array([[1, 3], [0, 2], [1, 2], [0, 3], [0, 0]], dtype=float)
    data = DemoData(planning.stack_mdps([mdp]), jnp.asarray(counts[None], jnp.float32))
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BIRL(
            num_warmup=20,
            num_samples=20,
            num_chains=2,
            chain_method=chain_method,
            progress_bar=True,
        ).fit(data, feature_names=("a", "b"), warn=False)
    text = buffer.getvalue()
    assert "\r" not in text
    assert 1 <= len(text.splitlines()) < 20
    assert "sample 40/40 (100%)" in text
