"""Verifiable tasks (Spec 3 §2): a seeded synthetic arithmetic family with difficulty levels,
JSONL datasets (one ``{"prompt", "answer"}`` object per line, MATH-500 style) and the chat
prompt that asks for a ``\\boxed{}`` answer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .answers import canonical_answer

LEVELS = (1, 2, 3, 4, 5)
DIGIT_LEVEL = 0  # one-digit sums (answers 0-8): the task of the cpu-tiny preset's tiny model
LEVEL_DOC = {
    1: "a + b, a one-digit and a two-digit operand",
    2: "a + b or a - b, two-digit operands",
    3: "a * b, two-digit by one-digit, or three-digit a + b",
    4: "a * b + c, two-digit operands",
    5: "a * b - c * d, two-digit operands",
}
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class Problem:
    """One verifiable problem: ``id`` (unique key, used as the prompt key of the answer counts),
    the question text, the gold answer (as text) and a difficulty level (0 when unknown)."""

    id: str
    prompt: str
    answer: str
    level: int = 0

    @property
    def gold(self):
        """Canonical key of the gold answer."""
        return canonical_answer(self.answer)


def _draw(rng: np.random.Generator, level: int) -> tuple[str, int]:
    def r(lo, hi):
        return int(rng.integers(lo, hi + 1))

    if level == DIGIT_LEVEL:
        a, b = r(0, 4), r(0, 4)
        return f"{a} + {b}", a + b
    if level == 1:
        a, b = r(1, 9), r(10, 99)
        return (f"{a} + {b}", a + b) if rng.random() < 0.5 else (f"{b} + {a}", a + b)
    if level == 2:
        a, b = r(10, 99), r(10, 99)
        return (f"{a} + {b}", a + b) if rng.random() < 0.5 else (f"{a} - {b}", a - b)
    if level == 3:
        if rng.random() < 0.5:
            a, b = r(11, 99), r(2, 9)
            return f"{a} * {b}", a * b
        a, b = r(100, 999), r(100, 999)
        return f"{a} + {b}", a + b
    if level == 4:
        a, b, c = r(11, 99), r(11, 99), r(10, 99)
        return f"{a} * {b} + {c}", a * b + c
    a, b, c, d = r(11, 99), r(11, 99), r(11, 99), r(11, 99)
    return f"{a} * {b} - {c} * {d}", a * b - c * d


def arithmetic_problems(n: int, *, levels=(1, 2, 3), seed: int = 0) -> list[Problem]:
    """``n`` distinct arithmetic problems, levels cycling through ``levels``, from ``seed``."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    levels = tuple(levels)
    if not levels or any(lv not in (DIGIT_LEVEL, *LEVELS) for lv in levels):
        raise ValueError(f"levels must be a non-empty subset of {(DIGIT_LEVEL, *LEVELS)}, got "
                         f"{levels!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4C4C4D]))
    seen: set[str] = set()
    out: list[Problem] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct problems at levels {levels}; ask for fewer")
        level = levels[len(out) % len(levels)]
        expr, value = _draw(rng, level)
        if expr in seen:
            continue
        seen.add(expr)
        out.append(Problem(f"arith-{seed}-{len(out)}", f"What is {expr}?", str(value), level))
    return out


def train_test_split(problems: list[Problem], n_test: int, *, seed: int = 0):
    """Disjoint ``(train, test)`` lists; ``test`` holds ``n_test`` problems chosen by ``seed``."""
    if not 0 < n_test < len(problems):
        raise ValueError(f"n_test must be in [1, {len(problems) - 1}], got {n_test}")
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0x5E7])).permutation(len(problems))
    test = sorted(perm[:n_test])
    test_set = {int(i) for i in test}
    return ([p for i, p in enumerate(problems) if i not in test_set],
            [problems[int(i)] for i in test])


def arithmetic_task(n_train: int, n_test: int, *, levels=(1, 2, 3), seed: int = 0):
    """The default task: ``(train, test)`` arithmetic problems, disjoint, from one seed."""
    return train_test_split(arithmetic_problems(n_train + n_test, levels=levels, seed=seed),
                            n_test, seed=seed)


def save_jsonl(problems: list[Problem], path) -> None:
    """Write problems as JSONL, atomically (a kill never leaves half a file)."""
    from obandits.fileio import atomic_write

    text = "".join(json.dumps(asdict(p)) + "\n" for p in problems).encode()
    atomic_write(path, text, mkdir=True)


_PROMPT_KEYS = ("prompt", "problem", "question")
_ANSWER_KEYS = ("answer", "gold", "solution")


def load_jsonl(path) -> list[Problem]:
    """Problems from a JSONL file: each line an object with a prompt (``prompt`` / ``problem`` /
    ``question``) and a gold answer (``answer`` / ``gold``; a ``solution`` is read through
    ``\\boxed{}`` extraction); optional ``id`` and ``level``."""
    from .answers import extract_answer

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task file not found: {path}")
    out = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: must be a JSON object, got {line.strip()[:40]}")
            prompt = next((row[k] for k in _PROMPT_KEYS if k in row), None)
            key = next((k for k in _ANSWER_KEYS if k in row), None)
            if not isinstance(prompt, str) or key is None:
                raise ValueError(f"{path}:{lineno}: needs a prompt (one of {_PROMPT_KEYS}) and "
                                 f"an answer (one of {_ANSWER_KEYS})")
            raw = row[key]
            if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
                # str(None) would make "None" a gold answer
                raise ValueError(f"{path}:{lineno}: field {key!r} must be a string or a number, "
                                 f"got {json.dumps(raw)}")
            answer = str(raw)
            if key == "solution":
                ex = extract_answer(answer)
                answer = ex.text if ex else answer
            if canonical_answer(answer) is None:
                raise ValueError(f"{path}:{lineno}: gold answer {answer!r} cannot be parsed")
            out.append(Problem(str(row.get("id", f"{path.stem}-{lineno}")), prompt, answer,
                               int(row.get("level", 0))))
    if not out:
        raise ValueError(f"{path}: no problems")
    if len({p.id for p in out}) != len(out):
        raise ValueError(f"{path}: problem ids are not unique")
    return out


def chat_prompt(tokenizer, question: str) -> str:
    """The model input for a question: the chat template (when the tokenizer has one) with the
    question and the ``\\boxed{}`` instruction as the user turn, ready for the assistant."""
    content = f"{question}\n{INSTRUCTION}"
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": content}],
                                             tokenize=False, add_generation_prompt=True)
    return f"Question: {content}\nAnswer:"
