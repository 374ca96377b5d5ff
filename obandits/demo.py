"""The bonus demo: one group of eight rollouts, every method side by side (Spec 1 §2)."""

from __future__ import annotations

import numpy as np

from .bonuses import METHODS, BonusConfig, shaped_advantages
from .tables import markdown_table

# One prompt, eight rollouts. Answers as strings; "42" is correct. Counts N(x, a) from history.
ANSWERS = ["42", "41", "41", "41", "17", "None", "41", "42"]
HISTORY = {"42": 1, "41": 30, "17": 0, "None": 6}


def demo_table(c: float = 0.2, b0: float = 0.5) -> str:
    keys = sorted(set(ANSWERS), key=ANSWERS.index)
    outcome = np.array([keys.index(a) for a in ANSWERS])
    reward = np.array([1.0 if a == "42" else 0.0 for a in ANSWERS])
    count = np.array([HISTORY[a] for a in ANSWERS])
    group = np.zeros(len(ANSWERS), dtype=np.int64)
    cols = {}
    for m in METHODS:
        adv = shaped_advantages(group, outcome, reward, count, BonusConfig(method=m, c=c, b0=b0))
        cols[m] = adv.total
    headers = ["answer", "reward", "N(x,a)", *[f"A[{m}]" for m in METHODS]]
    rows = [[a, float(r), int(n), *[float(cols[m][i]) for m in METHODS]]
            for i, (a, r, n) in enumerate(zip(ANSWERS, reward, count))]
    return markdown_table(headers, rows)


def run(c: float = 0.2, b0: float = 0.5) -> str:
    text = (f"Shaped advantages A = GRPO + bonus for one group of 8 (c={c}, b0={b0}; counts "
            f"N(x,a) from before the batch):\n\n" + demo_table(c, b0))
    print(text)
    return text
