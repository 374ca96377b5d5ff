"""Plain-text and markdown tables for terminal summaries and results documents."""

from __future__ import annotations

from collections.abc import Sequence


def _fmt(x, digits: int) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence], digits: int = 3) -> str:
    """A GitHub-flavoured markdown table (also readable in a terminal)."""
    cells = [[_fmt(x, digits) for x in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def claims_markdown(claims: Sequence[dict]) -> str:
    """Claims of a runner's ``check`` (keys claim, text, ci, holds, where; optional ``role`` =
    ``"diagnostic"`` with a ``why``): the claims, a verdict line, then the diagnostics
    (measured against the same threshold, not counted in the verdict)."""
    def ci(c):
        lo, hi = c.get("ci") or (float("nan"), float("nan"))
        return f"[{lo:.2f}, {hi:.2f}]"

    def holds(c):
        return {True: "yes", False: "NO"}.get(c.get("holds"), "n/a")

    def cells(c):
        return [c["claim"], c.get("text", ""), ci(c), holds(c), c.get("where", "")]

    main = [c for c in claims if c.get("role", "claim") == "claim"]
    diags = [c for c in claims if c.get("role", "claim") == "diagnostic"]
    n_ok = sum(c.get("holds") is True for c in main)
    text = (markdown_table(["claim", "measured", "95% CI", "holds", "where"],
                           [cells(c) for c in main])
            + f"\n\n**{n_ok} of {len(main)} claims hold.**")
    if diags:
        text += ("\n\nDiagnostics and controls (measured against the same threshold, not "
                 "claims of the theorems; the last column says what each shows):\n\n"
                 + markdown_table(["diagnostic", "measured", "95% CI", "meets threshold",
                                   "where", "why"],
                                  [cells(c) + [c.get("why", "")] for c in diags]))
    return text
