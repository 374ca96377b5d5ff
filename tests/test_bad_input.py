"""Issue 15: a bad-input matrix for the Python API, count files, answer files, the LLM command
line and files on disk. Each case asserts a one-line message that names the argument or file
and what is allowed, a non-zero exit for command-line cases, and nothing written or changed.
(The sweep side of the matrix lives with the sweep tests.)"""

import hashlib
import json
import shutil

import numpy as np
import pytest

from llm_bridge import cli as llm_cli
from llm_bridge.answers import canonical_answer, extract_answer
from llm_bridge.models import TinyConfig, load_tokenizer, resolve_device, resolve_dtype, tiny_model
from llm_bridge.tasks import arithmetic_problems, arithmetic_task, load_jsonl, train_test_split
from llm_bridge.train import RunConfig
from llm_bridge.train import main as train_main
from llm_bridge.trainer import GRPOTrainer, TrainConfig
from obandits.bonuses import BonusConfig, shaped_advantages
from obandits.counts import CountTable, History


def one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


# ------------------------------------------------------------------------------ Python API

API_CASES = {
    "n_rollouts 0": (lambda: TrainConfig(n_rollouts=0), "n_rollouts must be >= 1"),
    "temperature 0": (lambda: TrainConfig(temperature=0.0), "temperature must be > 0"),
    "top_p < 1": (lambda: TrainConfig(top_p=0.9), "top_p must be 1.0"),
    "kl_beta < 0": (lambda: TrainConfig(kl_beta=-1.0), "kl_beta must be >= 0"),
    "loss_agg": (lambda: TrainConfig(loss_agg="mean"), "loss_agg must be one of"),
    "bonus as dict": (lambda: TrainConfig(bonus={"method": "ucb"}), "bonus must be an obandits"),
    "c NaN": (lambda: BonusConfig(c=float("nan")), "c must be finite"),
    "b0 > 1": (lambda: BonusConfig(b0=2.0), "b0 must be <= 1"),
    "huge reward": (lambda: shaped_advantages([0, 0], [0, 1], [0.0, 1e200], [0, 0]),
                    "reward must lie in"),
    "unequal lengths": (lambda: shaped_advantages([0, 1], [0, 1], [1.0], [0, 0]),
                        "same length"),
    "no problems": (lambda: arithmetic_problems(0), "n must be a positive integer"),
    "level 9": (lambda: arithmetic_problems(5, levels=(9,)), "levels must be a non-empty"),
    "n_test 0": (lambda: train_test_split(arithmetic_problems(5), 0), "n_test must be in"),
    "answer not str": (lambda: canonical_answer(12), "answer must be a str"),
    "text not str": (lambda: extract_answer(None), "text must be a str"),
    "NaN answer key": (lambda: History().update(["q"], [float("nan")]),
                       "float keys must be finite"),
    "negative table": (lambda: CountTable(-1, 2), "n_prompts must be >= 0"),
    "device": (lambda: resolve_device("tpu0"), "device must be 'auto'"),
    "dtype": (lambda: resolve_dtype("int8", resolve_device("cpu")), "dtype must be one of"),
    "run steps 0": (lambda: RunConfig(steps=0), "steps must be >= 1"),
    "run levels": (lambda: RunConfig(levels=(7,)), "levels must be a non-empty subset"),
    "resume + overwrite": (lambda: RunConfig(resume=True, overwrite=True), "exclude each other"),
}


@pytest.mark.parametrize("case", API_CASES)
def test_python_api(case):
    make, message = API_CASES[case]
    with pytest.raises(ValueError) as err:
        make()
    assert message in one_line(str(err.value))


def test_checkpoint_of_another_model_is_one_line(tmp_path):
    tok = load_tokenizer("tiny")
    train, _ = arithmetic_task(4, 1)
    GRPOTrainer(tiny_model(tok), tok, train).save(tmp_path / "ck.pt")
    wide = tiny_model(tok, config=TinyConfig(hidden=64, intermediate=96))
    with pytest.raises(ValueError) as err:
        GRPOTrainer(wide, tok, train).load(tmp_path / "ck.pt")
    assert "ck.pt: the checkpoint's weights do not fit this model" in one_line(str(err.value))


# ------------------------------------------------------------------------------ count files

HISTORY = {"format": "obandits.history", "version": 1, "prompts": ["q", "r"],
           "answers": [["1", "2"], ["3"]], "counts": [[2, 1], [4]]}
HISTORY_CASES = {
    "unequal lengths": ({"prompts": ["q"]}, "one length"),
    "duplicate prompt": ({"prompts": ["q", "q"]}, "'prompts[1]' repeats"),
    "float count": ({"counts": [[2.0, 1], [4]]}, "'counts[0][0]' must be a non-negative integer"),
    "string count": ({"counts": [[2, "1"], [4]]}, "'counts[0][1]' must be a non-negative"),
    "negative count": ({"counts": [[2, 1], [-4]]}, "'counts[1][0]' must be a non-negative"),
    "prompts a string": ({"prompts": "qr"}, "'prompts' must be a list"),
}


@pytest.mark.parametrize("case", HISTORY_CASES)
def test_history_files(tmp_path, case):
    fields, message = HISTORY_CASES[case]
    path = tmp_path / "history.json"
    path.write_text(json.dumps({**HISTORY, **fields}))
    before = path.read_bytes()
    with pytest.raises(ValueError) as err:
        History.load(path)
    text = one_line(str(err.value))
    assert str(path) in text and message in text
    assert path.read_bytes() == before


COUNT_CASES = {"negative": np.array([[1, -2]]), "NaN": np.array([[1.0, np.nan]]),
               "1-D": np.array([1, 2]), "truncated": None}


@pytest.mark.parametrize("case", COUNT_CASES)
def test_count_files(tmp_path, case):
    path = tmp_path / "counts.npz"
    if COUNT_CASES[case] is None:
        t = CountTable()
        t.update([0], [1])
        t.save(path)
        path.write_bytes(path.read_bytes()[:100])
    else:
        np.savez(path, format=np.array("obandits.counts"), version=np.array(1),
                 counts=COUNT_CASES[case])
    with pytest.raises(ValueError) as err:
        CountTable.load(path)
    assert str(path) in one_line(str(err.value))


# ------------------------------------------------------------------------------ answer files

JSONL_CASES = {
    "null answer": ('{"prompt": "2+2?", "answer": null}', ":1: field 'answer' must be a string"),
    "no prompt": ('{"answer": 4}', ":1: needs a prompt"),
    "not JSON": ('{"prompt": "2+2?", "answer": 4', ":1: not valid JSON"),
    "not an object": ("[1, 2]", ":1: must be a JSON object"),
    "unparseable gold": ('{"prompt": "2+2?", "answer": "???"}', ":1: gold answer '???'"),
    "duplicate ids": ('{"id": "a", "prompt": "x", "answer": 1}\n'
                      '{"id": "a", "prompt": "y", "answer": 2}', "ids are not unique"),
    "empty": ("\n", "no problems"),
}


@pytest.mark.parametrize("case", JSONL_CASES)
def test_answer_files(tmp_path, case):
    text, message = JSONL_CASES[case]
    path = tmp_path / "gold.jsonl"
    path.write_text(text + "\n")
    with pytest.raises(ValueError) as err:
        load_jsonl(path)
    line = one_line(str(err.value))
    assert str(path) in line and message in line


# ------------------------------------------------------------------------------ LLM command line

BASE = ["--model", "tiny", "--prompts-per-step", "1", "--n-rollouts", "2", "--max-new-tokens",
        "4", "--n-train", "6", "--n-test", "2", "--eval-problems", "1", "--eval-samples", "2",
        "--steps", "1", "--quiet", "--no-plot", "--threads", "1"]


def snapshot(path):
    if not path.exists():
        return None
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def refused(argv, capsys, *messages, entry=train_main):
    try:
        code = entry(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    line = one_line(err)
    for m in messages:
        assert m in line, (m, line)
    return line


CLI_CASES = {
    "steps 0": (["--steps", "0"], ["--steps must be >= 1"]),
    "n-rollouts 0": (["--n-rollouts", "0"], ["--n-rollouts must be >= 1"]),
    "level 9": (["--levels", "1,9"], ["levels must be a non-empty subset of (1, 2, 3, 4, 5)"]),
    "levels text": (["--levels", "a,b"], ["--levels", "comma-separated integers"]),
    "method": (["--method", "ppo"], ["--method", "invalid choice"]),
    "c < 0": (["--c", "-1"], ["--c must be >= 0"]),
    "top-p": (["--top-p", "0.5"], ["--top-p must be 1.0"]),
    "lr NaN": (["--lr", "nan"], ["--lr must be finite"]),
    "int as text": (["--n-train", "ten"], ["--n-train", "expected int, got 'ten'"]),
    "unknown flag": (["--beta", "0.1"], ["unrecognized arguments: --beta"]),
    "missing model": (["--model", "{tmp}/nope"], ["model not found", "nope"]),
    "missing task": (["--task", "{tmp}/nope.jsonl"], ["task file not found", "nope.jsonl"]),
    "device": (["--device", "tpu"], ["device must be 'auto'"]),
    "dtype": (["--dtype", "int8"], ["dtype must be one of"]),
    "eval-every < 0": (["--eval-every", "-1"], ["--eval-every must be >= 0"]),
    "resume nothing": (["--resume"], ["holds no run to resume"]),
    "test-task without task": (["--test-task", "{tmp}/t.jsonl"], ["--test-task needs a JSONL"]),
    "resume + overwrite": (["--resume", "--overwrite"], ["exclude each other"]),
    "out is a file": (["--out", "{tmp}/afile"], ["afile: exists and is not a directory"]),
    "out under a file": (["--out", "{tmp}/afile/sub"],
                         ["afile/sub: cannot write there (Not a directory)"]),
    "out in /proc": (["--out", "/proc/obandits-test/run"], ["cannot write there"]),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_llm_command_line(tmp_path, capsys, case):
    extra, messages = CLI_CASES[case]
    (tmp_path / "afile").write_text("not a directory")
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    out = tmp_path / "run"
    before = snapshot(tmp_path)
    refused(BASE + ["--out", str(out)] + extra, capsys, *messages)
    assert snapshot(tmp_path) == before and not out.exists()


def test_llm_dispatcher(tmp_path, capsys):
    refused(["nope"], capsys, "unknown command 'nope'", entry=llm_cli.main)
    refused(["plot", "/no/such/run", "--out", "x.png"], capsys, "log not found",
            entry=llm_cli.main)
    cut = tmp_path / "log.jsonl"
    cut.write_text('{"kind": "train", "step": 1}\n{"kind": "tr')
    refused(["plot", str(cut), "--out", str(tmp_path / "x.png")], capsys,
            "log.jsonl:2: not a log record", entry=llm_cli.main)
    assert not (tmp_path / "x.png").exists()
    assert llm_cli.main(["--help"]) == 0 and "train" in capsys.readouterr().out
    try:
        import llm_bridge.compare  # noqa: F401  (helper trl's module)
    except ModuleNotFoundError:
        refused(["compare"], capsys, "llm_bridge.compare is not installed",
                entry=llm_cli.main)


# ------------------------------------------------------------------------------ files on disk


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("saved") / "run"
    assert train_main(BASE + ["--out", str(out)]) == 0
    return out


def _cut_last_log_line(out):
    log = out / "log.jsonl"
    log.write_bytes(log.read_bytes()[:-20])


def _garbage(name):
    def f(out):
        (out / name).write_bytes(b"\x00garbage" * 10)
    return f


def _truncate_checkpoint(out):
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])


def _edit_problems(out):
    lines = (out / "train.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["answer"] = "12345"
    (out / "train.jsonl").write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")


def _older_version(out):
    """config.json as the version before issue 15 wrote it (argparse names, levels a string):
    it was refused as '--levels was '1,2,3', now [1, 2, 3]', which no flag could fix."""
    meta = json.loads((out / "config.json").read_text())
    args = {k: v for k, v in meta["args"].items() if k not in ("kl_beta", "ddof", "eps")}
    args.update(levels="1,2,3", beta_kl=0.0, no_eval=False, no_plot=True)
    (out / "config.json").write_text(json.dumps({**meta, "args": args}))


DISK_CASES = {
    "fresh run over a checkpoint": ([], None, ["holds a checkpoint of another run",
                                              "--overwrite"]),
    "resume other levels": (["--resume", "--levels", "1,2"], None,
                            ["--levels was [1, 2, 3]", "now [1, 2]"]),
    "resume other n-train": (["--resume", "--n-train", "7"], None, ["--n-train was 6", "now 7"]),
    "resume other n-test": (["--resume", "--n-test", "3"], None, ["--n-test was 2", "now 3"]),
    "resume other eval-samples": (["--resume", "--eval-samples", "4"], None,
                                  ["--eval-samples was 2"]),
    "resume other task": (["--resume", "--task", "{tmp}/mine.jsonl"], None,
                          ["--task was 'arithmetic'"]),
    "resume other c": (["--resume", "--c", "0.3"], None, ["--c was 0.2", "now 0.3"]),
    "resume other seed": (["--resume", "--seed", "1"], None, ["--seed was 0"]),
    "resume default model": (["--resume", "--model", "default"], None,
                             ["--model was 'tiny'", "now 'default'"]),
    "truncated checkpoint": (["--resume"], _truncate_checkpoint,
                             ["checkpoint.pt: not a readable checkpoint"]),
    "garbage checkpoint": (["--resume"], _garbage("checkpoint.pt"),
                           ["checkpoint.pt: not a readable checkpoint"]),
    "cut last log line": (["--resume"], _cut_last_log_line, ["log.jsonl:3: not a log record"]),
    "garbage config.json": (["--resume"], _garbage("config.json"), ["config.json is not a run"]),
    "config.json missing": (["--resume"], lambda out: (out / "config.json").unlink(),
                            ["config.json is missing"]),
    "problems edited": (["--resume"], _edit_problems,
                        ["the problems differ from", "train.jsonl"]),
    "run of an older version": (["--resume"], lambda out: _older_version(out),
                                ["config.json was written by an older llm_bridge",
                                 "another --out"]),
}


@pytest.mark.parametrize("case", DISK_CASES)
def test_files_on_disk(saved_run, tmp_path, capsys, case):
    extra, damage, messages = DISK_CASES[case]
    out = tmp_path / "run"
    shutil.copytree(saved_run, out)
    shutil.copy(out / "train.jsonl", tmp_path / "mine.jsonl")
    if damage:
        damage(out)
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    before = snapshot(out)
    refused(BASE + ["--out", str(out)] + extra, capsys, *messages)
    assert snapshot(out) == before  # config.json, checkpoint and log untouched


def test_matrix_size():
    n = (len(API_CASES) + 1 + len(HISTORY_CASES) + len(COUNT_CASES) + len(JSONL_CASES)
         + len(CLI_CASES) + 1 + len(DISK_CASES))
    assert n >= 35, n
