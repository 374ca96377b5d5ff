"""The wheel and the sdist carry every experiment config and the reference data as package
data, found through importlib.resources (obandits.resources); a user's own TOML path still
wins over a shipped config of the same name. (.ci/wheel installs the wheel into a fresh
environment and runs a reduced main job outside the repository.)"""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from obandits import resources
from obandits.sweep import load_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("experiments/*/*.toml"))


def _installed_name(rel: str) -> str:
    for root, sub in resources.ROOTS.items():
        if rel.startswith(root + "/"):
            return f"obandits/data/{sub}/{rel[len(root) + 1:]}"
    raise AssertionError(rel)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                    "b.build_sdist(sys.argv[1])", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    return out


def test_wheel_and_sdist_ship_every_config_and_the_authors_table(dist):
    assert len(SHIPPED) >= 9
    want = {_installed_name(r) for r in [*SHIPPED, "docs/data/bu2025/authors.csv"]}
    (whl,) = dist.glob("obandits-*.whl")
    in_wheel = set(zipfile.ZipFile(whl).namelist())
    assert want <= in_wheel, sorted(want - in_wheel)
    assert "obandits/resources.py" in in_wheel
    assert not [n for n in in_wheel if n.startswith("obandits/data/") and n.endswith(".py")]
    (sdist,) = dist.glob("obandits-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
    assert want <= set(members), sorted(want - set(members))
    assert all(members[n].isfile() for n in want)  # files, not the checkout's links


def test_resources_find_the_shipped_files():
    for rel in SHIPPED:
        assert resources.path(rel).read_bytes() == (ROOT / rel).read_bytes()
    assert resources.path("docs/data/bu2025/authors.csv").is_file()
    assert resources.find("experiments/none.toml") is None
    with pytest.raises(ValueError, match=r"^'README.md' is not among the files obandits ships"):
        resources.path("README.md")


def test_shipped_config_by_its_repository_path_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config("experiments/bandit/reduced.toml").name == "bandit-reduced"
    # a user's file of the same name wins
    mine = tmp_path / "experiments" / "bandit"
    mine.mkdir(parents=True)
    (mine / "reduced.toml").write_text(
        '[sweep]\nname = "mine"\nrunner = "bandit"\nroot_seed = 1\nreps = 2\n[[grid]]\n'
        'family = "partition"\nK = 8\nm = 2\ngap = 0.1\nlearner = "ucb1"\nT = 64\n')
    assert load_config("experiments/bandit/reduced.toml").name == "mine"
