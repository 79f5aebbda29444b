//! Evaluation: exact (big rationals, with explicit size guards) and floating-point.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use crate::budget::{MAX_BITS, MAX_FACTORIAL, Meter, Res, Stop};
use crate::expr::{Const, Expr, Func};

fn bits(r: &BigRational) -> u64 {
    r.numer().bits().max(r.denom().bits())
}

fn guard(r: BigRational, meter: &mut Meter) -> Res<BigRational> {
    let b = bits(&r);
    if b > MAX_BITS {
        return Err(Stop::Budget(format!(
            "exact value larger than {MAX_BITS} bits"
        )));
    }
    meter.charge(b / 64 + 1)?;
    Ok(r)
}

/// Exact value of a variable-free rational expression; `None` when the value is not a
/// rational number this evaluator can prove (variables, `\pi`, irrational roots, functions).
///
/// Iterative (post-order over the tree): evaluation uses no recursion, whatever the depth.
pub(crate) fn exact(e: &Expr, meter: &mut Meter) -> Res<Option<BigRational>> {
    let mut vals: Vec<Option<BigRational>> = Vec::new();
    for node in e.postorder() {
        meter.charge(1)?;
        let v = match node {
            Expr::Num(n) => Some(n.clone()),
            Expr::Var(_) | Expr::Const(_) => None,
            Expr::Pm(..) => return Err(Stop::Parse("unexpanded \\pm".into())),
            Expr::Neg(_) | Expr::Fact(_) | Expr::Func(..) => {
                let x = pop(&mut vals)?;
                unary_exact(node, x, meter)?
            }
            _ => {
                let y = pop(&mut vals)?;
                let x = pop(&mut vals)?;
                match (x, y) {
                    (Some(x), Some(y)) => binary_exact(node, x, y, meter)?,
                    _ => None,
                }
            }
        };
        vals.push(v);
    }
    pop(&mut vals)
}

fn pop<T>(vals: &mut Vec<T>) -> Res<T> {
    vals.pop()
        .ok_or_else(|| Stop::Parse("malformed expression".into()))
}

fn unary_exact(node: &Expr, x: Option<BigRational>, meter: &mut Meter) -> Res<Option<BigRational>> {
    let Some(x) = x else {
        return Ok(None);
    };
    Ok(match node {
        Expr::Neg(_) => Some(-x),
        Expr::Fact(_) => Some(factorial(&x, meter)?),
        Expr::Func(Func::Abs, _) => Some(x.abs()),
        Expr::Func(Func::Sqrt, _) if !x.is_negative() => root(&x, 2),
        _ => None,
    })
}

fn binary_exact(
    node: &Expr,
    x: BigRational,
    y: BigRational,
    meter: &mut Meter,
) -> Res<Option<BigRational>> {
    Ok(match node {
        Expr::Add(..) => Some(guard(x + y, meter)?),
        Expr::Sub(..) => Some(guard(x - y, meter)?),
        Expr::Mul(..) => {
            if bits(&x) + bits(&y) > 2 * MAX_BITS {
                return Err(Stop::Budget("product too large".into()));
            }
            Some(guard(x * y, meter)?)
        }
        Expr::Div(..) if y.is_zero() => {
            return Err(Stop::Undefined("division by zero".into()));
        }
        Expr::Div(..) => Some(guard(x / y, meter)?),
        Expr::Pow(..) => power(x, &y, meter)?,
        Expr::Root(..) if x.is_integer() && !y.is_negative() => match x.to_integer().to_u32() {
            Some(k @ 2..=64) => root(&y, k),
            _ => None,
        },
        _ => None,
    })
}

/// `x^y` exactly: integer exponents with the size of the result bounded before computing;
/// `x^(p/q)` when `x` is a perfect q-th power.
fn power(x: BigRational, y: &BigRational, meter: &mut Meter) -> Res<Option<BigRational>> {
    if x.is_zero() {
        return if y.is_negative() {
            Err(Stop::Undefined("zero to a negative power".into()))
        } else if y.is_zero() {
            Ok(Some(BigRational::from_integer(1.into())))
        } else {
            Ok(Some(x))
        };
    }
    let (num, den) = (y.numer(), y.denom());
    let base_bits = bits(&x).max(1);
    let unit = x.abs() == BigRational::from_integer(1.into());
    let Some(p) = num.abs().to_u64() else {
        return if unit && den == &BigInt::from(1) {
            Ok(Some(if num % 2 == BigInt::zero() {
                x.abs()
            } else {
                x
            }))
        } else {
            Err(Stop::Budget("exponent too large".into()))
        };
    };
    if !unit && base_bits.saturating_sub(1).max(1).saturating_mul(p) > MAX_BITS {
        return Err(Stop::Budget(format!("power larger than {MAX_BITS} bits")));
    }
    let base = if den == &BigInt::from(1) {
        x
    } else {
        let Some(q) = den.to_u32().filter(|q| *q <= 64) else {
            return Ok(None);
        };
        if x.is_negative() {
            return Ok(None);
        }
        match root(&x, q) {
            Some(r) => r,
            None => return Ok(None),
        }
    };
    let p = u32::try_from(p).map_err(|_| Stop::Budget("exponent too large".into()))?;
    meter.charge(u64::from(p).min(MAX_BITS) * base_bits / 64 + 1)?;
    let r = num_traits::pow(base, p as usize);
    let r = if num.is_negative() { r.recip() } else { r };
    Ok(Some(guard(r, meter)?))
}

/// Exact k-th root of a non-negative rational when numerator and denominator are perfect powers.
fn root(x: &BigRational, k: u32) -> Option<BigRational> {
    let n = x.numer().nth_root(k);
    let d = x.denom().nth_root(k);
    (num_traits::pow(n.clone(), k as usize) == *x.numer()
        && num_traits::pow(d.clone(), k as usize) == *x.denom())
    .then(|| BigRational::new(n, d))
}

fn factorial(n: &BigRational, meter: &mut Meter) -> Res<BigRational> {
    if !n.is_integer() || n.is_negative() {
        return Err(Stop::Undefined("factorial of a non-natural number".into()));
    }
    let k = n
        .to_integer()
        .to_u64()
        .filter(|k| *k <= MAX_FACTORIAL)
        .ok_or_else(|| Stop::Budget(format!("factorial larger than {MAX_FACTORIAL}!")))?;
    let mut acc = BigInt::from(1);
    for i in 2..=k {
        acc *= i;
        meter.charge(acc.bits() / 64 + 1)?;
    }
    Ok(BigRational::from_integer(acc))
}

/// Floating-point value with variables bound by `env`. NaN means undefined at this point.
/// Iterative, like [`exact`].
pub(crate) fn float(e: &Expr, env: &BTreeMap<String, f64>, meter: &mut Meter) -> Res<f64> {
    let mut vals: Vec<f64> = Vec::new();
    for node in e.postorder() {
        meter.charge(1)?;
        let (v, inputs) = match node {
            Expr::Num(n) => {
                let v = n.to_f64().unwrap_or(f64::NAN);
                if v == 0.0 && !n.is_zero() {
                    return Err(out_of_range());
                }
                (v, [None, None])
            }
            Expr::Var(v) => (*env.get(v).unwrap_or(&f64::NAN), [None, None]),
            Expr::Const(Const::Pi) => (std::f64::consts::PI, [None, None]),
            Expr::Const(Const::E) => (std::f64::consts::E, [None, None]),
            Expr::Const(Const::Inf) => {
                vals.push(f64::INFINITY);
                continue;
            }
            Expr::Pm(..) => return Err(Stop::Parse("unexpanded \\pm".into())),
            Expr::Neg(_) | Expr::Fact(_) | Expr::Func(..) => {
                let x = pop(&mut vals)?;
                (unary_float(node, x), [Some(x), None])
            }
            _ => {
                let y = pop(&mut vals)?;
                let x = pop(&mut vals)?;
                (binary_float(node, x, y), [Some(x), Some(y)])
            }
        };
        if degenerate(node, &inputs, v) {
            return Err(out_of_range());
        }
        vals.push(v);
    }
    pop(&mut vals)
}

fn out_of_range() -> Stop {
    Stop::Budget("value outside floating-point range".into())
}

/// Did this node overflow, underflow or lose its precision (so that two different values
/// could compare equal)? Infinity and zero propagated from inputs are not degenerate.
fn degenerate(node: &Expr, inputs: &[Option<f64>; 2], v: f64) -> bool {
    let ins = || inputs.iter().flatten();
    let finite = ins().all(|x| x.is_finite());
    let nonzero = ins().all(|x| *x != 0.0);
    let underflow = v == 0.0
        && finite
        && nonzero
        && matches!(
            node,
            Expr::Mul(..) | Expr::Div(..) | Expr::Pow(..) | Expr::Func(Func::Exp, _)
        );
    (v.is_infinite() && finite) || (v != 0.0 && v.abs() < f64::MIN_POSITIVE) || underflow
}

fn unary_float(node: &Expr, x: f64) -> f64 {
    match node {
        Expr::Neg(_) => -x,
        Expr::Fact(_) => {
            if x < 0.0 || x.fract() != 0.0 {
                f64::NAN
            } else if x > 170.0 {
                f64::INFINITY
            } else {
                (2..=x as u64).map(|i| i as f64).product()
            }
        }
        Expr::Func(f, _) => match f {
            Func::Sqrt => x.sqrt(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Cot => 1.0 / x.tan(),
            Func::Sec => 1.0 / x.cos(),
            Func::Csc => 1.0 / x.sin(),
            Func::Asin => x.asin(),
            Func::Acos => x.acos(),
            Func::Atan => x.atan(),
            Func::Sinh => x.sinh(),
            Func::Cosh => x.cosh(),
            Func::Tanh => x.tanh(),
            Func::Ln => x.ln(),
            Func::Exp => x.exp(),
            Func::Abs => x.abs(),
        },
        _ => f64::NAN,
    }
}

fn binary_float(node: &Expr, x: f64, y: f64) -> f64 {
    match node {
        Expr::Add(..) => x + y,
        Expr::Sub(..) => x - y,
        Expr::Mul(..) => x * y,
        Expr::Div(..) => x / y,
        Expr::Pow(..) => {
            if x < 0.0 && y.fract() != 0.0 {
                // Odd roots of negatives (`(-8)^{1/3}`) are real.
                let q = (1.0 / y).round();
                if (1.0 / y - q).abs() < 1e-9 && q % 2.0 != 0.0 {
                    -(-x).powf(y)
                } else {
                    f64::NAN
                }
            } else {
                x.powf(y)
            }
        }
        // x = index, y = radicand.
        Expr::Root(..) => {
            if y < 0.0 && x % 2.0 == 1.0 {
                -(-y).powf(1.0 / x)
            } else {
                y.powf(1.0 / x)
            }
        }
        // x = base, y = argument.
        Expr::Log(..) => y.ln() / x.ln(),
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::lex::tokenize;
    use crate::parse::parse_expr;

    fn ex(s: &str) -> Res<Option<BigRational>> {
        let mut m = Meter::new(&Budget::default());
        let e = parse_expr(&tokenize(s)?, &mut m)?;
        exact(&e, &mut m)
    }

    fn q(a: i64, b: i64) -> Option<BigRational> {
        Some(BigRational::new(a.into(), b.into()))
    }

    #[test]
    fn exact_arithmetic() {
        assert_eq!(ex("\\frac{1}{2} + \\frac{1}{3}").unwrap(), q(5, 6));
        assert_eq!(ex("2^{10}").unwrap(), q(1024, 1));
        assert_eq!(ex("2^{-2}").unwrap(), q(1, 4));
        assert_eq!(ex("\\sqrt{\\frac{9}{4}}").unwrap(), q(3, 2));
        assert_eq!(ex("8^{1/3}").unwrap(), q(2, 1));
        assert_eq!(ex("\\sqrt[3]{27}").unwrap(), q(3, 1));
        assert_eq!(ex("5!").unwrap(), q(120, 1));
        assert_eq!(ex("(-1)^{10^{30}}").unwrap(), q(1, 1));
        assert_eq!(ex("\\sqrt{2}").unwrap(), None);
        assert_eq!(ex("\\pi").unwrap(), None);
        assert!(matches!(ex("1/0"), Err(Stop::Undefined(_))));
    }

    #[test]
    fn exact_big_factorials_differ() {
        let a = ex("1/2004!").unwrap().unwrap();
        let b = ex("1/2006!").unwrap().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn huge_values_stop_quickly() {
        let t = std::time::Instant::now();
        for s in [
            "2^{10^{10}}",
            "10^{10^9}",
            "(10^9)!",
            "3^{3^{3^{3}}}",
            "2^{2^{64}}",
        ] {
            assert!(matches!(ex(s), Err(Stop::Budget(_))), "{s}");
        }
        assert!(t.elapsed().as_secs() < 2);
    }

    #[test]
    fn floats() {
        let mut m = Meter::new(&Budget::default());
        let e = parse_expr(&tokenize("\\sin^2 x + \\cos^2 x").unwrap(), &mut m).unwrap();
        let env = BTreeMap::from([("x".to_string(), 0.7)]);
        assert!((float(&e, &env, &mut m).unwrap() - 1.0).abs() < 1e-12);
        let e = parse_expr(&tokenize("(-8)^{1/3}").unwrap(), &mut m).unwrap();
        assert!((float(&e, &env, &mut m).unwrap() + 2.0).abs() < 1e-12);
        for huge in [
            "200!",
            "10^{400}",
            "e^{-1000}",
            "\\frac{1}{2004!}",
            "1/0",
            "\\sqrt{2}^{-3000}",
        ] {
            let e = parse_expr(&tokenize(huge).unwrap(), &mut m).unwrap();
            assert!(
                matches!(float(&e, &env, &mut m), Err(Stop::Budget(_))),
                "{huge}"
            );
        }
        let e = parse_expr(&tokenize("-\\infty").unwrap(), &mut m).unwrap();
        assert_eq!(float(&e, &env, &mut m).unwrap(), f64::NEG_INFINITY);
        let e = parse_expr(&tokenize("x - x").unwrap(), &mut m).unwrap();
        assert_eq!(float(&e, &env, &mut m).unwrap(), 0.0);
    }
}
