"""Spec 1 §2: the count history N(x, a), its id mapping and its versioned file formats."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.counts import AnswerIndex, CountTable, History


def test_update_and_lookup_grow_on_demand():
    t = CountTable()
    t.update([0, 0, 2], [1, 1, 5])
    np.testing.assert_array_equal(t.lookup([0, 2, 1, 9], [1, 5, 0, 9]), [2, 1, 0, 0])
    assert t.counts.shape == (3, 6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), min_size=1, max_size=60))
def test_counts_match_a_plain_counter(pairs):
    t = CountTable()
    p, o = np.array(pairs).T
    for i in range(0, len(p), 7):  # several batches
        t.update(p[i:i + 7], o[i:i + 7])
    for (pi, oi) in set(pairs):
        assert t.lookup([pi], [oi])[0] == pairs.count((pi, oi))


def test_count_table_save_load_roundtrip(tmp_path):
    t = CountTable()
    t.update([0, 1, 1], [3, 0, 0])
    t.save(tmp_path / "c.npz")
    assert CountTable.load(tmp_path / "c.npz") == t


def test_count_table_rejects_foreign_files(tmp_path):
    np.savez(tmp_path / "x.npz", counts=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not an obandits.counts v1 file"):
        CountTable.load(tmp_path / "x.npz")


def test_count_table_rejects_bad_ids():
    t = CountTable()
    with pytest.raises(ValueError, match="prompt must be >= 0"):
        t.update([-1], [0])
    with pytest.raises(ValueError, match="same length"):
        t.update([0, 1], [0])
    with pytest.raises(ValueError, match="n_prompts must be >= 0"):
        CountTable(-1, 2)


def test_answer_index_maps_keys_per_prompt_with_none_as_an_outcome():
    idx = AnswerIndex()
    p, o = idx.ids(["q1", "q1", "q1", "q2", "q1"], ["7", None, "7", "7", None])
    np.testing.assert_array_equal(p, [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(o, [0, 1, 0, 0, 1])
    assert idx.answer_key(0, 1) is None


def test_answer_index_rejects_unhashable_keys():
    with pytest.raises(ValueError, match="hashable"):
        AnswerIndex().ids(["q"], [["not", "hashable"]])


answer_keys = st.one_of(st.none(), st.text(max_size=4), st.integers(-5, 5))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p", "q", 3]), answer_keys), min_size=1,
                max_size=40))
def test_history_save_load_resumes_identically(tmp_path_factory, batch):
    prompts, answers = [b[0] for b in batch], [b[1] for b in batch]
    h = History()
    h.update(prompts, answers)
    path = tmp_path_factory.mktemp("h") / "history.json"
    h.save(path)
    h2 = History.load(path)
    assert h2 == h
    np.testing.assert_array_equal(h2.lookup(prompts, answers), h.lookup(prompts, answers))
    # Both continue identically.
    h.update(prompts[:3], answers[:3])
    h2.update(prompts[:3], answers[:3])
    assert h2 == h


def test_history_file_format_is_documented_json(tmp_path):
    h = History()
    h.update(["q", "q", "q"], ["1", "2", "1"])
    h.save(tmp_path / "h.json")
    data = json.loads((tmp_path / "h.json").read_text())
    assert data == {"format": "obandits.history", "version": 1, "prompts": ["q"],
                    "answers": [["1", "2"]], "counts": [[2, 1]]}
    data["version"] = 2
    with pytest.raises(ValueError, match="not an obandits.history v1"):
        History.from_dict(data)


def test_history_rejects_keys_json_cannot_hold(tmp_path):
    h = History()
    h.update(["q"], [("tuple", 1)])
    with pytest.raises(ValueError, match="cannot be saved"):
        h.save(tmp_path / "h.json")


def test_lookup_never_registers_answers():
    h = History()
    h.update(["q"], ["a"])
    np.testing.assert_array_equal(h.lookup(["q", "q", "new"], ["a", "zzz", "a"]), [1, 0, 0])
    assert h.distinct("q") == 1 and h.distinct("new") == 0


def test_saved_files_are_world_readable(tmp_path):
    h = History()
    h.update(["q"], ["a"])
    h.save(tmp_path / "h.json")
    assert (tmp_path / "h.json").stat().st_mode & 0o777 == 0o644


def _doc(**fields):
    doc = {"format": "obandits.history", "version": 1, "prompts": ["q", "r"],
           "answers": [["1", "2"], ["3"]], "counts": [[2, 1], [4]]}
    doc.update(fields)
    return doc


@pytest.mark.parametrize("fields,field", [
    (dict(prompts=["q"]), "one length"),                                # zip would truncate
    (dict(counts=[[2, 1]]), "one length"),
    (dict(counts=[[2], [4]]), "counts[0]"),                             # answers vs counts
    (dict(prompts=["q", "q"]), "prompts[1]"),                           # duplicate prompt
    (dict(answers=[["1", "1"], ["3"]]), "answers[0][1]"),               # duplicate answer
    (dict(counts=[[2.0, 1], [4]]), "counts[0][0]"),                     # float count
    (dict(counts=[[2, "1"], [4]]), "counts[0][1]"),                     # string count
    (dict(counts=[[2, 1], [-4]]), "counts[1][0]"),                      # negative count
    (dict(counts=[[2, True], [4]]), "counts[0][1]"),                    # bool count
    (dict(prompts="qr"), "'prompts' must be a list"),                   # string as the list
    (dict(answers=[["1", ["x"]], ["3"]]), "answers[0][1]"),             # non-scalar key
    (dict(prompts=[float("nan"), "r"]), "prompts[0]"),
])
def test_history_load_rejects_malformed_documents(tmp_path, fields, field):
    path = tmp_path / "h.json"
    path.write_text(json.dumps(_doc(**fields)))
    with pytest.raises(ValueError) as err:
        History.load(path)
    assert str(path) in str(err.value) and field in str(err.value)
    assert "\n" not in str(err.value)


def test_history_load_names_a_garbage_file(tmp_path):
    path = tmp_path / "h.json"
    path.write_text('{"format": "obandits.history", "vers')
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        History.load(path)


@pytest.mark.parametrize("key", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_float_keys_are_refused(key):
    with pytest.raises(ValueError, match="float keys must be finite"):
        History().update(["q"], [key])
    with pytest.raises(ValueError, match="float keys must be finite"):
        History().update([key], ["a"])


def test_finite_float_keys_round_trip(tmp_path):
    h = History()
    h.update(["q", "q", 2.5], [0.25, 0.25, -1e300])
    h.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json") == h


@pytest.mark.parametrize("counts,what", [
    (np.array([[1, -2]]), ">= 0"),
    (np.array([[1.0, np.nan]]), "nan"),
    (np.array([1, 2]), "2-D"),
    (np.array([["a"]]), "integer"),
])
def test_count_table_load_rejects_bad_counts(tmp_path, counts, what):
    path = tmp_path / "c.npz"
    np.savez(path, format=np.array("obandits.counts"), version=np.array(1), counts=counts)
    with pytest.raises(ValueError) as err:
        CountTable.load(path)
    assert str(path) in str(err.value) and "counts" in str(err.value) and what in str(err.value)


def test_count_table_load_names_a_truncated_file(tmp_path):
    t = CountTable()
    t.update([0], [1])
    t.save(tmp_path / "c.npz")
    raw = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "c.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="c.npz"):
        CountTable.load(tmp_path / "c.npz")


def test_from_dict_takes_numpy_integer_counts():
    """Review of issue 15: the stricter check refused np.int64 counts (a dict built from a
    numpy table in Python), which are non-negative integers like any other."""
    doc = _doc(counts=[list(np.array([2, 1])), [np.int64(4)]])
    h = History.from_dict(doc)
    assert h.to_dict() == _doc()
