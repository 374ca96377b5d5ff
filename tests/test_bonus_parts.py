"""``shaped_parts_nb`` (the cold-start variant the simulators call) against the full kernel."""

import numpy as np
import pytest

from obandits.bonuses import METHOD_CODE, kernel_parts, shaped_advantages_nb, shaped_parts_nb


def _run(kernel, method, c, *extra):
    rng = np.random.default_rng(3)
    n, n_groups = 80, 2  # groups of 40: the Batch bonus takes its sorting path
    group = np.repeat(np.arange(n_groups), n // n_groups)
    outcome = rng.integers(0, 6, n)
    reward = (outcome < 2).astype(float)
    count = rng.integers(0, 9, n).astype(float)
    out = [np.empty(n) for _ in range(3)]
    kernel(group, outcome, reward, count, n_groups, method, c, 0.3, True, 1.0, 0, 1e-6, 1,
           *out, *extra)
    return out


@pytest.mark.parametrize("name", list(METHOD_CODE))
@pytest.mark.parametrize("c", [0.0, 0.7])
def test_parts_equal_full_kernel(name, c):
    code = METHOD_CODE[name]
    full = _run(shaped_advantages_nb, code, c)
    parts = _run(shaped_parts_nb, code, c, *kernel_parts(code, c))
    for a, b in zip(full, parts):
        assert np.array_equal(a, b)


def test_pruned_part_needed_raises():
    with pytest.raises(ValueError, match="bonus_on=None"):
        _run(shaped_parts_nb, METHOD_CODE["ucb"], 0.7, None, None)
    with pytest.raises(ValueError, match="batch_on=None"):
        _run(shaped_parts_nb, METHOD_CODE["batch"], 0.7, True, None)


@pytest.mark.parametrize("stride", [1, 1 << 29, (1 << 40) + 3])
def test_batch_hash_path_exact(stride):
    """Groups above 32 count duplicates in a hash table (keys sharing low or high bits): the
    kernel's ``-c (dup - 1) / m``, bit for bit."""
    rng = np.random.default_rng(stride % 1000)
    n, c = 300, 0.9
    group = rng.integers(0, 3, n)
    outcome = rng.integers(0, 40, n) * stride
    out = [np.empty(n) for _ in range(3)]
    shaped_advantages_nb(group, outcome, np.zeros(n), np.ones(n), 3, METHOD_CODE["batch"], c,
                         0.0, False, 1.0, 0, 1e-6, 0, *out)
    for i in range(n):
        same = group == group[i]
        dup = int(np.sum(same & (outcome == outcome[i])))
        assert out[2][i] == -c * (dup - 1) / int(same.sum())
