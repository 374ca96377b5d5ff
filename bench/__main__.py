"""Run benchmarks: ``python -m bench`` runs every ``bench/bench_*.py``; ``python -m bench NAME``
runs ``bench/bench_NAME.py`` (``python -m bench bu2025 --authors-script PATH``: options after
the names go to the modules). Each module's ``main()`` writes ``bench/results/NAME.md``."""

import importlib
import pathlib
import sys

# Names come first; options after them (``--pool 5000``, ``--authors-script PATH``) are read by
# the modules themselves from sys.argv.
first_opt = next((i for i, a in enumerate(sys.argv[1:]) if a.startswith("-")), len(sys.argv) - 1)
names = sys.argv[1:1 + first_opt] or sorted(
    p.stem[6:] for p in pathlib.Path(__file__).parent.glob("bench_*.py"))
for name in names:
    print(f"== bench {name} ==", flush=True)
    importlib.import_module(f"bench.bench_{name}").main()
