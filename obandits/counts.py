"""The answer-count history ``N(x, a)`` of Spec 1 §2.

* :class:`CountTable` -- dense counts for small integer prompt and outcome ids (simulators); it
  grows on demand.
* :class:`AnswerIndex` -- maps arbitrary hashable prompt keys and answer keys (strings, ints,
  ``None`` for an unparseable answer) to integer ids, per prompt, for callers like the LLM
  bridge whose answers are strings.
* :class:`History` -- both together: what a training run checkpoints.

File formats (versioned, documented here so other tools can read them):

* ``CountTable.save(path)`` writes a NumPy ``.npz`` with ``format = "obandits.counts"``,
  ``version = 1`` and ``counts`` (int64, shape ``(n_prompts, n_outcomes)``).
* ``History.save(path)`` writes JSON ``{"format": "obandits.history", "version": 1,
  "prompts": [key, ...], "answers": [[key, ...] per prompt], "counts": [[int, ...] per prompt]}``
  where ``answers[p][j]`` is the key of outcome id ``j`` of prompt ``p`` and ``counts[p][j]`` its
  count. Keys must be JSON scalars (str, int, float, bool or None); ``None`` is the
  unparseable outcome.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence

import numpy as np

from . import _validate as v
from .fileio import atomic_write

COUNTS_FORMAT, HISTORY_FORMAT, FORMAT_VERSION = "obandits.counts", "obandits.history", 1


class CountTable:
    """Dense ``N[prompt, outcome]`` (int64), growing when a larger id is seen."""

    def __init__(self, n_prompts: int = 0, n_outcomes: int = 0):
        n_prompts = v.int_scalar("n_prompts", n_prompts, min_value=0)
        n_outcomes = v.int_scalar("n_outcomes", n_outcomes, min_value=0)
        self.counts = np.zeros((n_prompts, n_outcomes), dtype=np.int64)

    def _ids(self, prompt, outcome):
        prompt = v.int_array("prompt", prompt, min_value=0)
        outcome = v.int_array("outcome", outcome, min_value=0)
        if len(prompt) != len(outcome):
            raise ValueError(f"prompt and outcome must have the same length, got "
                             f"{len(prompt)} and {len(outcome)}")
        return prompt, outcome

    def _grow(self, n_prompts: int, n_outcomes: int) -> None:
        p, o = self.counts.shape
        if n_prompts > p or n_outcomes > o:
            new = np.zeros((max(p, n_prompts), max(o, n_outcomes)), dtype=np.int64)
            new[:p, :o] = self.counts
            self.counts = new

    def update(self, prompt, outcome) -> None:
        """Add one to ``N[prompt_i, outcome_i]`` for every sample i."""
        prompt, outcome = self._ids(prompt, outcome)
        if len(prompt):
            self._grow(int(prompt.max()) + 1, int(outcome.max()) + 1)
            np.add.at(self.counts, (prompt, outcome), 1)

    def lookup(self, prompt, outcome) -> np.ndarray:
        """``N[prompt_i, outcome_i]`` per sample (0 for ids never seen)."""
        prompt, outcome = self._ids(prompt, outcome)
        p, o = self.counts.shape
        inside = (prompt < p) & (outcome < o)
        out = np.zeros(len(prompt), dtype=np.int64)
        out[inside] = self.counts[prompt[inside], outcome[inside]]
        return out

    def save(self, path) -> None:
        def write(fh):
            np.savez(fh, format=np.array(COUNTS_FORMAT), version=np.array(FORMAT_VERSION),
                     counts=self.counts)

        atomic_write(path, write, mkdir=True)

    @classmethod
    def load(cls, path) -> CountTable:
        """Read a file written by :meth:`save`; a ValueError names the file and the field when
        it is not one (foreign, truncated, or counts that are not a 2-D table of non-negative
        integers)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                fmt = str(data["format"]) if "format" in data else None
                ver = int(data["version"]) if "version" in data else None
                if fmt != COUNTS_FORMAT or ver != FORMAT_VERSION:
                    raise ValueError(f"{path}: not an {COUNTS_FORMAT} v{FORMAT_VERSION} file "
                                     f"(format={fmt!r}, version={ver!r})")
                if "counts" not in data:
                    raise ValueError(f"{path}: field 'counts' is missing")
                raw = data["counts"]
        except FileNotFoundError:
            raise FileNotFoundError(f"counts file not found: {path}") from None
        except ValueError:
            raise
        except Exception as exc:  # zipfile/pickle/EOF errors of a truncated or foreign file
            raise ValueError(f"{path}: not a readable {COUNTS_FORMAT} file ({exc})") from None
        try:
            counts = v.int_array("counts", raw, min_value=0, ndim=2)
        except ValueError as exc:
            raise ValueError(f"{path}: field {exc} (a 2-D table of non-negative integers is "
                             f"allowed)") from None
        table = cls()
        table.counts = np.array(counts, dtype=np.int64)
        return table

    def __eq__(self, other) -> bool:
        return isinstance(other, CountTable) and np.array_equal(self.counts, other.counts)


_JSON_SCALARS = (str, int, float, bool, type(None))


def _bad_float(key) -> bool:
    """NaN never equals itself, so it cannot be counted; inf does not round-trip through
    standard JSON. Both are refused as keys."""
    return isinstance(key, float) and not np.isfinite(key)


def _check_key(what: str, key, where: str = "") -> None:
    if _bad_float(key):
        raise ValueError(f"{where}{what} {key!r} is not allowed: float keys must be finite "
                         f"(NaN never equals itself, so its count would be lost)")


class AnswerIndex:
    """Per-prompt mapping of hashable answer keys to dense outcome ids ``0, 1, 2, ...``.

    Equal keys get equal ids within a prompt, in order of first appearance. ``None`` (an
    unparseable answer) is an outcome of its own, so repeated failure is a repeated outcome
    (Spec 1 §2, ours).
    """

    def __init__(self):
        self.prompts: dict[Hashable, int] = {}
        self.answers: list[dict[Hashable, int]] = []

    def prompt_id(self, key: Hashable) -> int:
        pid = self.prompts.get(key)
        if pid is None:
            pid = self.prompts[key] = len(self.answers)
            self.answers.append({})
        return pid

    def ids(self, prompt_keys: Sequence[Hashable], answers: Sequence[Hashable]):
        """Return ``(prompt_ids, outcome_ids)`` as int64 arrays, registering new keys."""
        if len(prompt_keys) != len(answers):
            raise ValueError(f"prompt_keys and answers must have the same length, got "
                             f"{len(prompt_keys)} and {len(answers)}")
        pids = np.empty(len(answers), dtype=np.int64)
        oids = np.empty(len(answers), dtype=np.int64)
        for i, (pk, ans) in enumerate(zip(prompt_keys, answers)):
            _check_key("prompt key", pk)
            _check_key("answer key", ans)
            try:
                pid = self.prompt_id(pk)
                table = self.answers[pid]
                oid = table.get(ans)
            except TypeError:
                raise ValueError(f"prompt and answer keys must be hashable, got "
                                 f"{pk!r} / {ans!r} at index {i}") from None
            if oid is None:
                oid = table[ans] = len(table)
            pids[i], oids[i] = pid, oid
        return pids, oids

    def find(self, prompt_keys: Sequence[Hashable], answers: Sequence[Hashable]):
        """Like :meth:`ids` but registers nothing: unknown prompts or answers get id -1."""
        if len(prompt_keys) != len(answers):
            raise ValueError(f"prompt_keys and answers must have the same length, got "
                             f"{len(prompt_keys)} and {len(answers)}")
        pids = np.full(len(answers), -1, dtype=np.int64)
        oids = np.full(len(answers), -1, dtype=np.int64)
        for i, (pk, ans) in enumerate(zip(prompt_keys, answers)):
            pid = self.prompts.get(pk, -1)
            if pid >= 0:
                pids[i], oids[i] = pid, self.answers[pid].get(ans, -1)
        return pids, oids

    def answer_key(self, prompt_id: int, outcome_id: int) -> Hashable:
        for key, oid in self.answers[prompt_id].items():
            if oid == outcome_id:
                return key
        raise KeyError(f"prompt {prompt_id} has no outcome id {outcome_id}")


class History:
    """Answer keys and their counts: the training state that a checkpoint carries."""

    def __init__(self):
        self.index = AnswerIndex()
        self.table = CountTable()

    def observe(self, prompt_keys, answers):
        """Ids for a batch, without counting it (the caller decides when, via ``table``)."""
        return self.index.ids(prompt_keys, answers)

    def lookup(self, prompt_keys, answers) -> np.ndarray:
        """``N(x, a)`` per sample; looking up never registers a new answer."""
        pids, oids = self.index.find(prompt_keys, answers)
        known = (pids >= 0) & (oids >= 0)
        out = np.zeros(len(pids), dtype=np.int64)
        out[known] = self.table.lookup(pids[known], oids[known])
        return out

    def update(self, prompt_keys, answers) -> None:
        pids, oids = self.index.ids(prompt_keys, answers)
        self.table.update(pids, oids)

    def distinct(self, prompt_key) -> int:
        """Number of distinct answers recorded for a prompt."""
        pid = self.index.prompts.get(prompt_key)
        return 0 if pid is None else len(self.index.answers[pid])

    def to_dict(self) -> dict:
        prompts = list(self.index.prompts)
        for key in prompts:
            if not isinstance(key, _JSON_SCALARS) or _bad_float(key):
                raise ValueError(f"prompt key {key!r} cannot be saved: keys must be str, int, "
                                 f"finite float, bool or None")
        answers, counts = [], []
        for pid in range(len(prompts)):
            keys = sorted(self.index.answers[pid], key=self.index.answers[pid].get)
            for key in keys:
                if not isinstance(key, _JSON_SCALARS) or _bad_float(key):
                    raise ValueError(f"answer key {key!r} cannot be saved: keys must be str, "
                                     f"int, finite float, bool or None")
            answers.append(keys)
            counts.append([int(x) for x in self.table.lookup(np.full(len(keys), pid),
                                                              np.arange(len(keys)))])
        return {"format": HISTORY_FORMAT, "version": FORMAT_VERSION, "prompts": prompts,
                "answers": answers, "counts": counts}

    @classmethod
    def from_dict(cls, data: dict, source: str = "history") -> History:
        """Rebuild from :meth:`to_dict`'s document, checking every field: ``source`` (a file
        name) starts each error message, which names the field and what is allowed."""
        def bad(field, msg):
            return ValueError(f"{source}: field {field!r} {msg}")

        if not isinstance(data, dict):
            raise ValueError(f"{source}: must be a JSON object, got {type(data).__name__}")
        if data.get("format") != HISTORY_FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{source}: not an {HISTORY_FORMAT} v{FORMAT_VERSION} document "
                             f"(format={data.get('format')!r}, version={data.get('version')!r})")
        for field in ("prompts", "answers", "counts"):
            if not isinstance(data.get(field), list):
                raise bad(field, f"must be a list, got {type(data.get(field)).__name__}")
        prompts, answers, counts = data["prompts"], data["answers"], data["counts"]
        if not len(prompts) == len(answers) == len(counts):
            raise ValueError(f"{source}: fields 'prompts', 'answers' and 'counts' must have "
                             f"one length, got {len(prompts)}, {len(answers)} and {len(counts)}")
        hist = cls()
        for p, (key, keys, cnts) in enumerate(zip(prompts, answers, counts)):
            if not isinstance(key, _JSON_SCALARS) or _bad_float(key):
                raise bad(f"prompts[{p}]", f"must be a str, int, finite float, bool or null, "
                                           f"got {key!r}")
            if key in hist.index.prompts:
                raise bad(f"prompts[{p}]", f"repeats the prompt key {key!r}; keys must be unique")
            if not isinstance(keys, list) or not isinstance(cnts, list):
                raise bad(f"answers[{p}]/counts[{p}]", "must be lists")
            if len(keys) != len(cnts):
                raise bad(f"counts[{p}]", f"must have one count per answer: prompt {key!r} has "
                                          f"{len(keys)} answers but {len(cnts)} counts")
            seen: dict = {}
            for j, k in enumerate(keys):
                if not isinstance(k, _JSON_SCALARS) or _bad_float(k):
                    raise bad(f"answers[{p}][{j}]", f"must be a str, int, finite float, bool or "
                                                    f"null, got {k!r}")
                if k in seen:
                    raise bad(f"answers[{p}][{j}]", f"repeats the answer key {k!r} of prompt "
                                                    f"{key!r}; keys must be unique per prompt")
                seen[k] = len(seen)
            for j, n in enumerate(cnts):
                if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                    raise bad(f"counts[{p}][{j}]", f"must be a non-negative integer, got {n!r}")
            pid = hist.index.prompt_id(key)
            hist.index.answers[pid] = seen
            hist.table._grow(pid + 1, len(keys))
            hist.table.counts[pid, : len(keys)] = cnts
        return hist

    def save(self, path) -> None:
        payload = json.dumps(self.to_dict()).encode()
        atomic_write(path, payload, mkdir=True)

    @classmethod
    def load(cls, path) -> History:
        try:
            with open(path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(f"history file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(path))

    def __eq__(self, other) -> bool:
        return isinstance(other, History) and self.to_dict() == other.to_dict()

