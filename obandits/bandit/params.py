"""The parameters of a bandit sweep cell: required names and defaults (one place, read by the
runner that validates cells and by the analysis that groups rows by them)."""

DEFAULTS = {"reward": "bernoulli", "alpha": 2.0, "c": 0.0, "needle_frac": 0.0, "zipf_s": 1.0,
            "correct_mass": 0.05, "checkpoints_per_octave": 1}
REQUIRED = ("family", "K", "m", "gap", "learner", "T")
