"""GRPO vs UCB-Con vs Batch through TRL's GRPOTrainer: a thin wrapper of
:mod:`llm_bridge.compare` (``python experiments/llm/compare.py --preset gpu``).

The same comparison on our own reference trainer is ``experiments/llm/compare_own.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from llm_bridge.compare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
