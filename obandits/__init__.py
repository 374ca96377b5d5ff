"""obandits: outcome-based exploration bonuses, outcome bandits and Markov CoT simulators.

The bonus mathematics lives in :mod:`obandits.bonuses` (Spec 1 §1-2) and is shared by every
simulator and by the LLM bridge; metrics in :mod:`obandits.metrics`; answer counts in
:mod:`obandits.counts`; seeding in :mod:`obandits.seeding`.

Experiments from Python: ``obandits.run(config, out=None)`` runs a sweep from a TOML path or a
plain dict and returns its tidy table (a pandas DataFrame, or a dict of arrays without pandas);
``obandits.load_config``, ``obandits.run_sweep`` and ``obandits.read_table`` are the steps;
``obandits.check_dir`` / ``obandits.plot_dir`` give a finished sweep's claims and figures.
Imports are lazy, so ``import obandits`` (and ``obandits --help``) stay fast.
"""

__version__ = "0.1.0"

_LAZY = {"run": "obandits.sweep", "run_sweep": "obandits.sweep",
         "load_config": "obandits.sweep", "config_from_dict": "obandits.sweep",
         "check_dir": "obandits.sweep", "plot_dir": "obandits.sweep",
         "read_table": "obandits.results", "Runner": "obandits.runners",
         "REGISTRY": "obandits.runners"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'obandits' has no attribute {name!r}")
