//! Expression trees and answer structures.

use std::collections::BTreeSet;

use num_rational::BigRational;

/// Deepest tree `expand_pm` recurses into.
const MAX_PM_DEPTH: usize = 32;

/// Named constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Const {
    Pi,
    E,
    Inf,
}

/// One-argument functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Sqrt,
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Exp,
    Abs,
}

impl Func {
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sqrt" => Func::Sqrt,
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "cot" => Func::Cot,
            "sec" => Func::Sec,
            "csc" => Func::Csc,
            "arcsin" => Func::Asin,
            "arccos" => Func::Acos,
            "arctan" => Func::Atan,
            "sinh" => Func::Sinh,
            "cosh" => Func::Cosh,
            "tanh" => Func::Tanh,
            "ln" => Func::Ln,
            "exp" => Func::Exp,
            _ => return None,
        })
    }
}

/// An expression tree. `Pm` (`a \pm b`) only exists until `expand_pm` turns it into several trees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Num(BigRational),
    Var(String),
    Const(Const),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Pm(Box<Expr>, Box<Expr>),
    Fact(Box<Expr>),
    Func(Func, Box<Expr>),
    /// `\sqrt[n]{x}`: index, radicand.
    Root(Box<Expr>, Box<Expr>),
    /// `\log_b x`: base, argument.
    Log(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub(crate) fn bin(op: fn(Box<Expr>, Box<Expr>) -> Expr, a: Expr, b: Expr) -> Expr {
        op(Box::new(a), Box::new(b))
    }

    /// Children of this node.
    fn children(&self) -> [Option<&Expr>; 2] {
        match self {
            Expr::Num(_) | Expr::Var(_) | Expr::Const(_) => [None, None],
            Expr::Neg(a) | Expr::Fact(a) | Expr::Func(_, a) => [Some(a), None],
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::Pm(a, b)
            | Expr::Root(a, b)
            | Expr::Log(a, b) => [Some(a), Some(b)],
        }
    }

    /// Tree depth, computed without recursion (so any tree can be measured safely).
    pub(crate) fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(e.children().into_iter().flatten().map(|c| (c, d + 1)));
        }
        deepest
    }

    /// All nodes, children before parents, left before right (computed without recursion).
    pub(crate) fn postorder(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children().into_iter().flatten());
        }
        out.reverse();
        out
    }

    /// Does any node satisfy `pred`? (Iterative: no recursion.)
    pub(crate) fn any(&self, pred: &dyn Fn(&Expr) -> bool) -> bool {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            if pred(e) {
                return true;
            }
            stack.extend(e.children().into_iter().flatten());
        }
        false
    }

    /// Free variables.
    pub(crate) fn vars(&self, out: &mut BTreeSet<String>) {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            if let Expr::Var(v) = e {
                out.insert(v.clone());
            }
            stack.extend(e.children().into_iter().flatten());
        }
    }

    pub(crate) fn has_inf(&self) -> bool {
        self.any(&|e| matches!(e, Expr::Const(Const::Inf)))
    }

    /// Every sign choice of the `\pm` nodes (at most `limit` trees; `None` when more).
    pub(crate) fn expand_pm(&self, limit: usize) -> Option<Vec<Expr>> {
        if !self.any(&|e| matches!(e, Expr::Pm(..))) {
            return Some(vec![self.clone()]);
        }
        if self.depth() > MAX_PM_DEPTH {
            return None;
        }
        let two = |a: &Expr, b: &Expr, f: &dyn Fn(Expr, Expr) -> Vec<Expr>| -> Option<Vec<Expr>> {
            let xs = a.expand_pm(limit)?;
            let ys = b.expand_pm(limit)?;
            if xs.len() * ys.len() > limit {
                return None;
            }
            let mut out = Vec::new();
            for x in &xs {
                for y in &ys {
                    out.extend(f(x.clone(), y.clone()));
                }
            }
            (out.len() <= limit).then_some(out)
        };
        let one = |a: &Expr, f: &dyn Fn(Expr) -> Expr| {
            a.expand_pm(limit).map(|xs| xs.into_iter().map(f).collect())
        };
        match self {
            Expr::Num(_) | Expr::Var(_) | Expr::Const(_) => Some(vec![self.clone()]),
            Expr::Neg(a) => one(a, &|x| Expr::Neg(Box::new(x))),
            Expr::Fact(a) => one(a, &|x| Expr::Fact(Box::new(x))),
            Expr::Func(f, a) => one(a, &|x| Expr::Func(*f, Box::new(x))),
            Expr::Pm(a, b) => two(a, b, &|x, y| {
                vec![
                    Expr::bin(Expr::Add, x.clone(), y.clone()),
                    Expr::bin(Expr::Sub, x, y),
                ]
            }),
            Expr::Add(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Add, x, y)]),
            Expr::Sub(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Sub, x, y)]),
            Expr::Mul(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Mul, x, y)]),
            Expr::Div(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Div, x, y)]),
            Expr::Pow(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Pow, x, y)]),
            Expr::Root(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Root, x, y)]),
            Expr::Log(a, b) => two(a, b, &|x, y| vec![Expr::bin(Expr::Log, x, y)]),
        }
    }
}

/// Relations between two expressions (`a > b` is stored as `b < a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
}

/// A parsed final answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Expr(Expr),
    Rel(RelOp, Expr, Expr),
    /// Ordered: `(a, b, c)`.
    Tuple(Vec<Answer>),
    /// Unordered: `\{a, b\}`, a bare list `a, b`, or the expansions of `a \pm b`.
    Set(Vec<Answer>),
    Interval {
        lo: Expr,
        hi: Expr,
        lo_closed: bool,
        hi_closed: bool,
    },
    Union(Vec<Answer>),
    Matrix(Vec<Vec<Answer>>),
    /// A word or a multiple-choice letter, lower-cased.
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    fn n(v: i64) -> Expr {
        Expr::Num(BigRational::from_integer(BigInt::from(v)))
    }

    #[test]
    fn pm_expansion() {
        let e = Expr::bin(Expr::Pm, n(1), Expr::Var("x".into()));
        let xs = e.expand_pm(8).unwrap();
        assert_eq!(xs.len(), 2);
        assert_eq!(xs[1], Expr::bin(Expr::Sub, n(1), Expr::Var("x".into())));
        let mut big = n(0);
        for _ in 0..10 {
            big = Expr::bin(Expr::Pm, big, n(1));
        }
        assert!(big.expand_pm(16).is_none());
    }

    #[test]
    fn free_variables_and_infinity() {
        let e = Expr::bin(
            Expr::Mul,
            Expr::Var("x".into()),
            Expr::Func(Func::Sin, Box::new(Expr::Var("y".into()))),
        );
        let mut vs = BTreeSet::new();
        e.vars(&mut vs);
        assert_eq!(vs.into_iter().collect::<Vec<_>>(), vec!["x", "y"]);
        assert!(Expr::Neg(Box::new(Expr::Const(Const::Inf))).has_inf());
        assert!(!e.has_inf());
        assert_eq!(e.depth(), 3);
        assert_eq!(n(1).depth(), 1);
    }
}
