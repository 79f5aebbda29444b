//! Top-level answer structure: text answers, lists, sets, tuples, intervals, unions,
//! relations (`x = 5`, `x \in [a, b]`), matrices, and plain expressions.

use crate::budget::{Meter, Res, Stop};
use crate::expr::{Answer, Expr, RelOp};
use crate::latex::matching_brace;
use crate::lex::{Tok, tokenize};
use crate::parse::parse_expr;

/// Most expansions of `\pm` kept for one answer.
const MAX_PM: usize = 16;

/// Function and constant names that do not make an answer a word.
const MATH_WORDS: &[&str] = &[
    "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "log", "ln", "exp", "pi", "infty", "infinity", "inf",
];

/// Parses a normalised answer string.
pub(crate) fn parse_answer(s: &str, meter: &mut Meter) -> Res<Answer> {
    if let Some(t) = as_text(s) {
        return Ok(Answer::Text(t));
    }
    if let Some(m) = matrix(s, meter)? {
        return Ok(m);
    }
    let toks = tokenize(s)?;
    item(&toks, meter)
}

/// Word answers (`Evelyn`, `even`, `no solution`) and multiple-choice letters (`(C)`, `C`).
fn as_text(s: &str) -> Option<String> {
    let inner = s.trim();
    let letter = inner
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(inner);
    if letter.len() == 1 && letter.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some(letter.to_ascii_lowercase());
    }
    let wordy = inner
        .chars()
        .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'');
    let has_word = inner
        .split([' ', '-', '\''])
        .any(|w| w.chars().count() >= 3 && !MATH_WORDS.contains(&w));
    (wordy && has_word).then(|| {
        inner
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// `\begin{pmatrix} a & b \\ c & d \end{pmatrix}` (also bmatrix, matrix, vmatrix...).
fn matrix(s: &str, meter: &mut Meter) -> Res<Option<Answer>> {
    let Some(rest) = s.strip_prefix("\\begin") else {
        return Ok(None);
    };
    let rest = rest.trim_start();
    if !rest.starts_with('{') {
        return Err(Stop::Parse("\\begin without an environment name".into()));
    }
    let close = matching_brace(rest).ok_or_else(|| Stop::Parse("bad \\begin".into()))?;
    let env = &rest[1..close];
    let body = &rest[close + 1..];
    let end = format!("\\end{{{env}}}");
    let body = body
        .trim_end()
        .strip_suffix(end.as_str())
        .ok_or_else(|| Stop::Parse(format!("unclosed environment {env}")))?;
    if !env.ends_with("matrix") {
        return Err(Stop::Parse(format!("unsupported environment {env}")));
    }
    let mut rows = Vec::new();
    for row in body.split("\\\\") {
        if row.trim().is_empty() {
            continue;
        }
        let cells = row
            .split('&')
            .map(|c| item(&tokenize(c)?, meter))
            .collect::<Res<Vec<_>>>()?;
        rows.push(cells);
    }
    if rows.is_empty() {
        return Err(Stop::Parse("empty matrix".into()));
    }
    Ok(Some(Answer::Matrix(rows)))
}

fn opens(t: &Tok) -> bool {
    matches!(t, Tok::Sym('(' | '[' | '{') | Tok::SetOpen)
}

fn closes(t: &Tok) -> bool {
    matches!(t, Tok::Sym(')' | ']' | '}') | Tok::SetClose)
}

/// Splits at top-level tokens satisfying `sep` (bracket depth 0).
fn split_top<'a>(toks: &'a [Tok], sep: &dyn Fn(&Tok) -> bool) -> Vec<&'a [Tok]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if opens(t) {
            depth += 1;
        } else if closes(t) {
            depth -= 1;
        } else if depth == 0 && sep(t) {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// Does the bracket opened at index 0 close at the last token?
fn wraps_all(toks: &[Tok]) -> bool {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        if opens(t) {
            depth += 1;
        } else if closes(t) {
            depth -= 1;
            if depth == 0 {
                return i == toks.len() - 1;
            }
        }
    }
    false
}

fn relation(t: &Tok) -> Option<&'static str> {
    match t {
        Tok::Sym('=') => Some("="),
        Tok::Sym('<') => Some("<"),
        Tok::Sym('>') => Some(">"),
        Tok::Cmd(c) => match c.as_str() {
            "le" => Some("<="),
            "ge" => Some(">="),
            "ne" => Some("!="),
            "in" => Some("in"),
            "approx" | "equiv" => Some("="),
            _ => None,
        },
        _ => None,
    }
}

fn item(toks: &[Tok], meter: &mut Meter) -> Res<Answer> {
    meter.nest()?;
    let r = item_inner(toks, meter);
    meter.unnest();
    r
}

fn item_inner(toks: &[Tok], meter: &mut Meter) -> Res<Answer> {
    meter.charge(1)?;
    if toks.is_empty() {
        return Err(Stop::Parse("empty answer element".into()));
    }
    let parts = split_top(toks, &|t| *t == Tok::Sym(','));
    if parts.len() > 1 {
        return Ok(Answer::Set(elements(&parts, meter)?));
    }
    let union = split_top(toks, &|t| matches!(t, Tok::Cmd(c) if c == "cup"));
    if union.len() > 1 {
        return Ok(Answer::Union(
            union.iter().map(|u| item(u, meter)).collect::<Res<_>>()?,
        ));
    }
    let rel = split_top(toks, &|t| relation(t).is_some());
    if rel.len() > 1 {
        let ops: Vec<&str> = toks_relations(toks);
        return rel_answer(&ops, &rel, meter);
    }
    let (first, last) = (&toks[0], &toks[toks.len() - 1]);
    if toks.len() >= 2 && wraps_all(toks) {
        let inner = &toks[1..toks.len() - 1];
        let parts = split_top(inner, &|t| *t == Tok::Sym(','));
        if *first == Tok::SetOpen {
            return Ok(Answer::Set(elements(&parts, meter)?));
        }
        if parts.len() > 1
            && matches!(first, Tok::Sym('(' | '['))
            && matches!(last, Tok::Sym(')' | ']'))
        {
            let round = *first == Tok::Sym('(') && *last == Tok::Sym(')');
            let square = *first == Tok::Sym('[') && *last == Tok::Sym(']');
            if parts.len() == 2 && !round {
                return Ok(Answer::Interval {
                    lo: parse_expr(parts[0], meter)?,
                    hi: parse_expr(parts[1], meter)?,
                    lo_closed: *first == Tok::Sym('['),
                    hi_closed: *last == Tok::Sym(']'),
                });
            }
            if !(round || square) {
                return Err(Stop::Parse("mismatched brackets around a list".into()));
            }
            return Ok(Answer::Tuple(
                parts.iter().map(|p| item(p, meter)).collect::<Res<_>>()?,
            ));
        }
    }
    expression(toks, meter)
}

fn toks_relations(toks: &[Tok]) -> Vec<&'static str> {
    let mut depth = 0i32;
    let mut ops = Vec::new();
    for t in toks {
        if opens(t) {
            depth += 1;
        } else if closes(t) {
            depth -= 1;
        } else if depth == 0
            && let Some(op) = relation(t)
        {
            ops.push(op);
        }
    }
    ops
}

/// `a = b` (a chain `a = b = c` keeps its ends), `a < b`, `x \in S` (S itself).
fn rel_answer(ops: &[&str], parts: &[&[Tok]], meter: &mut Meter) -> Res<Answer> {
    if ops[0] == "in" && parts.len() == 2 {
        return item(parts[1], meter);
    }
    if ops.len() > 1 && ops.iter().any(|o| *o != ops[0]) {
        return Err(Stop::Parse("mixed relation chain".into()));
    }
    let lhs = parse_expr(parts[0], meter)?;
    let rhs = parse_expr(parts[parts.len() - 1], meter)?;
    Ok(match ops[0] {
        "=" => Answer::Rel(RelOp::Eq, lhs, rhs),
        "!=" => Answer::Rel(RelOp::Ne, lhs, rhs),
        "<" => Answer::Rel(RelOp::Lt, lhs, rhs),
        "<=" => Answer::Rel(RelOp::Le, lhs, rhs),
        ">" => Answer::Rel(RelOp::Lt, rhs, lhs),
        ">=" => Answer::Rel(RelOp::Le, rhs, lhs),
        _ => return Err(Stop::Parse("misplaced \\in".into())),
    })
}

/// Set elements; an element with `\pm` contributes each of its expansions.
fn elements(parts: &[&[Tok]], meter: &mut Meter) -> Res<Vec<Answer>> {
    let mut out = Vec::new();
    for p in parts {
        match item(p, meter)? {
            Answer::Set(xs) if !matches!(p.first(), Some(Tok::SetOpen)) => out.extend(xs),
            a => out.push(a),
        }
    }
    Ok(out)
}

/// A plain expression; `a \pm b` becomes the set of its expansions.
fn expression(toks: &[Tok], meter: &mut Meter) -> Res<Answer> {
    let e = parse_expr(toks, meter)?;
    let expanded = e
        .expand_pm(MAX_PM)
        .ok_or_else(|| Stop::Budget(format!("more than {MAX_PM} \\pm expansions")))?;
    if expanded.len() == 1 {
        Ok(Answer::Expr(expanded.into_iter().next().unwrap_or(e)))
    } else {
        Ok(Answer::Set(
            expanded.into_iter().map(Answer::Expr).collect(),
        ))
    }
}

/// Is this expression a single variable (`x`, `a_1`, `\theta`)?
pub(crate) fn is_var(e: &Expr) -> bool {
    matches!(e, Expr::Var(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;

    fn a(s: &str) -> Answer {
        let mut m = Meter::new(&Budget::default());
        parse_answer(s, &mut m).unwrap()
    }

    #[test]
    fn text_and_choices() {
        assert_eq!(a("Evelyn"), Answer::Text("evelyn".into()));
        assert_eq!(a("(C)"), Answer::Text("c".into()));
        assert_eq!(a("no solution"), Answer::Text("no solution".into()));
        assert!(matches!(a("xy"), Answer::Expr(_)));
        assert!(matches!(a("pi"), Answer::Expr(_)));
    }

    #[test]
    fn structures() {
        assert!(matches!(a("1,-2"), Answer::Set(v) if v.len() == 2));
        assert!(matches!(a("\\{1,2,3\\}"), Answer::Set(v) if v.len() == 3));
        assert!(matches!(a("(1,2,3)"), Answer::Tuple(v) if v.len() == 3));
        assert!(matches!(a("(1,2)"), Answer::Tuple(v) if v.len() == 2));
        assert!(matches!(
            a("[1,2)"),
            Answer::Interval {
                lo_closed: true,
                hi_closed: false,
                ..
            }
        ));
        assert!(matches!(a("(0,9) \\cup (9,36)"), Answer::Union(v) if v.len() == 2));
        assert!(matches!(a("x \\in [-2,7]"), Answer::Interval { .. }));
        assert!(matches!(a("x = 5"), Answer::Rel(RelOp::Eq, ..)));
        assert!(matches!(
            a("x > 5"),
            Answer::Rel(RelOp::Lt, Expr::Num(_), Expr::Var(_))
        ));
        assert!(matches!(a("1 \\pm \\sqrt{19}"), Answer::Set(v) if v.len() == 2));
        assert!(matches!(a("\\{1\\pm\\sqrt{5},-2\\}"), Answer::Set(v) if v.len() == 3));
        assert!(matches!(a("(x+1)"), Answer::Expr(_)));
        let mut m = Meter::new(&Budget::default());
        assert!(parse_answer("[1,2,3)", &mut m).is_err());
        assert!(matches!(a("[1,2,3]"), Answer::Tuple(v) if v.len() == 3));
        let m = a("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}");
        assert!(matches!(m, Answer::Matrix(rows) if rows.len() == 2 && rows[0].len() == 2));
        assert!(is_var(&Expr::Var("x".into())));
        let nested = format!("{}1,2{}", "((".repeat(100), "),3)".repeat(100));
        let mut m = Meter::new(&Budget::default());
        assert!(matches!(
            parse_answer(&nested, &mut m),
            Err(Stop::Budget(_))
        ));
    }
}
