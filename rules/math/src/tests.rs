//! End-to-end tests of `verify`, one group per category.

use super::*;

fn cfg() -> MathConfig {
    MathConfig::default()
}

fn check(gold: &str, answer: &str) -> Outcome {
    verify(
        &format!("So we get it.\nThe final answer is ${answer}$."),
        gold,
        &cfg(),
    )
}

fn eq(gold: &str, answer: &str) -> bool {
    check(gold, answer).is_equivalent()
}

fn unverifiable(gold: &str, answer: &str) -> bool {
    matches!(check(gold, answer), Outcome::Unverifiable { .. })
}

#[test]
fn integers_decimals_separators() {
    assert!(eq("2220", "2,220"));
    assert!(eq("1000000", "1,000,000"));
    assert!(eq("18", "18.0"));
    // Numerals with a base subscript.
    assert!(eq("52_8", "52_{8}"));
    assert!(eq("52_8", "52"));
    assert!(!eq("52_8", "52_6"));
    assert!(!eq("52_8", "53"));
    // A JSON number's text as the gold.
    assert!(eq("1e-05", "0.00001"));
    assert!(eq("2.5E+3", "2500"));
    assert!(!eq("1e-05", "0.0001"));
    assert!(eq("1.25", "1.250"));
    assert!(eq("0.5", ".5"));
    assert!(!eq("2220", "2,221"));
    assert!(!eq("1000000", "1000001"));
    assert!(!eq("1.25", "1.26"));
}

#[test]
fn fractions() {
    assert!(eq("\\frac{14}{3}", "14/3"));
    assert!(eq("\\frac{1}{2}", "\\dfrac{1}{2}"));
    assert!(eq("\\frac{1}{2}", "\\tfrac12"));
    assert!(eq("\\frac12", "\\frac{1}2"));
    assert!(eq("\\frac{1}{2}", "0.5"));
    assert!(eq("\\frac{2}{4}", "\\frac{1}{2}"));
    assert!(eq("1\\frac{4}{5}", "\\frac{9}{5}"));
    assert!(!eq("\\frac{14}{3}", "\\frac{15}{3}"));
    assert!(!eq("\\frac{1}{3}", "0.333"));
    assert!(eq("\\frac{1}{3}", "0.3333333"));
    assert!(eq("2.5", "2.5000001"));
    assert!(!eq("1000000", "1000000.5"));
    assert!(!eq("1000000", "999999.9999"));
}

#[test]
fn negatives_and_percentages() {
    assert!(eq("-5", "-5"));
    assert!(eq("-\\frac{1}{2}", "\\frac{-1}{2}"));
    assert!(eq("-\\frac{\\pi}{6}", "-\\dfrac{\\pi}{6}"));
    assert!(!eq("-5", "5"));
    assert!(eq("50\\%", "50"));
    assert!(eq("50", "50\\%"));
    assert!(eq("12.5\\%", "12.5%"));
    assert!(eq("50\\%", "0.5"));
    assert!(eq("0.5", "50\\%"));
    assert!(!eq("50\\%", "0.6"));
}

#[test]
fn roots_and_pi() {
    assert!(eq("\\sqrt{2}", "\\sqrt2"));
    assert!(eq("2\\sqrt{2}", "\\sqrt{8}"));
    assert!(eq("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"));
    assert!(eq("3\\sqrt{13}", "3\\sqrt {13}"));
    assert!(eq("\\pi", "\\pi"));
    assert!(eq("2\\pi", "\\pi \\cdot 2"));
    assert!(eq("\\frac{20000}{\\pi}", "\\dfrac{20000}{\\pi}"));
    assert!(!eq("\\pi", "3.14"));
    assert!(!eq("\\sqrt{2}", "\\sqrt{3}"));
}

#[test]
fn latex_noise() {
    assert!(eq(
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "(3, \\frac{\\pi}{2})"
    ));
    assert!(eq("10080", "10,\\!080"));
    assert!(eq("5", "\\, 5 \\;"));
    assert!(eq("\\text{Evelyn}", "Evelyn"));
    assert!(eq("\\text{east}", "\\mathrm{East}"));
    assert!(eq("\\text{(C)}", "(C)"));
    assert!(eq("C", "\\textbf{(C)}"));
    assert!(eq("90^\\circ", "90 degrees"));
    assert!(eq("90^\\circ", "90^{\\circ}"));
    assert!(eq("15\\mbox{ cm}^2", "15"));
    assert!(eq("5.4 \\text{ cents}", "5.4"));
    assert!(eq("\\$32,\\!348", "32348"));
    assert!(eq("36", "\\$36"));
    assert!(eq("12", "12 inches"));
    assert!(!eq("\\text{Evelyn}", "\\teyt{Evelyn}"));
    assert!(!eq("\\text{east}", "west"));
    assert!(!eq("\\text{(C)}", "(B)"));
}

#[test]
fn variable_prefix_and_equations() {
    assert!(eq("5", "x = 5"));
    assert!(eq("x=5", "5"));
    assert!(eq("y = 2x + 3", "2x+3"));
    assert!(eq("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z + 4 = 0"));
    // Equivalent linear equations (a documented math-verify false negative).
    assert!(eq("2x + 2 = 4", "x + 1 = 2"));
    // Two equations whose right-hand sides differ (a documented math-verify false positive).
    assert!(!eq("x + y = 3", "x + y = 4"));
    assert!(!eq("y = 2x + 3", "y = 2x + 4"));
    assert!(!eq("x = 5", "x = 6"));
    assert!(eq("x < 3", "3 > x"));
    assert!(!eq("x < 3", "x \\le 3"));
}

#[test]
fn tuples_intervals_sets() {
    assert!(eq("(6,31,-1)", "(6, 31, -1)"));
    assert!(!eq("(1,2)", "(2,1)"));
    assert!(eq("(-2,1)", "(-2, 1)"));
    assert!(eq("[-2,7]", "x \\in [-2, 7]"));
    assert!(eq("\\left(\\frac{3}{5},\\frac{8}{3}\\right]", "(0.6, 8/3]"));
    assert!(!eq("(1,2]", "[1,2]"));
    assert!(!eq("(1,-16,-4,43)", "[1,-16,-4,43)"));
    assert!(eq(
        "(-\\infty, 2) \\cup (3, \\infty)",
        "(-\\infty,2)\\cup(3,\\infty)"
    ));
    assert!(!eq(
        "(-\\infty, 2) \\cup (3, \\infty)",
        "(-\\infty,2)\\cup(4,\\infty)"
    ));
    assert!(!eq(
        "(-\\infty, 2) \\cup (3, \\infty)",
        "(-\\infty, 3) \\cup (3, \\infty)"
    ));
    assert!(!eq("(-\\infty, 2)", "(3, \\infty)"));
    assert!(!eq("\\infty", "-\\infty"));
    assert!(eq("\\{1,2\\}", "\\{2, 1\\}"));
    assert!(eq("1,-2", "-2, 1"));
    assert!(eq("(1,2)", "1, 2"));
    assert!(!eq("(-2,1)", "1,-2"));
    assert!(!eq("1,-2", "1, 2"));
    assert!(eq("1,-2", "x = 1 \\text{ or } x = -2"));
    assert!(eq(
        "\\frac{3}{5}, \\frac{8}{3}",
        "\\frac{3}{5} and \\frac{8}{3}"
    ));
    assert!(eq("1 \\pm \\sqrt{19}", "1 - \\sqrt{19}, 1 + \\sqrt{19}"));
    assert!(eq(
        "\\{1\\pm\\sqrt{5},-2\\}",
        "\\{-2, 1+\\sqrt5, 1-\\sqrt5\\}"
    ));
    assert!(!eq("1 \\pm \\sqrt{19}", "1 + \\sqrt{19}"));
    assert!(eq(
        "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
        "\\begin{pmatrix}-1&0\\\\0&-1\\end{pmatrix}"
    ));
    assert!(!eq(
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"
    ));
}

#[test]
fn symbolic_expressions() {
    assert!(eq("x^2 + 2x + 1", "(x+1)^2"));
    assert!(eq("\\frac{11+9a}{20}", "\\frac{9a}{20} + \\frac{11}{20}"));
    assert!(eq("\\sin^2 x + \\cos^2 x", "1"));
    assert!(eq("\\ln(e^2)", "2"));
    assert!(eq("e^{\\ln 3}", "3"));
    assert!(eq("\\log_2 8", "3"));
    assert!(eq("\\log 100", "2"));
    assert!(eq("\\log 8", "3\\log 2"));
    assert!(!eq("\\log 2", "\\ln 2"));
    assert!(eq("5!", "120"));
    assert!(eq("\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}"));
    assert!(eq("\\sqrt{x^2}", "x"));
    assert!(eq("\\tan x", "\\frac{\\sin x}{\\cos x}"));
    assert!(eq("\\exp(x)", "e^x"));
    assert!(!eq("\\cot x", "\\cot y"));
    assert!(!eq("x^2 + 2x + 1", "(x-1)^2"));
    assert!(!eq("p - q", "-(p - q)"));
    assert!(!eq("2k+2", "2k+3"));
}

#[test]
fn known_math_verify_false_positives_are_rejected() {
    assert!(!eq("\\frac{1}{2004!}", "\\frac{1}{2006!}"));
    assert!(!eq("1/2004!", "1/2006!"));
    assert!(!eq("4\\sqrt{2}", "4"));
    assert!(!eq("4", "4\\sqrt{2}"));
    assert!(!eq("4\\sqrt(2)", "4"));
    assert!(!eq("x = 2", "x = 3"));
    assert!(!eq("3\\sqrt{13}", "3"));
    assert!(!eq("2\\pi r", "2"));
    assert!(!eq("\\frac{1}{2004!}", "0"));
}

#[test]
fn extraction_and_no_answer() {
    let c = cfg();
    assert_eq!(verify("I don't know.", "5", &c), Outcome::NoAnswer);
    assert!(verify("\\boxed{3} hmm, no: \\boxed{5}", "5", &c).is_equivalent());
    assert!(!verify("\\boxed{5} hmm, no: \\boxed{3}", "5", &c).is_equivalent());
    assert!(verify("Answer: **73**", "73", &c).is_equivalent());
    assert!(verify("The final answer is 18", "18", &c).is_equivalent());
    assert!(verify("The final answer is 18 apples.", "18", &c).is_equivalent());
    assert!(verify("The final answer is $18. I hope it is correct.", "18", &c).is_equivalent());
    assert!(verify("The final answer is $1,000.", "1000", &c).is_equivalent());
    assert!(verify("The final answer is  \\pi ", "\\pi", &c).is_equivalent());
    assert!(verify("The final answer is (-1, 6)", "(-1,6)", &c).is_equivalent());
    let out = verify("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt2}{2}", &c);
    assert_eq!(
        out,
        Outcome::Equivalent {
            extracted: "\\frac{1}{\\sqrt{2}}".into()
        }
    );
    match verify("The final answer is 7", "8", &c) {
        Outcome::NotEquivalent { extracted, reason } => {
            assert_eq!(extracted, "7");
            assert!(reason.contains('8'));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unparsable_is_unverifiable() {
    assert!(unverifiable("5", "\\teyt{5}"));
    assert!(unverifiable("\\foo{1}", "1 + 1"));
    assert!(unverifiable("1", "(1"));
    assert!(unverifiable("1/0", "2"));
}

#[test]
fn budget_cases_end_quickly_as_unverifiable() {
    let started = std::time::Instant::now();
    assert!(unverifiable("1", "2^{10^{10}}"));
    assert!(unverifiable("2^{10^{10}}+1", "2^{10^{10}}"));
    assert!(unverifiable("1", "10^{10^9}"));
    assert!(unverifiable("1", "(10^9)!"));
    assert!(unverifiable("1", "1000000000!"));
    assert!(unverifiable("1", "x^{10^{10}}"));
    let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    assert!(unverifiable("1", &deep));
    let deep_frac = format!("{}1{}", "\\frac{1}{".repeat(300), "}".repeat(300));
    assert!(unverifiable("1", &deep_frac));
    let wide = vec!["x"; 3000].join("+");
    assert!(unverifiable("1", &wide));
    let mb = format!("The final answer is ${}$", "\\frac{1}{2}+".repeat(90_000));
    let out = verify(&mb, "1", &cfg());
    assert!(matches!(out, Outcome::Unverifiable { .. }), "{out:?}");
    let boxes = "\\boxed{".repeat(150_000);
    assert!(matches!(
        verify(&boxes, "1", &cfg()),
        Outcome::Unverifiable { .. } | Outcome::NoAnswer
    ));
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn small_step_budget_stops_work() {
    let mut c = cfg();
    c.budget.max_steps = 50;
    let out = verify("The final answer is (x+1)^2", "x^2+2x+1", &c);
    assert!(matches!(out, Outcome::Unverifiable { .. }), "{out:?}");
    c.budget.max_steps = 20_000;
    let out = verify("The final answer is 2004!", "2005!/2005", &c);
    assert!(matches!(out, Outcome::Unverifiable { .. }), "{out:?}");
    assert!(verify("The final answer is 2004!", "2005!/2005", &cfg()).is_equivalent());
}

#[test]
fn config_validation_and_serde() {
    assert!(cfg().validate().is_ok());
    let mut c = cfg();
    c.extract.clear();
    assert!(c.validate().is_err());
    assert!(matches!(
        verify("\\boxed{1}", "1", &c),
        Outcome::Unverifiable { .. }
    ));
    let mut c = cfg();
    c.relative_tolerance = -1.0;
    assert!(c.validate().is_err());
    c.relative_tolerance = f64::NAN;
    assert!(c.validate().is_err());
    let parsed: MathConfig =
        serde_json::from_str(r#"{"extract": ["boxed"], "budget": {"max_steps": 10}}"#).unwrap();
    assert_eq!(parsed.extract, vec![Extractor::Boxed]);
    assert_eq!(parsed.budget.max_steps, 10);
    assert_eq!(parsed.budget.max_nodes, Budget::default().max_nodes);
    assert!(serde_json::from_str::<MathConfig>(r#"{"extrct": []}"#).is_err());
    assert!(
        serde_json::from_str::<MathConfig>(r#"{"extract": ["final_answer", "answer_colon"]}"#)
            .is_ok()
    );
}

#[test]
fn tolerance_applies_to_irrational_values_only() {
    let mut c = cfg();
    assert!(verify("The final answer is 3.14159265", "\\pi", &c).is_equivalent());
    assert!(!verify("The final answer is 3.1416", "\\pi", &c).is_equivalent());
    c.relative_tolerance = 1e-4;
    assert!(verify("The final answer is 3.1416", "\\pi", &c).is_equivalent());
    // Rationals stay exact whatever the tolerance.
    assert!(!verify("The final answer is 10001", "10000", &c).is_equivalent());
}

#[test]
fn long_chains_fit_a_small_stack() {
    // A chain `a + b + ...` is as deep as it is long; trees deeper than 100 are refused, and the
    // deepest accepted ones evaluate inside a quarter of the 2 MiB default thread stack (even in
    // an unoptimised build).
    let sum = vec!["\\sqrt{2}"; 98].join("+");
    let prod = vec!["x"; 99].join("*");
    let long = vec!["1"; 900].join("+");
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let a = verify(&format!("\\boxed{{{sum}}}"), "98\\sqrt{2}", &cfg());
            let b = verify(&format!("\\boxed{{{prod}}}"), "x^{99}", &cfg());
            let c = verify(&format!("\\boxed{{{long}}}"), "900", &cfg());
            (a, b, c)
        })
        .unwrap();
    let (a, b, c) = handle.join().expect("no stack overflow");
    assert!(a.is_equivalent(), "{a:?}");
    assert!(b.is_equivalent(), "{b:?}");
    assert!(matches!(c, Outcome::Unverifiable { .. }), "{c:?}");
}

#[test]
fn arbitrary_fragments_never_panic() {
    let samples = [
        "The final answer is $\\left( 3, \\frac{\\pi}{2} \\right)$. Also \\boxed{\\{1\\pm\\sqrt{5},-2\\}}",
        "Answer: \\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix} é ü 中文 $\\$32,\\!348$ 90^\\circ",
        "\\boxed{x \\in [-2,7] \\cup (9, \\infty)} \\boxed{\\sqrt[3]{-8}!^{2^{3}}} \\boxed{\\log_{2} 8 = 3}",
    ];
    for s in samples {
        let idx: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
        for &i in &idx {
            for tail in [&s[i..], &s[..i]] {
                let _ = verify(tail, "3", &cfg());
                let _ = verify(&format!("\\boxed{{{tail}}}"), tail, &cfg());
            }
        }
    }
}

#[test]
fn random_token_soup_never_panics_and_stays_fast() {
    const PIECES: &[&str] = &[
        "1",
        "23",
        ".5",
        "0",
        "x",
        "y",
        "e",
        "i",
        "\\pi",
        "\\infty",
        "+",
        "-",
        "*",
        "/",
        "^",
        "!",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "\\{",
        "\\}",
        ",",
        "=",
        "<",
        "\\le",
        "\\pm",
        "\\frac",
        "\\sqrt",
        "\\dfrac",
        "\\left(",
        "\\right)",
        "\\text{cm}",
        "\\boxed{",
        "$",
        "\\$",
        "%",
        "\\%",
        " ",
        "_",
        "\\sin",
        "\\log",
        "\\ln",
        "\\cup",
        "\\in",
        "&",
        "\\\\",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "^\\circ",
        "é",
        "\\!",
        "10^{10^{10}}",
        "1000!",
        "\\teyt",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let started = std::time::Instant::now();
    for _ in 0..3000 {
        let len = 1 + next(24);
        let answer: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
        let gold: String = (0..1 + next(8))
            .map(|_| PIECES[next(PIECES.len())])
            .collect();
        let _ = verify(&format!("\\boxed{{{answer}}}"), &gold, &cfg());
        let _ = verify(&format!("The final answer is {answer}"), &answer, &cfg());
    }
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
}
