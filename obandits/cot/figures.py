"""Figures of the cot sweeps, from the results table alone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from .analysis import aggregate, configs
from .experiments import _fig_coverage


def from_table(table: dict, raw: dict | None, out_dir) -> list[Path]:
    """Coverage bars (easy / hard / invalid at T=1) per task and configuration."""
    out_dir = Path(out_dir)
    paths = []
    for i, (params, rows) in enumerate(configs(table)):
        agg = aggregate(table, rows)
        tasks = sorted(set(table["task"][rows].tolist()))
        cfg = SimpleNamespace(chain=SimpleNamespace(tasks=tasks),
                              train_task=int(params.get("train_task", 0)))
        path = out_dir / ("cot_coverage.png" if i == 0 else f"cot_coverage-{i}.png")
        _fig_coverage(agg, path, cfg)
        paths.append(path)
    return paths
