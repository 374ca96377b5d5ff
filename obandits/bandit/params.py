"""The parameters of a bandit sweep cell: required names and defaults (one place, read by the
runner that validates cells and by the analysis that groups rows by them)."""

DEFAULTS = {"reward": "bernoulli", "alpha": 2.0, "klucb_c": 0.0, "needle_frac": 0.0,
            "zipf_s": 1.0, "correct_mass": 0.05, "checkpoints_per_octave": 1}
REQUIRED = ("family", "K", "m", "gap", "learner", "T")
# KL-UCB's coefficient was the key ``c`` before it got its own name; a cell's key (its seeds
# and file id) is still computed under the old name, so results stay bit-identical.
KEY_NAMES = {"klucb_c": "c"}


def key_params(params: dict) -> dict:
    """The parameters a cell's key is computed from (:data:`KEY_NAMES` renamed back)."""
    return {KEY_NAMES.get(k, k): x for k, x in params.items()}
