"""``python -m llm_bridge.train``: GRPO (+ an outcome-based exploration bonus) on a causal LM.

Writes to ``--out``: ``config.json``, the task splits ``train.jsonl`` / ``test.jsonl``,
``log.jsonl`` (one record per training step, ``kind = "train"``, and per evaluation,
``kind = "eval"``), ``checkpoint.pt`` (every ``--save-every`` steps and at the end) and
``curves.png`` (:mod:`llm_bridge.plot`). ``--resume`` continues from the checkpoint exactly.
While it runs, ``.lock`` holds its pid: a second trainer on the same ``--out`` is refused.

Example (CPU, a few minutes)::

    python -m llm_bridge.train --method ucb-con --model default --steps 4 \\
        --prompts-per-step 2 --n-rollouts 4 --max-new-tokens 64 --out runs/llm/ucb-con
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from obandits.bonuses import COUNT_MODES, METHODS, SCALES
from obandits.fileio import LOCK, PidLock, atomic_write  # noqa: F401 (LOCK re-exported)

from .cli import OneLineParser, add_dataclass_arguments, dataclass_from_args, flatten
from .trainer import TrainConfig, _help

METHOD_ALIASES = {"grpo": "none"}
METHOD_CHOICES = ("grpo", *METHODS)


def _method(text: str) -> str:
    return METHOD_ALIASES.get(text, text)


@dataclass(frozen=True)
class RunConfig:
    """Everything ``python -m llm_bridge.train`` takes: the run's own settings (model, task,
    budget, output) and the trainer's :class:`llm_bridge.trainer.TrainConfig` (which carries
    the bonus as one :class:`obandits.bonuses.BonusConfig`). Flags are generated from these
    dataclasses (:mod:`llm_bridge.cli`)."""

    model: str = field(default="default", metadata=_help(
        "'default' (embedded SmolLM2-135M-Instruct), 'tiny' (random, for tests) or a local "
        "Hugging Face model directory / .gguf file"))
    device: str = field(default="auto", metadata=_help("auto | cpu | cuda | cuda:N"))
    dtype: str = field(default="auto", metadata=_help(
        "auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16"))
    threads: int = field(default=0, metadata=_help(
        "torch CPU threads (0: torch's default; 1 is robust on a CPU shared with other jobs)"))
    task: str = field(default="arithmetic", metadata=_help(
        "'arithmetic' (synthetic, seeded) or a JSONL file of training problems"))
    test_task: str | None = field(default=None, metadata=_help(
        "JSONL of held-out problems (with a JSONL --task; default: split off --n-test)"))
    levels: tuple[int, ...] = field(default=(1, 2, 3), metadata=_help(
        "arithmetic difficulty levels, comma-separated, from 1-5"))
    n_train: int = field(default=256, metadata=_help("arithmetic training problems"))
    n_test: int = field(default=64, metadata=_help("held-out problems"))
    steps: int = field(default=10, metadata=_help("training steps"))
    eval_every: int = field(default=0, metadata=_help(
        "held-out eval every N steps (0: only before and after)"))
    eval_problems: int = field(default=16, metadata=_help("held-out problems evaluated"))
    eval_samples: int = field(default=32, metadata=_help(
        "samples per held-out problem (pass@k for k <= this)"))
    eval: bool = field(default=True, metadata=_help("held-out evaluation (--no-eval: skip)"))
    out: str = field(default="runs/llm/run", metadata=_help("output directory"))
    save_every: int = field(default=0, metadata=_help(
        "checkpoint every N steps (0: only at the end)"))
    resume: bool = field(default=False, metadata=_help(
        "continue from OUT/checkpoint.pt (refused when a flag that changes the problems or "
        "the training differs from the saved run)"))
    overwrite: bool = field(default=False, metadata=_help(
        "replace a run already in OUT (without it, a directory holding a checkpoint is "
        "refused)"))
    plot: bool = field(default=True, metadata=_help("write OUT/curves.png"))
    quiet: bool = field(default=False, metadata=_help("no progress bar"))
    train: TrainConfig = field(default_factory=TrainConfig, metadata=_help("trainer"))

    def __post_init__(self) -> None:
        from obandits import _validate as v

        from .tasks import LEVELS

        for name in ("steps", "n_train", "n_test", "eval_problems", "eval_samples"):
            v.int_scalar(name, getattr(self, name), min_value=1)
        for name in ("eval_every", "save_every", "threads"):
            v.int_scalar(name, getattr(self, name), min_value=0)
        if not self.levels or any(lv not in LEVELS for lv in self.levels):
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got "
                             f"{','.join(map(str, self.levels)) or 'nothing'}")
        if self.test_task is not None and self.task == "arithmetic":
            raise ValueError("test_task needs a JSONL --task (the arithmetic task splits off its "
                             "own test set with --n-test)")
        if self.resume and self.overwrite:
            raise ValueError("resume and --overwrite exclude each other: continue the run in "
                             "OUT, or replace it")


# Flags whose change makes a saved run a different run: the problems and their ids (task,
# levels, sizes, seed), the model, and every trainer/bonus setting (added from TrainConfig).
FIXED_ON_RESUME = ("model", "dtype", "task", "test_task", "levels", "n_train", "n_test",
                   "eval_problems", "eval_samples")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m llm_bridge.train", description=__doc__.splitlines()[0])
    add_dataclass_arguments(p, RunConfig,
                            choices={"method": METHOD_CHOICES, "count_mode": COUNT_MODES,
                                     "scale": SCALES},
                            types={"method": str}, aliases={"kl_beta": ("--beta-kl",)})
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def parse_config(argv: list[str] | None = None) -> RunConfig:
    """Flags -> validated :class:`RunConfig` (ValueError naming the flag)."""
    ns = build_parser().parse_args(argv)
    return config_from_args(ns)


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    values = dict(vars(ns))
    values.pop("debug", None)
    values["method"] = _method(values["method"])
    return dataclass_from_args(RunConfig, values)


def _tasks(cfg: RunConfig):
    from .tasks import arithmetic_task, load_jsonl, train_test_split

    if cfg.task == "arithmetic":
        return arithmetic_task(cfg.n_train, cfg.n_test, levels=cfg.levels, seed=cfg.train.seed)
    train = load_jsonl(cfg.task)
    if cfg.test_task:
        return train, load_jsonl(cfg.test_task)
    if len(train) < 2:
        raise ValueError(f"--task {cfg.task}: needs at least 2 problems to split off a test set")
    return train_test_split(train, min(cfg.n_test, len(train) - 1), seed=cfg.train.seed)


def _read_log(path: Path, upto: int) -> list[dict]:
    """Records of ``log.jsonl`` up to step ``upto``; a cut or garbage line is an error naming
    the file and the line."""
    from .plot import read_log

    if not path.is_file():
        return []
    recs = read_log(path, require=("step",), hint="; remove the line to resume")
    bad = next((r for r in recs if type(r["step"]) is not int), None)
    if bad is not None:
        raise ValueError(f"{path}: a record's 'step' must be an integer, got {bad['step']!r}; "
                         f"remove the record to resume")
    return [r for r in recs if r["step"] <= upto]


def _check_out(cfg: RunConfig) -> str:
    """Check OUT before any work; returns ``fresh``, ``restart`` (a resume with no checkpoint
    yet: the run was stopped before its first save) or ``resume``."""
    out = Path(cfg.out)
    ckpt, meta = out / "checkpoint.pt", out / "config.json"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    # checked first: the run in progress explains a checkpoint or a missing one
    RunLock(out).check()
    if cfg.resume:
        if not ckpt.is_file() and not meta.is_file():
            raise ValueError(f"--resume: {out} holds no run to resume (no checkpoint.pt, no "
                             f"config.json)")
        if not meta.is_file():
            raise ValueError(f"--resume: {meta} is missing, so this call cannot be checked "
                             f"against the saved run")
        try:
            saved = json.loads(meta.read_text())["args"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"--resume: {meta} is not a run config "
                             f"({type(exc).__name__})") from None
        now = flatten(cfg)
        fixed = FIXED_ON_RESUME + tuple(flatten(cfg.train))
        missing = [k for k in fixed if k not in saved]
        if missing:  # e.g. 'kl_beta' and 'bonus' fields: a v1 checkpoint this version cannot load
            raise ValueError(f"--resume: {meta} was written by an older llm_bridge (no "
                             f"{missing[0]!r} among its settings): its checkpoint cannot be "
                             f"resumed by this version; start the run again in another --out")
        diff = [k for k in fixed if saved.get(k, "<missing>") != now[k]]
        if diff:
            k = diff[0]
            others = ", ".join("--" + d.replace("_", "-") for d in diff[1:])
            more = f" (and {others})" if others else ""
            raise ValueError(f"--resume: --{k.replace('_', '-')} was {saved.get(k)!r} in the "
                             f"saved run in {out}, now {now[k]!r}{more}; it changes the "
                             f"problems or the training: use the saved value or another --out")
    elif ckpt.is_file() and not cfg.overwrite:
        raise ValueError(f"--out {out} holds a checkpoint of another run: --resume to continue "
                         f"it, --overwrite to replace it, or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    if cfg.resume:
        return "resume" if ckpt.is_file() else "restart"
    return "fresh"


OUTPUT_FILES = ("checkpoint.pt", "log.jsonl", "config.json", "train.jsonl", "test.jsonl")


class RunLock(PidLock):
    """``OUT/.lock`` holding the trainer's pid (:class:`obandits.fileio.PidLock`, the same
    lock as a sweep's): a second trainer on the same directory is refused with that pid; the
    lock of a dead process is taken over."""

    def __init__(self, out):
        super().__init__(out, "another llm_bridge.train")


def _remove_stale_temp_files(out: Path) -> list[Path]:
    """Temporary files that a killed run's atomic writes left behind
    (:func:`obandits.fileio.tmp_name`: ``.NAME.tmpPID``)."""
    stale = [p for name in OUTPUT_FILES for p in out.glob(f".{name}.tmp*")]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _same_problems(path: Path, problems) -> None:
    from .tasks import load_jsonl

    if not path.is_file():
        raise ValueError(f"--resume: {path} is missing, so the problems cannot be checked")
    saved = load_jsonl(path)
    if saved != list(problems):
        first = next((i for i, (a, b) in enumerate(zip(saved, problems)) if a != b),
                     min(len(saved), len(problems)))
        raise ValueError(f"--resume: the problems differ from {path} (first at index {first}; "
                         f"the task data changed): use the same task or another --out")


def _write_json(path: Path, obj) -> None:
    payload = (json.dumps(obj, indent=2) + "\n").encode()
    atomic_write(path, payload, mkdir=True)


def run(cfg: RunConfig | argparse.Namespace) -> dict:
    """Train as ``cfg`` says; returns ``{"train": [...], "eval": [...], "out": path}``.

    Every check that can refuse the call (flags, task files, the output directory, a resume
    that does not match the saved run) runs before the model is loaded and before anything is
    written."""
    from .models import model_location, resolve_device, resolve_dtype

    if isinstance(cfg, argparse.Namespace):
        cfg = config_from_args(cfg)
    train, test = _tasks(cfg)
    model_location(cfg.model)  # a missing model is refused before anything is written
    resolve_dtype(cfg.dtype, resolve_device(cfg.device))
    mode = _check_out(cfg)  # creates OUT: the first write
    with RunLock(cfg.out):  # from here on this process is OUT's only writer
        return _train(cfg, mode, train, test)


def _train(cfg: RunConfig, mode: str, train, test) -> dict:
    """:func:`run` after the checks, under OUT's lock."""
    import torch
    from tqdm import tqdm

    from obandits.tables import markdown_table

    from .models import load_model
    from .tasks import save_jsonl
    from .trainer import GRPOTrainer

    config = cfg.train
    method = config.bonus.method
    out = Path(cfg.out)
    ckpt, log_path = out / "checkpoint.pt", out / "log.jsonl"
    if mode != "fresh":
        _same_problems(out / "train.jsonl", train)
        _same_problems(out / "test.jsonl", test)
    if mode == "restart":
        print(f"llm_bridge.train: {out} has no checkpoint yet (stopped before the first save): "
              f"starting it again from step 0", file=sys.stderr)
    if cfg.overwrite:
        for name in ("checkpoint.pt", "log.jsonl", "curves.png"):
            (out / name).unlink(missing_ok=True)
    _remove_stale_temp_files(out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    model, tok, device = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype,
                                    seed=config.seed)
    load_seconds = time.perf_counter() - t0
    ref = copy.deepcopy(model) if config.kl_beta > 0 else None
    trainer = GRPOTrainer(model, tok, train, config, ref_model=ref)
    records: list[dict] = []
    if mode == "resume":
        trainer.load(ckpt)
        records = _read_log(log_path, trainer.step_count)
    if mode != "resume":
        save_jsonl(train, out / "train.jsonl")
        save_jsonl(test, out / "test.jsonl")
    if mode == "fresh":
        meta = {"args": flatten(cfg), "config": dataclasses.asdict(config),
                "device": str(device), "dtype": str(next(model.parameters()).dtype),
                "torch": torch.__version__, "model_load_seconds": load_seconds,
                "n_train": len(train), "n_test": len(test)}
        _write_json(out / "config.json", meta)  # kept as is on resume: it names the run
    eval_set = test[: cfg.eval_problems]

    # Rewritten atomically on resume: drops the records past the checkpoint.
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    atomic_write(log_path, text, mkdir=True)

    def emit(rec):
        records.append(rec)
        with open(log_path, "a") as fh:  # one write() per record (under the buffer size)
            fh.write(json.dumps(rec) + "\n")

    def want_eval(step):
        if not cfg.eval:
            return False
        if step in (0, cfg.steps):
            return True
        return cfg.eval_every > 0 and step % cfg.eval_every == 0

    if trainer.step_count == 0 and want_eval(0):
        emit(trainer.evaluate(eval_set, cfg.eval_samples))
    bar = tqdm(total=cfg.steps, initial=min(trainer.step_count, cfg.steps),
               desc=f"llm {method}", disable=cfg.quiet, unit="step")
    while trainer.step_count < cfg.steps:
        rec = trainer.step()
        emit(rec)
        bar.update(1)
        bar.set_postfix(reward=f"{rec['reward']:.2f}", tok_s=f"{rec['gen_tokens_per_s']:.0f}")
        s = trainer.step_count
        if want_eval(s):
            emit(trainer.evaluate(eval_set, cfg.eval_samples))
        if cfg.save_every and s % cfg.save_every == 0 and s < cfg.steps:
            trainer.save(ckpt)
    bar.close()
    trainer.save(ckpt)

    tr = [r for r in records if r["kind"] == "train"]
    ev = [r for r in records if r["kind"] == "eval"]
    rows = []
    for r in ev:
        pk = r["pass@k"]
        rows.append([r["step"], pk.get("1"), pk.get("8"), pk.get(str(max(map(int, pk)))),
                     r["distinct_all"], r["unparseable"]])
    print(f"\n{method} on {cfg.model} ({len(train)} train / {len(test)} test problems, "
          f"{device}):")
    if tr:
        print(markdown_table(["steps", "mean reward", "gen tok/s", "step s", "bonus s share"],
                             [[len(tr), sum(r["reward"] for r in tr) / len(tr),
                               sum(r["gen_tokens_per_s"] for r in tr) / len(tr),
                               sum(r["step_seconds"] for r in tr) / len(tr),
                               sum(r["bonus_seconds"] for r in tr) /
                               sum(r["step_seconds"] for r in tr)]], digits=4))
    if rows:
        print(markdown_table(["eval step", "pass@1", "pass@8", "pass@max", "distinct/problem",
                              "unparseable"], rows))
    if cfg.plot and records:
        from .plot import plot_runs

        plot_runs({method: records}, out / "curves.png")
    return {"train": tr, "eval": ev, "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    """Parse, train; a user's error is one line on stderr and exit status 2 (``--debug``: the
    traceback too)."""
    ns = build_parser().parse_args(argv)
    try:
        run(config_from_args(ns))
    except (ValueError, OSError) as exc:
        if ns.debug:
            traceback.print_exc()
        print(f"llm_bridge.train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
