#!/usr/bin/env python3
"""Label this crate's own math cases with the reference implementation and write
tests/data/own-cases.jsonl.

    pip install "math-verify[antlr4_13_2]"   # labelled with math-verify 0.9.0
    python3 rules/math/scripts/make_cases.py

Each case is labelled as the shared conformance data is: verify(parse("$" + gold + "$"),
parse(response)). Where moj-math deliberately differs from math-verify (documented
false positives / negatives), the case carries `differs` with the reason; the Rust conformance
test then requires the opposite verdict.
"""
import json
import os
import sys

from math_verify import parse, verify

# (category, gold, answer, response format). Formats: fa = "The final answer is $X$.",
# box = "\\boxed{X}", colon = "Answer: X", plain = "The final answer is X" (no delimiters).
CASES = [
    # integers, thousands separators, decimals
    ("integer", "42", "42", "fa"),
    ("integer", "42", "43", "box"),
    ("integer", "-7", "-7", "colon"),
    ("integer", "-7", "7", "fa"),
    ("separator", "1000000", "1,000,000", "box"),
    ("separator", "12345", "12,345", "fa"),
    ("separator", "12345", "12,346", "fa"),
    ("decimal", "0.5", "0.50", "box"),
    ("decimal", "2.75", "2.750", "fa"),
    ("decimal", "2.75", "2.76", "fa"),
    ("decimal", "3", "3.0", "colon"),
    ("decimal", "\\frac{1}{4}", "0.25", "box"),
    # fractions
    ("fraction", "\\frac{3}{4}", "3/4", "fa"),
    ("fraction", "\\frac{3}{4}", "\\dfrac{3}{4}", "box"),
    ("fraction", "\\frac{3}{4}", "\\tfrac{3}{4}", "box"),
    ("fraction", "\\frac{1}{2}", "\\frac12", "fa"),
    ("fraction", "\\frac{1}{2}", "\\frac{1}2", "fa"),
    ("fraction", "\\frac{6}{8}", "\\frac{3}{4}", "box"),
    ("fraction", "\\frac{3}{4}", "\\frac{4}{3}", "box"),
    ("fraction", "-\\frac{2}{3}", "\\frac{-2}{3}", "fa"),
    ("fraction", "-\\frac{2}{3}", "\\frac{2}{3}", "fa"),
    ("fraction", "2\\frac{1}{3}", "\\frac{7}{3}", "box"),
    # percentages
    ("percent", "25\\%", "25", "box"),
    ("percent", "25\\%", "25\\%", "fa"),
    ("percent", "25\\%", "0.25", "box"),
    ("percent", "25\\%", "26\\%", "box"),
    # roots and pi
    ("sqrt", "\\sqrt{2}", "\\sqrt2", "box"),
    ("sqrt", "2\\sqrt{3}", "\\sqrt{12}", "box"),
    ("sqrt", "\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", "box"),
    ("sqrt", "\\sqrt{2}", "\\sqrt{3}", "fa"),
    ("sqrt", "3\\sqrt{5}", "3 \\sqrt{5}", "fa"),
    ("pi", "2\\pi", "2 \\pi", "box"),
    ("pi", "\\frac{\\pi}{4}", "\\pi/4", "fa"),
    ("pi", "\\frac{\\pi}{4}", "\\frac{\\pi}{3}", "fa"),
    # LaTeX noise
    ("noise", "\\left(1, 2\\right)", "(1,2)", "box"),
    ("noise", "1234", "1,\\!234", "box"),
    ("noise", "5", "\\,5\\,", "fa"),
    ("noise", "\\text{Monday}", "Monday", "box"),
    ("noise", "\\text{Monday}", "\\mathrm{Monday}", "box"),
    ("noise", "\\text{Monday}", "\\mbox{Monday}", "box"),
    ("noise", "\\text{Monday}", "Tuesday", "box"),
    ("noise", "30^\\circ", "30", "box"),
    ("noise", "30^\\circ", "30^{\\circ}", "fa"),
    ("noise", "30^\\circ", "30 degrees", "box"),
    ("noise", "30^\\circ", "31^\\circ", "box"),
    ("noise", "\\$18.50", "18.50", "box"),
    ("noise", "18.5", "\\$18.5", "fa"),
    ("noise", "12\\text{ cm}", "12", "box"),
    ("noise", "12", "12\\text{ inches}", "box"),
    ("noise", "\\text{(B)}", "(B)", "fa"),
    ("noise", "\\text{(B)}", "\\text{(D)}", "fa"),
    # variable prefix and equations
    ("prefix", "5", "x = 5", "box"),
    ("prefix", "x = 5", "5", "box"),
    ("prefix", "x = 5", "x=6", "box"),
    ("equation", "y = 2x + 3", "y = 2x + 3", "box"),
    ("equation", "y = 2x + 3", "y = 3 + 2x", "box"),
    ("equation", "y = 2x + 3", "y = 2x + 4", "box"),
    ("equation", "x + y = 3", "x + y = 4", "box"),
    ("equation", "2x + 2 = 4", "x + 1 = 2", "box"),
    # tuples, intervals, sets
    ("tuple", "(1, 2, 3)", "(1,2,3)", "box"),
    ("tuple", "(1, 2, 3)", "(3,2,1)", "box"),
    ("tuple", "\\left(2, \\frac{\\pi}{3}\\right)", "(2, \\pi/3)", "fa"),
    ("interval", "[2, 5)", "[2,5)", "box"),
    ("interval", "[2, 5)", "[2,5]", "box"),
    ("interval", "(-\\infty, 3]", "(-\\infty,3]", "fa"),
    ("interval", "(-\\infty, 3]", "(-\\infty,4]", "fa"),
    ("interval", "(-\\infty, 1) \\cup (2, \\infty)", "(-\\infty,1)\\cup(2,\\infty)", "box"),
    ("set", "\\{1, 2, 3\\}", "\\{3, 2, 1\\}", "box"),
    ("set", "\\{1, 2, 3\\}", "\\{1, 2, 4\\}", "box"),
    ("set", "1, 3", "3, 1", "fa"),
    ("set", "2 \\pm \\sqrt{3}", "2 + \\sqrt{3}, 2 - \\sqrt{3}", "box"),
    ("matrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "box"),
    ("matrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}", "box"),
    # symbolic expressions
    ("symbolic", "x^2 + 2x + 1", "(x+1)^2", "box"),
    ("symbolic", "x^2 + 2x + 1", "(x-1)^2", "box"),
    ("symbolic", "\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}", "box"),
    ("symbolic", "2a + 3b", "3b + 2a", "fa"),
    ("symbolic", "2a + 3b", "2b + 3a", "fa"),
    ("symbolic", "\\sin^2 x + \\cos^2 x", "1", "box"),
    ("symbolic", "\\ln(e^3)", "3", "box"),
    ("symbolic", "e^{2}", "e^2", "box"),
    ("symbolic", "\\tan x", "\\frac{\\sin x}{\\cos x}", "box"),
    ("symbolic", "\\cot x", "\\cot y", "fa"),
    ("factorial", "5!", "120", "box"),
    ("factorial", "\\frac{10!}{8!}", "90", "box"),
    # known math-verify false positives (it says equal; they are not)
    ("false-positive", "\\frac{1}{2004!}", "\\frac{1}{2006!}", "box"),
    ("false-positive", "4\\sqrt{2}", "4\\sqrt(2)", "box"),
    ("false-positive", "4", "4\\sqrt(2)", "box"),
    ("false-positive", "x = 2", "y = 2", "box"),
    ("false-positive", "3\\sqrt{13}", "3\\sqrt {13}", "plain"),
    ("false-positive", "2k+2", "2k+2", "plain"),
    ("false-positive", "4\\sqrt{2}", "4", "box"),
    ("false-positive", "2\\pi r", "2", "box"),
    ("false-positive", "y = 2x + 1", "y = 2x + 5", "box"),
    ("false-positive", "a^2 + b^2", "a^2 + b^3", "box"),
    # documented math-verify false negatives
    ("false-negative", "\\sqrt{\\frac{1}{n}}", "\\frac{1}{\\sqrt{n}}", "box"),
    ("false-negative", "73", "**73**", "colon"),
    ("false-negative", "3x + 6 = 9", "x + 2 = 3", "box"),
    # more shapes
    ("sqrt", "\\sqrt[3]{2}", "2^{1/3}", "box"),
    ("symbolic", "\\frac{x+1}{x-1}", "\\frac{x+1}{x-1}", "box"),
    ("symbolic", "\\frac{x+1}{x-1}", "\\frac{x-1}{x+1}", "box"),
    ("symbolic", "\\log_2 8", "3", "box"),
    ("symbolic", "e^{i\\pi}", "e^{i \\pi}", "box"),
    ("negative", "-\\sqrt{3}", "-\\sqrt3", "fa"),
    ("negative", "-0.5", "-\\frac{1}{2}", "fa"),
    ("integer", "2006", "2,006", "colon"),
    ("interval", "(0, 1]", "(0,1]", "colon"),
    ("set", "\\{-1, 1\\}", "\\pm 1", "box"),
    # GSM8K-style plain endings
    ("gsm8k", "18", "18 apples.", "plain"),
    ("gsm8k", "18", "$18. I hope it is correct.", "plain"),
    ("gsm8k", "1000", "$1,000.", "plain"),
    ("gsm8k", "5", "5 red marbles", "plain"),
    ("gsm8k", "1000000", "1000000.5", "plain"),
    ("decimal", "2.5", "2.5000001", "box"),
    ("decimal", "\\frac{1}{3}", "0.333333", "box"),
    ("decimal", "\\frac{1}{3}", "0.33", "box"),
    ("base", "52_8", "52_8", "box"),
    ("base", "52_8", "52", "box"),
    ("tuple", "(1,-16,-4,43)", "[1,-16,-4,43)", "box"),
    ("scientific", "1e-05", "0.00001", "box"),
    ("log", "\\log 100", "2", "box"),
    ("and-list", "\\frac{3}{5}, \\frac{8}{3}", "\\frac{3}{5} \\text{ and } \\frac{8}{3}", "box"),
]

# Case ids where moj-math is deliberately not math-verify, and why.
DIFFERS = {
    "own-058": "equivalent linear equations (2x+2=4 is x+1=2): documented math-verify false negative",
    "own-085": "1/2004! vs 1/2006!: documented math-verify false positive; exact big rationals differ",
    "own-086": "\\sqrt(2) is the square root of 2 (4\\sqrt(2) = 4\\sqrt{2}); math-verify cannot parse it",
    "own-089": "undelimited LaTeX after 'The final answer is': math-verify reads only the leading 3",
    "own-090": "undelimited LaTeX after 'The final answer is': math-verify reads only the leading 2",
    "own-095": "sqrt(1/n) = 1/sqrt(n) for n > 0: documented math-verify false negative",
    "own-097": "equivalent linear equations (3x+6=9 is x+2=3): documented math-verify false negative",
    "own-106": "undelimited interval after 'Answer:': math-verify extracts nothing",
    "own-119": "gold is a JSON number's text (1e-05 = 0.00001); math-verify reads it as LaTeX 1*e - 5",
}


def response(answer, fmt):
    return {
        "fa": f"We compute carefully.\nThe final answer is ${answer}$.",
        "box": f"Putting it together, the result is $\\boxed{{{answer}}}$.",
        "colon": f"Work shown above.\nAnswer: {answer}",
        "plain": f"We compute carefully.\nThe final answer is {answer}",
    }[fmt]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_path = os.path.join(here, "..", "tests", "data", "own-cases.jsonl")
    import math_verify

    version = getattr(math_verify, "__version__", "0.9.0")
    rows = []
    for i, (cat, gold, answer, fmt) in enumerate(CASES):
        resp = response(answer, fmt)
        expected = bool(verify(parse("$" + gold + "$"), parse(resp)))
        case_id = f"own-{i:03d}"
        row = {"id": case_id, "category": cat, "gold": gold, "response": resp, "expected": expected,
               "labeler": f"math-verify {version}"}
        if case_id in DIFFERS:
            row["differs"] = DIFFERS[case_id]
        rows.append(row)
    with open(out_path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} cases to {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
