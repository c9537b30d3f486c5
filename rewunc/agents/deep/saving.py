"""Trained agents saved without pickle: the policy's ``state_dict`` in safetensors plus a JSON
config (stable-baselines3's own ``save`` pickles)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from rewunc.agents.deep.extractors import GridCNN
from rewunc.agents.deep.reward import DeepAgentError
from rewunc.agents.deep.usf import ConditionedExtractor
from rewunc.io import atomic_write, read_npz, write_json, write_npz

EXTRACTORS = {"GridCNN": GridCNN, "ConditionedExtractor": ConditionedExtractor}
AGENT_FORMAT = "rewunc.deep_agent.v1"


def _algorithms() -> dict:
    from stable_baselines3 import DQN, PPO, SAC

    from rewunc.agents.deep.risk_ppo import RiskAversePPO
    from rewunc.agents.deep.usf import UniversalSF

    return {
        "PPO": PPO,
        "DQN": DQN,
        "SAC": SAC,
        "RiskAversePPO": RiskAversePPO,
        "UniversalSF": UniversalSF,
    }


def save_agent(model, path, *, hyperparameters: dict | None = None, force: bool = False):
    """Write ``path/policy.safetensors`` (the policy's ``state_dict``) and ``path/agent.json``
    (algorithm, policy kwargs, hyperparameters to rebuild it); a RiskAversePPO also writes its
    posterior draws, probabilities, λ and α (``path/posterior.npz`` and the JSON), a UniversalSF
    its training draws and the family's jitter. Nothing is pickled.

    Only policy kwargs that are JSON or a features extractor of :data:`EXTRACTORS` are saved.
    """

    path = Path(path)
    algorithm = type(model).__name__
    if algorithm not in _algorithms():
        raise DeepAgentError(f"save_agent: {algorithm} is not one of {sorted(_algorithms())}")
    kwargs = dict(getattr(model, "policy_kwargs", {}) or {})
    extractor = kwargs.pop("features_extractor_class", None)
    if extractor is not None:
        name = getattr(extractor, "__name__", str(extractor))
        if EXTRACTORS.get(name) is not extractor:
            raise DeepAgentError(f"save_agent: features extractor {name} is not in EXTRACTORS")
        kwargs["features_extractor_class"] = name
    try:
        json.dumps(kwargs)
    except TypeError as err:
        raise DeepAgentError(f"save_agent: policy_kwargs are not JSON ({err})") from err
    config = {
        "format": AGENT_FORMAT,
        "algorithm": algorithm,
        "policy_kwargs": kwargs,
        "hyperparameters": hyperparameters or {},
        "observation_space": repr(model.observation_space),
        "action_space": repr(model.action_space),
    }
    path.mkdir(parents=True, exist_ok=True)
    if algorithm == "RiskAversePPO":
        if not isinstance(model.critic_basis_kind, str):
            raise DeepAgentError("save_agent: a custom critic_basis matrix is not saved")
        config["risk"] = {
            "lam": model.lam,
            "alpha": model.alpha,
            "basis": model.critic_basis_kind,
            "criterion_gamma": model.criterion_gamma,
        }
        arrays = {"weights": model.posterior_weights, "probs": model.probs}
        write_npz(path / "posterior.npz", arrays, force=force)
    if algorithm == "UniversalSF":
        config["usf"] = {"z_noise": model.z_noise, "n_z": model.n_z}
        write_npz(path / "posterior.npz", {"weights": model.sampler.weights}, force=force)
    atomic_write(
        path / "policy.safetensors", lambda tmp: _save_policy(model.policy, tmp), force=force
    )
    write_json(path / "agent.json", config, force=force)
    return path


def _save_policy(policy, filename) -> None:
    """Write ``policy``'s weights byte for byte the same for the same weights. SB3 policies
    share one features extractor between actor and critic: each shared tensor is stored once,
    under its first name in sorted order (``load_model`` maps it back to every name). Not
    safetensors' ``save_model``: it records the dropped names as metadata, which safetensors
    serialises from a Rust HashMap in an order that changes from process to process."""
    from safetensors.torch import save_file

    kept, seen = {}, set()
    for name, tensor in sorted(policy.state_dict().items()):
        where = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if where not in seen:
            seen.add(where)
            kept[name] = tensor.contiguous()
    save_file(kept, filename)


def load_agent(path, env, *, device: str = "cpu"):
    """Rebuild a saved agent on ``env`` (its spaces must match) and load its weights."""
    from safetensors.torch import load_model

    path = Path(path)
    try:
        config = json.loads((path / "agent.json").read_text())
    except (OSError, ValueError) as err:
        raise DeepAgentError(f"{path}/agent.json: cannot read the saved agent ({err})") from err
    if not isinstance(config, dict) or config.get("format") != AGENT_FORMAT:
        raise DeepAgentError(f"{path}/agent.json: not a {AGENT_FORMAT} file")
    algorithm = _algorithms().get(config.get("algorithm"))
    if algorithm is None:
        raise DeepAgentError(f"{path}/agent.json: unknown algorithm {config.get('algorithm')!r}")
    kwargs = dict(config.get("policy_kwargs") or {})
    if "features_extractor_class" in kwargs:
        kwargs["features_extractor_class"] = EXTRACTORS[kwargs["features_extractor_class"]]
    extra = {}
    if config["algorithm"] == "RiskAversePPO":
        draws = read_npz(path / "posterior.npz")
        risk = config.get("risk") or {}
        extra = dict(
            posterior_weights=draws["weights"],
            probs=draws["probs"],
            lam=risk.get("lam", 1.0),
            alpha=risk.get("alpha", 0.95),
            critic_basis=risk.get("basis", "posterior"),
            criterion_gamma=risk.get("criterion_gamma"),
        )
    if config["algorithm"] == "UniversalSF":
        usf = config.get("usf") or {}
        extra = dict(
            train_weights=read_npz(path / "posterior.npz")["weights"],
            z_noise=usf.get("z_noise", 0.5),
            n_z=usf.get("n_z", 4),
        )
    with warnings.catch_warnings():  # SB3's batch-size advice concerns training, not loading
        warnings.filterwarnings("ignore", "You have specified a mini-batch size", UserWarning)
        model = algorithm(
            "MlpPolicy",
            env,
            policy_kwargs=kwargs,
            device=device,
            **extra,
            **config["hyperparameters"],
        )
    if (
        repr(model.observation_space) != config["observation_space"]
        or repr(model.action_space) != config["action_space"]
    ):
        raise DeepAgentError(
            f"{path}: saved for {config['observation_space']} / {config['action_space']}, "
            f"not this env's {model.observation_space} / {model.action_space}"
        )
    try:
        load_model(model.policy, str(path / "policy.safetensors"), device=device)
    except Exception as err:  # missing file, corrupt header (SafetensorError), shape mismatch
        raise DeepAgentError(f"{path}/policy.safetensors: cannot load the weights ({err})") from err
    return model
