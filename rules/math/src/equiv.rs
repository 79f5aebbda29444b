//! Answer equivalence: exact rational comparison where possible, otherwise evaluation at
//! deterministic pseudo-random points within the configured relative tolerance.

use std::collections::{BTreeMap, BTreeSet};

use num_traits::ToPrimitive;

use crate::answer::is_var;
use crate::budget::{Meter, Res, Stop};
use crate::eval::{exact, float};
use crate::expr::{Answer, Expr, RelOp};

/// Points tried when an expression has free variables.
const POINTS: usize = 8;
/// Absolute difference always accepted (floating-point cancellation near zero).
const ABS_FLOOR: f64 = 1e-10;
/// Magnitude below which two non-zero floats cannot be told apart (underflow): undecidable.
const TINY: f64 = 1e-250;

pub(crate) struct Ctx<'m> {
    pub(crate) tol: f64,
    /// An answer is written with decimals: non-integer rational values then compare within
    /// tolerance too (`0.333333` matches `\frac13`, as in math-verify); an integer on either
    /// side keeps the comparison exact (`1000000.5` is not `1000000`).
    pub(crate) decimals: bool,
    pub(crate) meter: &'m mut Meter,
}

/// Is `pred` equivalent to `gold`?
pub(crate) fn answers(gold: &Answer, pred: &Answer, cx: &mut Ctx) -> Res<bool> {
    cx.meter.charge(1)?;
    use Answer as A;
    match (gold, pred) {
        (A::Text(a), A::Text(b)) => Ok(a == b),
        (A::Expr(a), A::Expr(b)) => exprs(a, b, cx),
        // `x = 5` against `5`: compare the right-hand side.
        (A::Rel(RelOp::Eq, l, r), other) | (other, A::Rel(RelOp::Eq, l, r))
            if is_var(l) && !matches!(other, A::Rel(..)) =>
        {
            answers(&A::Expr(r.clone()), other, cx)
        }
        (A::Rel(o1, l1, r1), A::Rel(o2, l2, r2)) => relations((*o1, l1, r1), (*o2, l2, r2), cx),
        (A::Set(a), A::Set(b)) | (A::Union(a), A::Union(b)) => unordered(a, b, cx),
        (A::Set(a), b) | (b, A::Set(a)) if a.len() == 1 && !matches!(b, A::Set(_)) => {
            answers(&a[0], b, cx)
        }
        (A::Tuple(a), A::Tuple(b)) => ordered(a, b, cx),
        // A bare list or set against a parenthesised tuple: element by element, in the written
        // order (math-verify: `(1,2)` matches `1,2`, `(-2,1)` does not match `1,-2`).
        (A::Set(a), A::Tuple(b)) | (A::Tuple(b), A::Set(a)) => ordered(a, b, cx),
        (A::Matrix(a), A::Matrix(b)) => {
            if a.len() != b.len() {
                return Ok(false);
            }
            for (ra, rb) in a.iter().zip(b) {
                if !ordered(ra, rb, cx)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (
            A::Interval {
                lo: l1,
                hi: h1,
                lo_closed: c1,
                hi_closed: d1,
            },
            A::Interval {
                lo: l2,
                hi: h2,
                lo_closed: c2,
                hi_closed: d2,
            },
        ) => Ok(c1 == c2 && d1 == d2 && exprs(l1, l2, cx)? && exprs(h1, h2, cx)?),
        _ => Ok(false),
    }
}

fn ordered(a: &[Answer], b: &[Answer], cx: &mut Ctx) -> Res<bool> {
    if a.len() != b.len() {
        return Ok(false);
    }
    for (x, y) in a.iter().zip(b) {
        if !answers(x, y, cx)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Multiset equality: every gold element matched by a distinct predicted element.
fn unordered(a: &[Answer], b: &[Answer], cx: &mut Ctx) -> Res<bool> {
    if a.len() != b.len() {
        return Ok(false);
    }
    let mut used = vec![false; b.len()];
    'gold: for x in a {
        for (j, y) in b.iter().enumerate() {
            if !used[j] && answers(x, y, cx)? {
                used[j] = true;
                continue 'gold;
            }
        }
        return Ok(false);
    }
    Ok(true)
}

/// Equations: same variable on the left compares right-hand sides; otherwise `l1 - r1` must be
/// a non-zero constant multiple of `l2 - r2` (so `2x + 2 = 4` matches `x + 1 = 2`, while
/// equations whose right-hand sides differ do not). Inequalities compare side by side.
fn relations(a: (RelOp, &Expr, &Expr), b: (RelOp, &Expr, &Expr), cx: &mut Ctx) -> Res<bool> {
    if a.0 != b.0 {
        return Ok(false);
    }
    if a.0 != RelOp::Eq {
        return Ok(exprs(a.1, b.1, cx)? && exprs(a.2, b.2, cx)?);
    }
    if is_var(a.1) && a.1 == b.1 {
        return exprs(a.2, b.2, cx);
    }
    let da = Expr::bin(Expr::Sub, a.1.clone(), a.2.clone());
    let db = Expr::bin(Expr::Sub, b.1.clone(), b.2.clone());
    proportional(&da, &db, cx)
}

fn proportional(a: &Expr, b: &Expr, cx: &mut Ctx) -> Res<bool> {
    let mut ratio: Option<f64> = None;
    let mut checked = 0;
    for env in points(&[a, b]) {
        let (x, y) = (float(a, &env, cx.meter)?, float(b, &env, cx.meter)?);
        if !x.is_finite() || !y.is_finite() {
            continue;
        }
        if y.abs() <= ABS_FLOOR {
            if x.abs() > ABS_FLOOR {
                return Ok(false);
            }
            continue;
        }
        let k = x / y;
        match ratio {
            None if k.abs() <= ABS_FLOOR => return Ok(false),
            None => ratio = Some(k),
            Some(r) if !close(k, r, cx.tol) => return Ok(false),
            Some(_) => {}
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(Stop::Undefined("equations could not be evaluated".into()));
    }
    Ok(true)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    a == b || (a - b).abs() <= tol * a.abs().max(b.abs()) || (a - b).abs() <= ABS_FLOOR
}

/// Deterministic points: every variable gets a distinct value in [0.5, 3.0).
fn points(es: &[&Expr]) -> Vec<BTreeMap<String, f64>> {
    let mut vars = BTreeSet::new();
    for e in es {
        e.vars(&mut vars);
    }
    if vars.is_empty() {
        return vec![BTreeMap::new()];
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        0.5 + 2.5 * ((state >> 11) as f64 / (1u64 << 53) as f64)
    };
    (0..POINTS)
        .map(|_| vars.iter().map(|v| (v.clone(), next())).collect())
        .collect()
}

/// The digits of a numeral written with a base subscript (`52_8` -> `52`).
fn based_digits(e: &Expr) -> Option<&str> {
    match e {
        Expr::Var(name) => {
            let (digits, base) = name.split_once('_')?;
            let numeric = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            (numeric(digits) && numeric(base)).then_some(digits)
        }
        _ => None,
    }
}

/// Expression equivalence: exactly when both sides are rational numbers, numerically otherwise.
pub(crate) fn exprs(a: &Expr, b: &Expr, cx: &mut Ctx) -> Res<bool> {
    if a == b {
        return Ok(true);
    }
    // A numeral with a base subscript against a plain numeral: same digits (math-verify).
    for (x, y) in [(a, b), (b, a)] {
        if let (Some(d), Expr::Num(n)) = (based_digits(x), y) {
            return Ok(n.is_integer() && n.to_integer().to_string() == d);
        }
    }
    if let (Some(x), Some(y)) = (exact(a, cx.meter)?, exact(b, cx.meter)?) {
        if x == y || !cx.decimals || x.is_integer() || y.is_integer() {
            return Ok(x == y);
        }
        let (fx, fy) = (
            x.to_f64().unwrap_or(f64::NAN),
            y.to_f64().unwrap_or(f64::NAN),
        );
        return Ok(fx.is_finite()
            && fy.is_finite()
            && fx.abs().max(fy.abs()) > TINY
            && close(fx, fy, cx.tol));
    }
    let infinite_ok = a.has_inf() || b.has_inf();
    let mut checked = 0;
    for env in points(&[a, b]) {
        let (x, y) = (float(a, &env, cx.meter)?, float(b, &env, cx.meter)?);
        if x.is_nan() && y.is_nan() {
            continue;
        }
        if x.is_nan() || y.is_nan() {
            return Ok(false);
        }
        if (x.is_infinite() || y.is_infinite()) && !infinite_ok {
            return Err(Stop::Budget("value overflows floating point".into()));
        }
        if x != y && x.abs() < TINY && y.abs() < TINY {
            return Err(Stop::Undefined("values too small to compare".into()));
        }
        if !close(x, y, cx.tol) {
            return Ok(false);
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(Stop::Undefined(
            "expressions undefined at every test point".into(),
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::lex::tokenize;
    use crate::parse::parse_expr;

    fn ex(s: &str) -> Expr {
        let mut m = Meter::new(&Budget::default());
        parse_expr(&tokenize(s).unwrap(), &mut m).unwrap()
    }

    fn same(a: &str, b: &str) -> Res<bool> {
        let mut m = Meter::new(&Budget::default());
        let mut cx = Ctx {
            tol: 1e-6,
            decimals: false,
            meter: &mut m,
        };
        exprs(&ex(a), &ex(b), &mut cx)
    }

    #[test]
    fn closeness() {
        assert!(close(1.0, 1.0 + 1e-9, 1e-6));
        assert!(!close(1.0, 1.001, 1e-6));
        assert!(close(0.0, 1e-12, 1e-6));
        assert!(!close(0.0, 1e-7, 1e-6));
        assert!(close(f64::INFINITY, f64::INFINITY, 1e-6));
        assert!(!close(f64::NEG_INFINITY, 3.0, 1e-6));
    }

    #[test]
    fn points_are_deterministic_and_distinct() {
        let e = ex("x + y");
        let p1 = points(&[&e]);
        let p2 = points(&[&e]);
        assert_eq!(p1, p2);
        assert_eq!(p1.len(), POINTS);
        assert!(
            p1.iter()
                .all(|env| env["x"] != env["y"] && (0.5..3.0).contains(&env["x"]))
        );
        assert_eq!(points(&[&ex("2")]).len(), 1);
    }

    #[test]
    fn exact_then_numeric() {
        assert!(same("\\frac{1}{2004!}", "\\frac{2005 \\cdot 2006}{2006!}").unwrap());
        assert!(!same("\\frac{1}{2004!}", "\\frac{1}{2006!}").unwrap());
        assert!(same("\\sqrt{8}", "2\\sqrt{2}").unwrap());
        assert!(!same("x", "y").unwrap());
        assert!(same("(a+b)^2", "a^2 + 2ab + b^2").unwrap());
        // Undefined everywhere on both sides: undecidable, never equivalent.
        assert!(same("\\sqrt{-1-x^2}", "\\ln(-1-x^2)").is_err());
        // Too small to tell apart in floating point, and not exactly rational: undecidable.
        assert!(same("\\frac{\\sqrt{2}}{2004!}", "\\frac{\\sqrt{2}}{2006!}").is_err());
        // Overflow is not equality.
        assert!(same("\\sqrt{2}^{3000}", "\\sqrt{2}^{3002}").is_err());
    }

    #[test]
    fn proportional_equations() {
        let mut m = Meter::new(&Budget::default());
        let mut cx = Ctx {
            tol: 1e-6,
            decimals: false,
            meter: &mut m,
        };
        assert!(proportional(&ex("2x + 2 - 4"), &ex("x + 1 - 2"), &mut cx).unwrap());
        assert!(!proportional(&ex("x + y - 3"), &ex("x + y - 4"), &mut cx).unwrap());
        assert!(!proportional(&ex("x"), &ex("0"), &mut cx).unwrap());
    }
}
