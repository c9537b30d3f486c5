"""What each built-in gridworld claims: its shifts really differ from training, its semantics."""

import gymnasium as gym
import numpy as np
import pytest

from rewunc import planning
from rewunc.envs import BUILTIN, ColorGoal, CornerGoal, KeysChests, LavaLand
from rewunc.envs.gridworld import GridWorld, Layout, LayoutError


def _layouts(env_id, n, **kwargs):
    env = gym.make(env_id, **kwargs)
    for seed in range(n):
        env.reset(seed=seed)
        yield env.unwrapped


def _count(base, tile):
    return int((base.layout.tiles == base.TILES.index(tile)).sum())


# ---- LavaLand -----------------------------------------------------------------------------


def test_lavaland_training_has_no_lava_and_the_shift_does():
    assert all(_count(b, "lava") == 0 for b in _layouts("rewunc/LavaLand-v0", 200))
    assert all(_count(b, "lava") > 0 for b in _layouts("rewunc/LavaLand-v0", 200, shift="lava"))


def test_lavaland_lava_lies_on_the_way_of_a_lava_blind_agent():
    """A planner that ignores lava (weight 0) walks into it on most shifted layouts."""
    blind = np.array(LavaLand.TRUE_WEIGHTS)
    blind[LavaLand.feature_names.index("lava")] = 0.0
    entered = 0
    layouts = list(_layouts("rewunc/LavaLand-v0", 40, shift="lava"))
    for base in layouts:
        mdp = base.to_mdp()
        pi = planning.value_iteration(mdp, mdp.state_rewards(blind)).policy
        visits = planning.state_occupancy(mdp, pi)
        lava_states = mdp.features[:, LavaLand.feature_names.index("lava")] > 0
        entered += bool(visits[lava_states].sum() > 1e-6) or _arrive_lava(mdp, pi, lava_states)
    assert entered >= 0.75 * len(layouts)


def _arrive_lava(mdp, pi, lava_states):
    x = planning.state_action_occupancy(mdp, pi)
    arrive = np.einsum("sa,sab->sab", x, mdp.probs)
    return bool(arrive[np.isin(mdp.next_states, np.flatnonzero(lava_states))].sum() > 1e-6)


def test_lavaland_hazard_outcome_and_lava_does_not_terminate():
    env = gym.make(
        "rewunc/LavaLand-v0",
        ascii_map="""
        A L . T
        . . . .
    """.replace(" ", ""),
    )
    env.reset(seed=0)
    _, r, term, _, info = env.step(1)  # into lava
    assert not term and r == pytest.approx(-2.0) and info["hazard_visits"] == 1
    env.step(1)
    _, r, term, _, info = env.step(1)  # onto the target
    assert term and info["outcome"] == "hazard" and r == pytest.approx(1.0)
    env.reset(seed=0)
    for a in (2, 1, 1, 1, 0):  # around the lava
        _, _, term, _, info = env.step(a)
    assert term and info["outcome"] == "goal"


# ---- CornerGoal ---------------------------------------------------------------------------


@pytest.mark.parametrize("k, p", [(1, 0.0), (2, 0.3), (3, 0.7)])
def test_corner_goal_placement_frequencies_match_k_and_p(k, p):
    n = 600
    hits, expected, var = 0, 0.0, 0.0
    env = gym.make("rewunc/CornerGoal-v0", k=k, p=p)
    region = set(env.unwrapped.goal_region())
    for seed in range(n):
        env.reset(seed=seed)
        base = env.unwrapped
        goal = tuple(np.argwhere(base.layout.tiles == base.TILES.index("goal"))[0])
        hits += goal in region
        free = base.layout.tiles != base.TILES.index("wall")
        n_candidates = free.sum() - 1  # uniform placement excludes the start
        q = (1 - p) + p * len(region) / n_candidates
        expected += q
        var += q * (1 - q)
    assert abs(hits - expected) <= 4 * np.sqrt(var) + 1


def test_corner_goal_shift_places_the_goal_anywhere():
    env = gym.make("rewunc/CornerGoal-v0", shift="anywhere")
    region = set(env.unwrapped.goal_region())
    goals = []
    for seed in range(300):
        env.reset(seed=seed)
        base = env.unwrapped
        goals.append(tuple(np.argwhere(base.layout.tiles == base.TILES.index("goal"))[0]))
    assert sum(g in region for g in goals) < 30  # a 1-cell region of ~44 free cells
    assert len(set(goals)) > 30


def test_corner_goal_proxy_outcome():
    env = gym.make(
        "rewunc/CornerGoal-v0",
        ascii_map="""
        ...
        G..
        A..
    """,
    )
    env.reset(seed=0)
    for a in (0, 1, 1):  # up onto... the goal is at (1,0): first move reaches it
        _, _, term, _, info = env.step(a)
        if term:
            break
    assert info["outcome"] == "goal"
    env.reset(seed=0)
    for a in (1, 1, 0, 0):
        _, _, term, _, info = env.step(a)
    assert term and info["outcome"] == "proxy" and info["features"][1] == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k=0), "k: expected an int with 1 <= k < size"),
        (dict(k=7), "k: expected an int with 1 <= k < size"),
        (dict(p=1.5), "p: expected a probability in"),
        (dict(p=-0.1), "p: expected a probability in"),
        (dict(ascii_map="A.#\n..."), "the top-right corner cell must not be a wall"),
        (dict(ascii_map="A..\n..."), "expected exactly one goal"),
    ],
)
def test_corner_goal_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("rewunc/CornerGoal-v0", **kwargs)


# ---- ColorGoal ----------------------------------------------------------------------------


def _objects(base):
    return sorted(
        base.TILES[t] for t in base.layout.tiles.ravel() if base.TILES[t] not in ("wall", "floor")
    )


def test_color_goal_training_and_swap():
    assert all(
        _objects(b) == ["blue_square", "red_circle"] for b in _layouts("rewunc/ColorGoal-v0", 100)
    )
    assert all(
        _objects(b) == ["blue_circle", "red_square"]
        for b in _layouts("rewunc/ColorGoal-v0", 100, shift="swap")
    )
    swapped = sum(
        _objects(b) == ["blue_circle", "red_square"]
        for b in _layouts("rewunc/ColorGoal-v0", 400, p=0.25)
    )
    assert abs(swapped - 100) <= 4 * np.sqrt(400 * 0.25 * 0.75)


def test_color_goal_outcomes():
    env = gym.make("rewunc/ColorGoal-v0", ascii_map="rAB")
    env.reset(seed=0)
    _, _, term, _, info = env.step(3)
    assert term and info["outcome"] == "proxy"
    env.reset(seed=0)
    _, r, term, _, info = env.step(1)
    assert term and info["outcome"] == "goal" and r == pytest.approx(0.98)
    env = gym.make("rewunc/ColorGoal-v0", ascii_map="bAR")
    env.reset(seed=0)
    _, _, term, _, info = env.step(3)
    assert term and info["outcome"] == "timeout"


# ---- KeysChests ---------------------------------------------------------------------------


def test_keys_chests_counts():
    for base in _layouts("rewunc/KeysChests-v0", 50):
        assert _count(base, "key") < _count(base, "chest")
    for base in _layouts("rewunc/KeysChests-v0", 50, shift="many_keys"):
        assert _count(base, "key") > _count(base, "chest")


def test_keys_chests_semantics():
    env = gym.make(
        "rewunc/KeysChests-v0",
        ascii_map="""
        c A k c
        . . . k
    """.replace(" ", ""),
        max_steps=30,
    )
    env.reset(seed=0)
    _, r, term, _, info = env.step(3)  # onto a chest with no key: nothing happens
    assert r == pytest.approx(-0.02) and info["chests_opened"] == 0
    env.step(1)
    _, r, _, _, info = env.step(1)  # pick up the key
    assert info["features"].tolist() == [1.0, 0.0, 1.0] and info["keys_held"] == 1
    env.step(3)  # back past the start
    _, r, term, _, info = env.step(3)  # open the left chest
    assert r == pytest.approx(0.98) and info["chests_opened"] == 1 and info["keys_held"] == 0
    assert not term
    for a in (1, 1):  # the key's cell is empty now
        _, r, _, _, info = env.step(a)
        assert info["features"][0] == 0.0
    _, _, _, _, info = env.step(1)  # the right chest, but no key held
    assert info["chests_opened"] == 1
    env.step(2)  # second key
    _, r, term, _, info = env.step(0)  # open the right chest: every openable chest is open
    assert term and info["outcome"] == "goal" and r == pytest.approx(0.98)


def test_keys_chests_proxy_outcome_on_timeout():
    env = gym.make("rewunc/KeysChests-v0", ascii_map="Akc..\n.....", max_steps=3)
    env.reset(seed=0)
    env.step(1)  # key
    env.step(2)
    _, _, term, trunc, info = env.step(0)
    assert trunc and info["outcome"] == "proxy"


# ---- ASCII maps and constructor arguments -------------------------------------------------


@pytest.mark.parametrize(
    "ascii_map, message",
    [
        ("", "the map is empty"),
        ("A..\n..", "rows have different lengths"),
        ("A.x", "unknown character 'x' at row 0, column 2"),
        ("...", "expected exactly one agent start 'A', found 0"),
        ("AA.T", "expected exactly one agent start 'A', found 2"),
        ("A...", "expected exactly one target"),
    ],
)
def test_malformed_ascii_maps(ascii_map, message):
    with pytest.raises(LayoutError, match=message):
        LavaLand(ascii_map=ascii_map)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (LavaLand, dict(size=2), "size: expected an int >= 4"),
        (ColorGoal, dict(p=2.0), "p: expected a probability"),
        (ColorGoal, dict(ascii_map="AR."), "expected exactly two objects"),
        (KeysChests, dict(n_keys=3, n_chests=3), "training needs 1 <= n_keys < n_chests"),
        (KeysChests, dict(ascii_map="A.."), "expected at least one key and one chest"),
    ],
)
def test_bad_env_arguments(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_set_state_validates():
    env = CornerGoal()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="state index: expected an int in"):
        env.set_state(10_000)


# ---- hazards, reachability ----------------------------------------------------------------


def test_lavaland_hazard_outcome_on_timeout():
    env = gym.make("rewunc/LavaLand-v0", ascii_map="AL..T", max_steps=3)
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)  # into lava
    env.step(3)
    _, _, term, trunc, info = env.step(3)  # bump the edge: time is up
    assert trunc and not term and info["outcome"] == "hazard" and info["hazard_visits"] == 1


def test_envs_without_hazard_tiles_report_no_hazard_visits():
    env = gym.make("rewunc/CornerGoal-v0")
    env.reset(seed=0)
    assert "hazard_visits" not in env.step(0)[4]


def _splits():
    cases = []
    for env_id in sorted(BUILTIN):
        env = gym.spec(env_id).make().unwrapped
        if isinstance(env, GridWorld):
            cases += [(env_id, s) for s in (None, *env.SHIFTS)]
    return cases


@pytest.mark.parametrize("env_id, shift", _splits())
def test_generated_layouts_reach_a_terminal_tile(env_id, shift):
    for base in _layouts(env_id, 50, shift=shift):
        base.check_reachable(base.layout, f"{env_id} [{shift}]")


@pytest.mark.parametrize(
    "cls, ascii_map, message",
    [
        (LavaLand, "A#T", r"ascii_map: no terminal tile \(target\) is reachable .* at \(0, 0\)"),
        (LavaLand, "A.#\n###\n#.T", r"no terminal tile \(target\) is reachable"),
        (CornerGoal, "A#G\n.#.", r"no terminal tile \(corner, goal\) is reachable"),
        (ColorGoal, "A#R\n.#b", r"no terminal tile \(.*\) is reachable"),
    ],
)
def test_unreachable_ascii_map_is_refused(cls, ascii_map, message):
    with pytest.raises(LayoutError, match=message):
        cls(ascii_map=ascii_map)


class _Pond(GridWorld):
    """A minimal subclass: only the required declarations (plus terminal and hazard tiles)."""

    TILES = ("wall", "floor", "mud", "ice", "goal")
    feature_names = ("mud", "ice", "goal")
    TRUE_WEIGHTS = (-0.1, -1.0, 1.0)
    TILE_FEATURES = {"mud": {"mud": 1.0}, "ice": {"ice": 1.0}, "goal": {"goal": 1.0}}
    SHIFTS = ("thin",)
    TERMINAL_TILES = frozenset({"goal", "ice"})
    HAZARD_TILES = frozenset({"ice"})

    def _generate(self, rng):
        tiles = np.full((3, 4), self.TILES.index("floor"), dtype=np.int8)
        tiles[2, 3] = self.TILES.index("goal")
        tiles[1, 1] = self.TILES.index("wall")
        return Layout(tiles=tiles, start=(0, 0))


def test_unreachable_goal_behind_terminal_hazards_is_refused():
    _Pond(ascii_map="A...\n..i.\n..ig")  # the goal is reachable around the ice
    with pytest.raises(LayoutError, match=r"no terminal tile \(goal\) is reachable"):
        _Pond(ascii_map="A.i.\n..ig")  # only through the ice, which ends the episode


def test_unreachable_generated_fixed_layout_is_refused():
    class Walled(_Pond):
        def _generate(self, rng):
            layout = super()._generate(rng)
            tiles = layout.tiles.copy()
            tiles[:, 2] = self.TILES.index("wall")
            return Layout(tiles=tiles, start=layout.start)

    with pytest.raises(LayoutError, match=r"layout_seed=4: no terminal tile \(goal\)"):
        Walled(layout_seed=4)


# ---- GridWorld subclasses: defaults and declaration errors --------------------------------


def test_minimal_subclass_gets_defaults():
    assert _Pond.FLOOR == "floor"
    assert _Pond.ASCII == {"#": "wall", ".": "floor", "m": "mud", "i": "ice", "g": "goal"}
    assert set(_Pond.TILE_COLORS) == set(_Pond.TILES)
    assert len(set(_Pond.TILE_COLORS.values())) == len(_Pond.TILES)
    env = _Pond(ascii_map="Am.\n.ig", render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "Am.\n.ig\n"
    assert env.render_rgb().shape == (2 * 24, 3 * 24, 3)
    _, r, term, _, info = env.step(1)  # mud
    assert not term and r == pytest.approx(-0.1) and info["hazard_visits"] == 0
    _, r, term, _, info = env.step(2)  # ice: terminal and a hazard
    assert term and info["outcome"] == "hazard" and info["hazard_visits"] == 1


def test_defaults_follow_the_subclass_and_declarations_are_inherited():
    class Bog(_Pond):
        TILES = ("wall", "peat", "mud", "ice", "goal", "bog")
        TILE_FEATURES = {"bog": {"mud": 2.0}}
        TILE_COLORS = {"bog": (1, 2, 3)}

    assert Bog.FLOOR == "peat" and Bog.ASCII["."] == "peat" and Bog.ASCII["b"] == "bog"
    assert Bog.TILE_COLORS["bog"] == (1, 2, 3) and set(Bog.TILE_COLORS) == set(Bog.TILES)

    class Bog2(Bog):
        TILES = Bog.TILES + ("stone",)

    assert Bog2.TILE_COLORS["bog"] == (1, 2, 3) and "stone" in Bog2.TILE_COLORS
    assert LavaLand.FLOOR == "dirt" and LavaLand.ASCII["L"] == "lava"


_BASE = dict(
    TILES=("wall", "floor", "goal"),
    feature_names=("goal", "step"),
    TRUE_WEIGHTS=(1.0, -0.02),
    TILE_FEATURES={"goal": {"goal": 1.0}},
    TERMINAL_TILES=frozenset({"goal"}),
    _generate=_Pond._generate,
)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(TILES=None), r"Bad: a GridWorld subclass must declare TILES"),
        (dict(_generate=None), r"Bad: a GridWorld subclass must declare _generate\(rng\)"),
        (dict(TILES=("floor", "goal")), r"Bad.TILES: must include 'wall'"),
        (dict(TILES=("wall", "goal", "goal")), r"Bad.TILES: tile names repeat"),
        (dict(TRUE_WEIGHTS=(1.0,)), r"Bad.TRUE_WEIGHTS: has 1 weights for 2 features"),
        (dict(TILE_FEATURES={"lava": {"goal": 1}}), r"Bad.TILE_FEATURES: unknown tiles \['lava'\]"),
        (dict(TILE_FEATURES={"goal": {"gold": 1.0}}), r"Bad.TILE_FEATURES: 'goal' names unknown"),
        (dict(TERMINAL_TILES={"exit"}), r"Bad.TERMINAL_TILES: unknown tiles \['exit'\]"),
        (dict(HAZARD_TILES={"lava"}), r"Bad.HAZARD_TILES: unknown tiles \['lava'\]"),
        (dict(HAZARD_TILES="goal"), r"Bad.HAZARD_TILES: expected a set of tile names"),
        (dict(TILE_COLORS={"gaol": (0, 0, 0)}), r"Bad.TILE_COLORS: unknown tiles \['gaol'\]"),
        (dict(TILE_COLORS={"goal": (0, 0, 300)}), r"Bad.TILE_COLORS: 'goal': expected an"),
        (dict(TILE_SHAPES={"goal": "hexagon"}), r"Bad.TILE_SHAPES: unknown shapes"),
        (dict(ASCII={"#": "wall", ".": "floor"}), r"Bad.ASCII: tiles \['goal'\] have no char"),
        (dict(ASCII={"#": "wall", "A": "goal"}), r"Bad.ASCII: keys must be single characters"),
        (dict(FLOOR="goal"), r"Bad.FLOOR: expected a non-wall, non-terminal tile"),
        (dict(SHIFTS="night"), r"Bad.SHIFTS: expected a tuple of shift names"),
        (
            dict(TILES=("wall", "floor", "goal", "gravel")),
            r"Bad.ASCII: no default legend: tile 'gravel' would be 'g', which is already 'goal'",
        ),
        (
            dict(TILES=("wall", "floor", "goal", "Agent")),
            r"Bad.ASCII: no default legend: .* the agent's start",
        ),
    ],
)
def test_subclass_declaration_errors(changes, message):
    namespace = {k: v for k, v in {**_BASE, **changes}.items() if v is not None}
    with pytest.raises(TypeError, match=message):
        type("Bad", (GridWorld,), namespace)


def test_abstract_intermediate_base_is_not_checked():
    class Base(GridWorld, abstract=True):
        DEFAULT_MAX_STEPS = 20

    class Concrete(Base):
        TILES, feature_names = _BASE["TILES"], _BASE["feature_names"]
        TRUE_WEIGHTS, TILE_FEATURES = _BASE["TRUE_WEIGHTS"], _BASE["TILE_FEATURES"]
        _generate = _Pond._generate

    assert Concrete().max_steps == 20 and Concrete.ASCII["g"] == "goal"
