import numpy as np
import pytest

from rewunc.mdp import MDPValidationError, TabularMDP
from tests.conftest import random_mdp


def _fields(mdp):
    return dict(
        next_states=np.array(mdp.next_states),
        probs=np.array(mdp.probs),
        features=np.array(mdp.features),
        feature_names=mdp.feature_names,
        initial=np.array(mdp.initial),
        terminal=np.array(mdp.terminal),
        gamma=mdp.gamma,
    )


def test_valid_mdp_is_frozen_and_read_only():
    mdp = random_mdp(1)
    with pytest.raises(ValueError):
        mdp.probs[0, 0, 0] = 0.5
    with pytest.raises(AttributeError):
        mdp.gamma = 0.5


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("next_states", lambda f: f["next_states"] + 100, "next_states: expected indices in"),
        (
            "next_states",
            lambda f: f["next_states"].astype(float),
            "next_states: expected an integer",
        ),
        ("next_states", lambda f: f["next_states"][..., 0], "next_states: expected an int array"),
        ("probs", lambda f: f["probs"] * 2, "probs: expected each (s, a) row to sum to 1"),
        ("probs", lambda f: f["probs"][:, :, :1], "probs: expected shape"),
        ("probs", lambda f: np.where(f["probs"] > 0, np.nan, 0), "probs: expected finite"),
        ("features", lambda f: f["features"][:-1], "features: expected a float array of shape"),
        ("features", lambda f: f["features"] * np.nan, "features: expected finite"),
        ("feature_names", lambda f: ("a",), "feature_names: expected 3 strings"),
        ("feature_names", lambda f: ("a", "a", "b"), "feature_names: expected unique"),
        ("initial", lambda f: f["initial"] * 0.5, "initial: expected a probability distribution"),
        ("initial", lambda f: f["initial"][:-1], "initial: expected shape"),
        ("initial", lambda f: np.eye(5)[-1], "initial: expected no mass on terminal states"),
        ("terminal", lambda f: f["terminal"].astype(int), "terminal: expected a bool array"),
        ("gamma", lambda f: 1.0, "gamma: expected a discount in [0, 1)"),
    ],
)
def test_bad_fields_are_named(field, value, message):
    fields = _fields(random_mdp(2))
    fields[field] = value(fields)
    with pytest.raises(
        MDPValidationError,
        match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\["),
    ):
        TabularMDP(**fields)


def test_state_rewards_and_transition_matrix():
    mdp = random_mdp(3)
    w = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(mdp.state_rewards(w), mdp.features @ w)
    assert mdp.state_rewards(np.ones((4, 3))).shape == (4, mdp.n_states)
    P = mdp.transition_matrix()
    np.testing.assert_allclose(P.sum(-1), 1.0)
    with pytest.raises(ValueError, match="weights: expected last axis of size 3"):
        mdp.state_rewards(np.ones(2))
