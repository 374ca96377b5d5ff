"""Answer extraction and canonicalisation (Spec 3 §2; unparseable answers per Spec 1 §2).

``extract_answer`` finds the final answer in a completion: the content of the *last*
``\\boxed{...}`` (braces may nest), else the last number in the text. ``canonical_answer`` maps it
to a key such that equivalent answers get equal keys, so ``N(x, a)`` counts them together:

* integers (also ``+7``, ``1,234``, ``12.0``, ``$42$``, ``\\text{7}``) -> ``int``;
* plain decimals -> the exact fraction (``0.5``, ``0.50`` -> ``"1/2"``; ``2.5`` -> ``"5/2"``);
* scientific notation -> the exact value (``1e3`` -> 1000, ``2.5e-1`` -> ``"1/4"``); exponents
  beyond ``MAX_EXPONENT`` -> ``None``;
* powers written ``**`` (``10**3``) -> the LaTeX power ``10^{3}`` before parsing, so the
  exponent is never cut off; a ``**`` that cannot be rewritten -> ``None``;
* text answers (a word of two or more letters, not a LaTeX command, a function name or letters
  glued to a coefficient like ``2xy``, that ``math-verify`` would read as a product of letters)
  -> the words, lower-cased, spaces collapsed (``"cat"`` and ``"act"`` differ; a product of
  letters made anagrams equal). Words ``math-verify`` drops or understands keep its key: units
  (``3 cm``, ``18 \\text{ dollars}`` -> 3, 18), ``1 and 2`` -> ``{1, 2}``;
* anything else -> the sympy normal form that ``math-verify`` parses it to, evaluated
  (``10^{3}`` -> 1000) and with floats made exact rationals (``\\frac{2}{4}`` -> ``"1/2"``),
  an integer result again giving ``int``;
* nothing found, or nothing ``math-verify`` can parse -> ``None``: the unparseable outcome, which
  gets reward 0 and is counted as an outcome of its own **(ours, Spec 1 §2)**.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from typing import NamedTuple

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# A sign only counts when it does not follow a word character ("2019-2020" is not -2020).
# An exponent belongs to its number: "1.5e3" is 1500, not the 3 after the e.
_NUMBER = re.compile(r"(?:(?<![\w.])[-+])?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+|(?=\.\d))(?:\.\d+)?"
                     r"(?:[eE][-+]?\d+)?")
_INT = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d*)\.\d+")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+")
_NUMERIC = re.compile(r"\s*[-+]?[\d.,]+\s*")
_WRAPPERS = re.compile(r"\\(?:text|textbf|mathbf|mathrm|mbox)\s*\{([^{}]*)\}")
_SCIENTIFIC = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d+)")
# ``**`` followed by a number or a parenthesised group; a bare number after ``^`` gets braces
# (``10^0.5`` is otherwise read as ``10^0`` times ``.5``).
_STARSTAR = re.compile(r"\*\*\s*([-+]?\d+(?:\.\d+)?|\([^()]*\))")
_CARET_NUMBER = re.compile(r"\^\s*([-+]?\d+(?:\.\d+)?)")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
# Letters glued to a coefficient are variables ("2xy" is 2*x*y), not a word.
_WORD = re.compile(r"(?<![\d])[a-zA-Z]{2,}")
# Bare names math-verify reads as functions or constants (it reads "pi", "log" as products).
_MATH_NAMES = frozenset({"sqrt", "inf"})
MAX_EXPONENT = 400  # 1e400 is still an exact integer key; 1e100000 is junk, not worth the memory


class Extracted(NamedTuple):
    """The answer text and its character span ``[start, end)`` in the completion."""

    text: str
    start: int
    end: int


def _boxed_contents(text: str) -> list[Extracted]:
    """Contents of every complete ``\\boxed{...}``, with nested braces matched."""
    out = []
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            out.append(Extracted(text[m.end(): i - 1], m.end(), i - 1))
    return out


def extract_answer(text: str) -> Extracted | None:
    """The final answer of a completion: last ``\\boxed{}`` content, else the last number."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    boxed = [b for b in _boxed_contents(text) if b.text.strip()]
    if boxed:
        return boxed[-1]
    text = text.replace("\u2212", "-").replace("{,}", ",")  # same length: spans stay valid
    numbers = list(_NUMBER.finditer(text))
    if numbers:
        m = numbers[-1]
        return Extracted(m.group(0), m.start(), m.end())
    return None


def _clean(s: str) -> str:
    s = s.strip().strip("$").strip().replace("\u2212", "-").replace("{,}", ",")
    # \\text{7} is 7; \\text{banana} stays text (math-verify would read it as a product).
    s = _WRAPPERS.sub(lambda m: m.group(1) if _NUMERIC.fullmatch(m.group(1)) else m.group(0), s)
    s = s.replace("\\!", "").replace("\\,", "").replace("\\ ", "").replace("\\dfrac", "\\frac")
    s = s.rstrip(".").strip()
    while len(s) >= 2 and s[0] == "{" and s[-1] == "}" and _matched(s[1:-1]):
        s = s[1:-1].strip()  # redundant grouping braces: \\boxed{{3}} is 3
    return s


def _matched(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def canonical_answer(answer: str | None) -> int | str | None:
    """Canonical key of an extracted answer (see the module docstring); ``None`` if unparseable."""
    if answer is None:
        return None
    if not isinstance(answer, str):
        raise ValueError(f"answer must be a str or None, got {type(answer).__name__}")
    s = _clean(answer)
    if not s:
        return None
    compact = s.replace(" ", "")
    if _INT.fullmatch(compact):
        return int(compact)
    if _THOUSANDS.fullmatch(compact):
        return int(compact.replace(",", ""))
    if _DECIMAL.fullmatch(compact):
        return _fraction_key(Fraction(compact.replace(",", "")))
    sci = _SCIENTIFIC.fullmatch(compact)
    if sci:
        if abs(int(sci.group(2))) > MAX_EXPONENT:
            return None
        return _fraction_key(Fraction(sci.group(1)) * Fraction(10) ** int(sci.group(2)))
    if len(s) > MAX_PARSE_CHARS:
        return None
    words = [w.lower() for w in _WORD.findall(_COMMAND.sub(" ", s))
             if w.lower() not in _MATH_NAMES]
    math = _STARSTAR.sub(lambda m: "^{" + _exponent(m.group(1)) + "}", s)
    if "**" in math:
        # a power we cannot rewrite: refuse rather than cut the exponent off
        return _text_key(s) if words else None
    math = _CARET_NUMBER.sub(lambda m: "^{" + _exponent(m.group(1)) + "}", math)
    expr = _math_verify_expr(math)
    # Words math-verify drops or reads itself (units: "3 cm", "18 \text{ dollars}" -> 3, 18;
    # "1 and 2" -> {1, 2}) keep its key; a word it read as a product of letters ("cat" ->
    # a*c*t, so "act" was equal) is text.
    letters = "".join(words)  # \text{two apples} parses to one symbol "twoapples"
    if words and (expr is None or any(sym.name.lower() in letters
                                      for sym in _free_symbols(expr))):
        return _text_key(s)
    return _expr_key(expr)


def _exponent(e: str) -> str:
    """A decimal exponent as an exact LaTeX fraction (``0.5`` -> ``\\frac{1}{2}``), so that
    ``2**0.5`` is ``sqrt(2)``, not a float rounded to a rational."""
    if "." not in e or e.startswith("("):
        return e
    q = Fraction(e)
    return str(q.numerator) if q.denominator == 1 else f"\\frac{{{q.numerator}}}{{{q.denominator}}}"


def _text_key(s: str) -> str:
    """Key of a text answer: wrappers dropped, lower-cased, whitespace collapsed."""
    s = _WRAPPERS.sub(r"\1", s)
    s = s.replace("\\", " ").replace("~", " ")
    return " ".join(s.lower().split()).rstrip(".")


def _fraction_key(q: Fraction) -> int | str:
    return int(q) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


MAX_PARSE_CHARS = 200  # longer "answers" are junk; do not spend parser time on them


def _math_verify_expr(s: str):
    """The first expression ``math-verify`` parses ``s`` to, or None."""
    from math_verify import parse

    if len(s) > MAX_PARSE_CHARS:
        return None
    # math-verify's timeout uses SIGALRM, which only works in the main thread.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed = parse(f"${s}$", parsing_timeout=timeout)
    except Exception:  # math-verify raises many kinds of error on junk input
        return None
    exprs = [p for p in parsed if not isinstance(p, str)]
    return exprs[0] if exprs else None


def _free_symbols(expr) -> set:
    try:
        return set(getattr(expr, "free_symbols", ()))
    except Exception:
        return set()


def _expr_key(expr) -> int | str | None:
    """Key of a parsed expression: evaluated, floats as exact rationals, integers as ``int``."""
    if expr is None:
        return None
    try:
        import sympy

        if isinstance(expr, sympy.Basic):
            expr = expr.doit()  # 10**3 -> 1000
            if expr.is_number and expr.is_real and expr.has(sympy.Float):
                expr = sympy.nsimplify(expr, rational=True)  # floats as exact rationals
        if getattr(expr, "is_Integer", False):
            return int(expr)
        if getattr(expr, "is_Rational", False):
            return _fraction_key(Fraction(int(expr.p), int(expr.q)))
        return str(expr)
    except Exception:
        return None


def answer_key(completion: str) -> int | str | None:
    """``canonical_answer(extract_answer(completion))``."""
    ex = extract_answer(completion)
    return canonical_answer(ex.text if ex is not None else None)


def is_correct(key: int | str | None, gold: int | str | None) -> bool:
    """Verifiable reward: equal canonical keys, and the answer is parseable (Spec 1 §1)."""
    return key is not None and gold is not None and key == gold
