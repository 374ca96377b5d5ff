"""One config language: the simulators' flags are generated from the config dataclasses under
the names of the TOML keys, and the command line describes the same cells as the TOML files."""

import argparse
from dataclasses import dataclass, field

import pytest

from obandits.cli import build_parser
from obandits.options import add_arguments, docstring_help, option
from obandits.rlsim import runner
from obandits.rlsim.cli import sweep_dict
from obandits.sweep import config_from_dict, load_config


def _parse(argv):
    return build_parser(argv[0]).parse_args(argv)


def test_rlsim_flags_are_the_toml_keys():
    a = _parse(["rlsim", "compare"])
    assert set(a.cell_keys) == set(runner.DEFAULTS) | {"method"}
    assert all(getattr(a, k) == runner.DEFAULTS[k] for k in runner.DEFAULTS if k != "ks")


@pytest.mark.parametrize("command,toml", [("compare", "experiments/rlsim/compare.toml"),
                                          ("sensitivity", "experiments/rlsim/sensitivity.toml")])
def test_rlsim_defaults_describe_the_committed_sweeps(command, toml):
    a = _parse(["rlsim", command])
    cli = config_from_dict(sweep_dict(a, f"rlsim-{command}"))
    ref = load_config(toml)
    assert [c.key for c in cli.cells] == [c.key for c in ref.cells]
    assert (cli.root_seed, cli.reps) == (ref.root_seed, ref.reps)


def test_a_list_flag_is_a_grid_axis_and_old_spellings_still_work():
    a = _parse(["rlsim", "compare", "--share", "0,2", "--batch", "4", "--methods", "ucb-con",
                "--kl-beta", "0.1", "--ks", "1,8"])
    raw = sweep_dict(a, "x")
    assert raw["grid"] == [{"method": ["ucb-con", "base"], "share": [0.0, 2.0]}]
    assert raw["fixed"]["batch_prompts"] == 4 and raw["fixed"]["kl_beta"] == 0.1
    assert raw["fixed"]["ks"] == "1,8"
    assert len(config_from_dict(raw).cells) == 4


def test_bad_flag_values_are_refused_naming_the_flag(capsys):
    from obandits.cli import main

    assert main(["rlsim", "compare", "--steps", "many"]) == 2
    err = capsys.readouterr().err
    assert err == "obandits rlsim compare: error: argument --steps: expected int, got 'many' " \
                  "(see --help)\n"


def test_help_comes_from_metadata_else_the_docstring():
    @dataclass
    class C:
        """Doc.

        Attributes:
            alpha: from the
                docstring, two lines.
            beta (float): typed entry.
        """

        alpha: int = 1
        beta: float = 0.5
        gamma: bool = option(False, "from metadata")

    assert docstring_help(C) == {"alpha": "from the docstring, two lines.",
                                 "beta": "typed entry."}
    p = argparse.ArgumentParser()
    add_arguments(p, C)
    text = p.format_help()
    assert "from the docstring, two lines. (default: 1)" in text and "from metadata" in text
    assert p.parse_args(["--alpha", "3", "--gamma"]).__dict__ == {"alpha": 3, "beta": 0.5,
                                                                  "gamma": True}


def test_nested_dataclasses_flatten_and_rebuild():
    """One generator for every CLI (issue 17 point 2): nested fields keep their own names, in a
    group of their own; from_args rebuilds the nested object; errors name the flag."""
    from obandits.options import OneLineParser, flatten, from_args

    @dataclass(frozen=True)
    class Inner:
        c: float = option(1.0, "coefficient")
        levels: tuple[int, ...] = option((1, 2), "levels")

        def __post_init__(self):
            if self.c < 0:
                raise ValueError(f"c must be >= 0, got {self.c}")

    @dataclass(frozen=True)
    class Outer:
        out: str = field(metadata={"help": "where"})
        name: str | None = option(None, "a name")
        inner: Inner = field(default_factory=Inner, metadata={"help": "the inner one"})

    p = OneLineParser(prog="t")
    assert add_arguments(p, Outer) == ["out", "name", "c", "levels"]
    assert "inner: the inner one" in p.format_help()
    cfg = from_args(Outer, p.parse_args(["--out", "o", "--c", "2", "--levels", "3,4",
                                         "--name", "none"]), flag_errors=True)
    assert cfg == Outer(out="o", name=None, inner=Inner(c=2.0, levels=(3, 4)))
    assert flatten(cfg) == {"out": "o", "name": None, "c": 2.0, "levels": [3, 4]}
    with pytest.raises(ValueError, match="^--c must be >= 0"):
        from_args(Outer, p.parse_args(["--out", "o", "--c", "-1"]), flag_errors=True)
    with pytest.raises(SystemExit):  # --out has no default: required
        p.parse_args([])

    @dataclass
    class Twice:
        c: int = 0
        inner: Inner = field(default_factory=Inner)

    with pytest.raises(TypeError, match="--c would be defined twice"):
        add_arguments(argparse.ArgumentParser(), Twice)
