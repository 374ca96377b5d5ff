"""The LLM command line (issue 17 point 2): flags generated from the config dataclasses, one
BonusConfig carried unchanged, the shared names, and the train|plot|compare dispatcher."""

import dataclasses
import subprocess
import sys

from llm_bridge import cli
from llm_bridge.train import RunConfig, build_parser, parse_config
from llm_bridge.trainer import TrainConfig
from obandits.bonuses import BonusConfig


def _all_fields(cls):
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not
                                    dataclasses.MISSING else None):
            out += _all_fields(f.default_factory)
        else:
            out.append(f.name)
    return out


def test_every_config_field_has_a_flag_with_help():
    parser = build_parser()
    actions = {a.dest: a for a in parser._actions}
    for name in _all_fields(RunConfig):
        assert name in actions, name
        assert actions[name].help, name
    # The shared names of common.md; the old spelling of the KL weight still parses.
    for flag in ("--n-rollouts", "--kl-beta", "--clip-eps", "--ppo-epochs", "--c", "--b0",
                 "--method", "--count-mode", "--scale", "--no-all-correct-rule"):
        assert flag in parser._option_string_actions, flag
    assert parse_config(["--beta-kl", "0.1"]).train.kl_beta == 0.1


def test_defaults_come_from_the_dataclasses():
    assert parse_config([]) == RunConfig()
    assert RunConfig().train == TrainConfig() and TrainConfig().bonus == BonusConfig()


def test_one_bonus_config_from_flags_to_trainer():
    cfg = parse_config(["--method", "ucb-con", "--c", "0.3", "--b0", "0.7", "--scale", "none",
                        "--no-all-correct-rule", "--count-mode", "after", "--ddof", "1"])
    assert cfg.train.bonus == BonusConfig(method="ucb-con", c=0.3, b0=0.7, scale="none",
                                          all_correct_rule=False, count_mode="after", ddof=1)
    assert parse_config(["--method", "grpo"]).train.bonus.method == "none"
    assert cli.flatten(cfg)["c"] == 0.3 and cli.flatten(cfg)["levels"] == [1, 2, 3]


def test_docstring_attributes_give_the_bonus_help():
    doc = cli._docstring_help(BonusConfig)
    assert set(doc) == {f.name for f in dataclasses.fields(BonusConfig)}
    assert doc["b0"].startswith("UCB-Con baseline")


def test_python_m_train_still_works():
    res = subprocess.run([sys.executable, "-m", "llm_bridge.train", "--steps", "0"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--steps must be >= 1" in res.stderr
    assert res.stderr.count("\n") == 1


def test_plot_and_help_do_not_import_torch():
    code = ("import sys; from llm_bridge import cli; cli.main(['--help']); "
            "cli.main(['plot', '/no/such/run', '--out', 'x.png']); "
            "print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.stdout.strip().endswith("False"), res.stdout + res.stderr


def test_debug_shows_the_traceback_of_plot_too(capsys):
    """Review of issue 15: 'obandits llm --debug plot' swallowed --debug (only train got it)."""
    assert cli.main(["plot", "/no/such/run", "--out", "x.png"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert cli.main(["--debug", "plot", "/no/such/run", "--out", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "log not found: /no/such/run" in err
