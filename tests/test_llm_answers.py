"""Answer extraction and canonicalisation (Spec 3 §2) and the arithmetic task family."""

import json
import re
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llm_bridge.answers import answer_key, canonical_answer, extract_answer, is_correct
from llm_bridge.tasks import (
    Problem,
    arithmetic_problems,
    arithmetic_task,
    load_jsonl,
    save_jsonl,
    train_test_split,
)

# Filler text: no digits, signs, separators, braces or backslashes, so it cannot create or
# change a number or a \boxed{}.
filler = st.text(alphabet="abcdefghij XYZ:;!?=()\n", max_size=30)
ints = st.integers(min_value=-10**9, max_value=10**9)


def formats(n: int):
    out = [str(n), f" {n} ", f"${n}$", f"{{{n}}}", f"{n}.0", f"{n}.", f"{n:,}"]
    if n >= 0:
        out.append(f"+{n}")
    return out


@given(ints, filler, filler, st.data())
def test_boxed_integer_any_format(n, pre, post, data):
    fmt = data.draw(st.sampled_from(formats(n)))
    text = f"{pre}\\boxed{{{fmt}}}{post}"
    assert answer_key(text) == n


@given(ints, ints, filler, filler)
def test_boxed_wins_over_later_numbers(a, b, pre, mid):
    assert answer_key(f"{pre}\\boxed{{{a}}}{mid} then {b}") == a


@given(st.lists(ints, min_size=1, max_size=6), filler)
def test_last_number_without_boxed(nums, pad):
    text = (pad + " ").join(str(x) for x in nums) + pad
    assert answer_key(text) == nums[-1]


@given(st.lists(ints, min_size=2, max_size=4))
def test_last_boxed_of_several(nums):
    text = " and ".join(f"\\boxed{{{x}}}" for x in nums)
    assert answer_key(text) == nums[-1]


# Balanced-brace strings without backslashes: the extracted content must be exactly the inner
# string, however deeply the braces nest.
balanced = st.recursive(st.text(alphabet="abc123 +", max_size=5),
                        lambda inner: st.lists(inner, min_size=1, max_size=3).map(
                            lambda xs: "".join("{" + x + "}" for x in xs)), max_leaves=8)


@given(balanced, filler, filler)
def test_nested_braces_extracted_whole(inner, pre, post):
    assume(inner.strip())  # an empty box is skipped (the last non-empty box counts)
    text = f"{pre}\\boxed{{{inner}}}{post}"
    ex = extract_answer(text)
    assert ex is not None and ex.text == inner
    assert text[ex.start: ex.end] == inner


@settings(max_examples=25, deadline=None)
@given(st.integers(-50, 50), st.integers(1, 30))
def test_fraction_forms_agree(p, q):
    frac = Fraction(p, q)
    key = answer_key(f"\\boxed{{\\frac{{{p}}}{{{q}}}}}")
    if frac.denominator == 1:
        assert key == frac.numerator
    else:
        assert key == f"{frac.numerator}/{frac.denominator}"
        assert canonical_answer(f"{frac.numerator}/{frac.denominator}") == key


@given(filler)
def test_no_answer_is_none_and_wrong(text):
    assert re.search(r"\d", text) is None
    assert answer_key(text) is None
    assert not is_correct(None, 5) and not is_correct(None, None)


def test_examples_and_errors():
    assert answer_key("so \\boxed{0.5}") == answer_key("\\boxed{\\dfrac{1}{2}}") == "1/2"
    assert answer_key("\\boxed{}") is None
    assert answer_key("unterminated \\boxed{12") == 12  # falls back to the last number
    assert canonical_answer("\\text{banana}") == "banana"
    assert canonical_answer("x" * 500) is None  # junk too long to parse
    with pytest.raises(ValueError, match="answer must be a str"):
        canonical_answer(12)
    with pytest.raises(ValueError, match="text must be a str"):
        extract_answer(None)


# ------------------------------------------------------------------------------------ tasks


def test_arithmetic_is_seeded_distinct_and_correct():
    a = arithmetic_problems(60, levels=(1, 2, 3, 4, 5), seed=3)
    assert a == arithmetic_problems(60, levels=(1, 2, 3, 4, 5), seed=3)
    assert a != arithmetic_problems(60, levels=(1, 2, 3, 4, 5), seed=4)
    assert len({p.prompt for p in a}) == 60
    for p in a:
        expr = re.fullmatch(r"What is ([\d +*-]+)\?", p.prompt).group(1)
        assert eval(expr) == p.gold  # safe: the regex allows digits, spaces and + - * only
    assert {p.level for p in a} == {1, 2, 3, 4, 5}


def test_split_disjoint_and_jsonl_roundtrip(tmp_path):
    train, test = arithmetic_task(40, 10, seed=1)
    assert len(train) == 40 and len(test) == 10
    assert not {p.prompt for p in train} & {p.prompt for p in test}
    save_jsonl(train, tmp_path / "t.jsonl")
    assert load_jsonl(tmp_path / "t.jsonl") == train
    with pytest.raises(ValueError, match="n_test"):
        train_test_split(train, 0)
    with pytest.raises(ValueError, match="levels"):
        arithmetic_problems(5, levels=(9,))


def test_load_jsonl_user_formats_and_errors(tmp_path):
    f = tmp_path / "math.jsonl"
    f.write_text(json.dumps({"problem": "Half of one?", "solution": "It is \\boxed{\\frac12}."})
                 + "\n" + json.dumps({"question": "2+2?", "answer": 4}) + "\n")
    probs = load_jsonl(f)
    assert [p.gold for p in probs] == ["1/2", 4]
    assert isinstance(probs[0], Problem)
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_jsonl(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_jsonl(bad)


def test_equal_values_get_equal_keys():
    """Review findings: decimals, wrappers and powers must not split one value in two."""
    same = [("0.5", "1/2"), ("2.50", "5/2"), ("-0.5", "-1/2"), ("\\text{7}", "7"),
            ("\\mathbf{7}", "7"), ("10^{3}", "1000"), ("1,000.0", "1000"), (".5", "1/2"),
            ("\u22127", "-7")]
    for a, b in same:
        assert canonical_answer(a) == canonical_answer(b), (a, b)
    assert canonical_answer("\\text{banana}") == "banana"


def test_last_number_fallback_edge_cases():
    assert answer_key("so the answer is \u22127") == -7
    assert answer_key("from 2019-2020 it was") == 2020  # a hyphen is not a minus sign
    assert answer_key("x = -3.") == -3
    assert answer_key("about 1{,}000 people") == 1000
    assert answer_key("\\boxed{7} and \\boxed{}") == 7  # an empty last box does not win


def test_powers_scientific_notation_and_words():
    """Issue 15: ``**`` cut the exponent off, ``1e3`` was not 1000, words were products."""
    assert answer_key("\\boxed{10**3}") == 1000 != 10
    assert canonical_answer("2**10") == canonical_answer("2^{10}") == 1024
    assert canonical_answer("2**0.5") == canonical_answer("\\sqrt{2}") == "sqrt(2)"
    assert canonical_answer("10^0.5") == canonical_answer("\\sqrt{10}")
    assert canonical_answer("x**y") is None  # a power it cannot rewrite is refused, not cut
    for sci, value in [("1e3", 1000), ("1E3", 1000), ("1.5e3", 1500), ("-2e2", -200),
                       ("2.5e-1", "1/4")]:
        assert canonical_answer(sci) == value, sci
    assert canonical_answer("1e100000") is None  # junk exponent, no huge integer
    assert canonical_answer("cat") != canonical_answer("act")
    assert canonical_answer("two apples") != canonical_answer("two")
    assert canonical_answer("Two  Apples.") == canonical_answer("two apples")
    assert canonical_answer("\\text{two apples}") == "two apples"
    assert canonical_answer("x+1") == "x + 1"  # single letters stay algebra


@pytest.mark.parametrize("value", ["null", "true", "[4]", "{\"a\": 1}"])
def test_load_jsonl_refuses_a_null_or_non_scalar_answer(tmp_path, value):
    f = tmp_path / "gold.jsonl"
    f.write_text('{"prompt": "2+2?", "answer": 4}\n{"prompt": "3+3?", "answer": ' + value + "}\n")
    with pytest.raises(ValueError, match=r"gold.jsonl:2: .*answer.* must be a string or a number"):
        load_jsonl(f)


def test_units_after_a_number_keep_the_number():
    """Review of issue 15: the text path took "3 cm" and "18 \\text{ dollars}" as text, so a
    correct answer with a unit no longer matched its gold number (math-verify drops units)."""
    for ans, value in [("3 cm", 3), ("18 \\text{ dollars}", 18), ("5\\text{ inches}", 5),
                       ("3 hours", 3), ("45 \\text{ degrees}", 45), ("12\\text{ cm}^2", 12),
                       ("20 percent", "1/5")]:
        assert canonical_answer(ans) == value, ans
    assert answer_key("so \\boxed{18 \\text{ dollars}}") == 18
    assert canonical_answer("1 and 2") == canonical_answer("\\{1, 2\\}")
    # Letters glued to a coefficient are variables, as before; a bare word stays text.
    assert canonical_answer("2xy") == canonical_answer("2yx") == "2*x*y"
    assert canonical_answer("2 cats") != canonical_answer("2 tacs")
    assert canonical_answer("yes") != canonical_answer("sey")


def test_last_number_keeps_its_exponent():
    """Review of issue 15: canonical_answer read "1e3" as 1000, but the last-number fallback
    cut "1.5e3" to the "3" after the e, so an unboxed 1.5e3 was judged equal to 3."""
    assert answer_key("so the total is 1.5e3") == 1500
    assert answer_key("The answer is 1e3.") == 1000
    assert answer_key("x = 2.5E-1.") == "1/4"
    assert answer_key("see figure 3e") == 3 and answer_key("E=mc2 gives 12") == 12
