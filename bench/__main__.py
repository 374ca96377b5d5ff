"""Run benchmarks: ``python -m bench`` runs every ``bench/bench_*.py``; ``python -m bench NAME``
runs ``bench/bench_NAME.py``. Each module's ``main()`` writes ``bench/results/NAME.md``."""

import importlib
import pathlib
import sys

names = sys.argv[1:] or sorted(p.stem[6:] for p in pathlib.Path(__file__).parent.glob("bench_*.py"))
for name in names:
    print(f"== bench {name} ==", flush=True)
    importlib.import_module(f"bench.bench_{name}").main()
