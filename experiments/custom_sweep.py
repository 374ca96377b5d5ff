"""A sweep from Python: a custom LLM-like instance family (heavier Zipf tail, 10% correct mass)
and a learner grid, run in one call, regret vs T plotted with the package's figure helpers."""

import obandits
from obandits import plotting

config = {
    "sweep": {"name": "custom", "runner": "bandit", "root_seed": 7, "reps": 8},
    "fixed": {"family": "llm", "K": 256, "m": 8, "gap": 0.2, "zipf_s": 1.5,
              "correct_mass": 0.1, "T": 8192, "checkpoints_per_octave": 2},
    "grid": [{"learner": ["ucb1", "thompson", "outcome-ucb"]}],
}
table = obandits.run(config, out="runs/custom")  # pandas DataFrame (dict of arrays without)
fig, axes = plotting.subplots()
plotting.curves_vs_t(axes[0][0], table, by="learner")
print(plotting.save(fig, "runs/custom/regret_vs_T.png"))
