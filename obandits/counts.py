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
import os
import tempfile
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

from . import _validate as v

COUNTS_FORMAT, HISTORY_FORMAT, FORMAT_VERSION = "obandits.counts", "obandits.history", 1


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())  # the data is on disk before the name points at it
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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

        _atomic_write(Path(path), write)

    @classmethod
    def load(cls, path) -> CountTable:
        with np.load(path, allow_pickle=False) as data:
            fmt = str(data["format"]) if "format" in data else None
            ver = int(data["version"]) if "version" in data else None
            if fmt != COUNTS_FORMAT or ver != FORMAT_VERSION:
                raise ValueError(f"{path}: not an {COUNTS_FORMAT} v{FORMAT_VERSION} file "
                                 f"(format={fmt!r}, version={ver!r})")
            table = cls()
            table.counts = np.array(data["counts"], dtype=np.int64)
        return table

    def __eq__(self, other) -> bool:
        return isinstance(other, CountTable) and np.array_equal(self.counts, other.counts)


_JSON_SCALARS = (str, int, float, bool, type(None))


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
            if not isinstance(key, _JSON_SCALARS):
                raise ValueError(f"prompt key {key!r} cannot be saved: keys must be str, int, "
                                 f"float, bool or None")
        answers, counts = [], []
        for pid in range(len(prompts)):
            keys = sorted(self.index.answers[pid], key=self.index.answers[pid].get)
            for key in keys:
                if not isinstance(key, _JSON_SCALARS):
                    raise ValueError(f"answer key {key!r} cannot be saved: keys must be str, "
                                     f"int, float, bool or None")
            answers.append(keys)
            counts.append([int(x) for x in self.table.lookup(np.full(len(keys), pid),
                                                              np.arange(len(keys)))])
        return {"format": HISTORY_FORMAT, "version": FORMAT_VERSION, "prompts": prompts,
                "answers": answers, "counts": counts}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        if data.get("format") != HISTORY_FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not an {HISTORY_FORMAT} v{FORMAT_VERSION} document "
                             f"(format={data.get('format')!r}, version={data.get('version')!r})")
        hist = cls()
        for key, keys, cnts in zip(data["prompts"], data["answers"], data["counts"]):
            if len(keys) != len(cnts):
                raise ValueError(f"prompt {key!r}: {len(keys)} answers but {len(cnts)} counts")
            pid = hist.index.prompt_id(key)
            for k in keys:
                hist.index.answers[pid][k] = len(hist.index.answers[pid])
            hist.table._grow(pid + 1, len(keys))
            hist.table.counts[pid, : len(keys)] = cnts
        return hist

    def save(self, path) -> None:
        payload = json.dumps(self.to_dict()).encode()
        _atomic_write(Path(path), lambda fh: fh.write(payload))

    @classmethod
    def load(cls, path) -> History:
        with open(path) as fh:
            return cls.from_dict(json.load(fh))

    def __eq__(self, other) -> bool:
        return isinstance(other, History) and self.to_dict() == other.to_dict()

