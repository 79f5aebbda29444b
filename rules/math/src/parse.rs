//! Recursive-descent parser from tokens to an expression tree.
//!
//! Grammar (loosest first): sum := term (('+' | '-' | '\pm') term)*;
//! term := unary (('*' | '/') unary | implicit-product)*; unary := ('-' | '+' | '\pm') unary | power;
//! power := postfix ('^' exponent)?; postfix := primary '!'*; primary := number | variable |
//! constant | group | `\frac` | `\sqrt` | function application | `|x|`.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;

use crate::budget::{MAX_DEPTH, MAX_TREE_DEPTH, Meter, Res, Stop};
use crate::expr::{Const, Expr, Func};
use crate::lex::Tok;

pub(crate) struct Parser<'m> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    nodes: usize,
    meter: &'m mut Meter,
}

/// Parses a whole token slice as one expression.
pub(crate) fn parse_expr(toks: &[Tok], meter: &mut Meter) -> Res<Expr> {
    meter.charge(toks.len() as u64)?;
    let mut p = Parser {
        toks: toks.to_vec(),
        pos: 0,
        depth: 0,
        nodes: 0,
        meter,
    };
    if toks.is_empty() {
        return Err(Stop::Parse("empty expression".into()));
    }
    let e = p.sum()?;
    if let Some(t) = p.peek() {
        return Err(Stop::Parse(format!("unexpected {t:?}")));
    }
    if e.depth() > MAX_TREE_DEPTH {
        return Err(Stop::Budget(format!(
            "expression tree deeper than {MAX_TREE_DEPTH}"
        )));
    }
    Ok(e)
}

/// Parses a decimal literal exactly.
pub(crate) fn decimal(s: &str) -> Res<BigRational> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = format!("{int}{frac}");
    let num: BigInt = digits
        .parse()
        .map_err(|_| Stop::Parse(format!("bad number {s}")))?;
    let den = num_traits::pow(BigInt::from(10), frac.len());
    Ok(BigRational::new(num, den))
}

fn is_int_literal(e: &Expr) -> bool {
    matches!(e, Expr::Num(n) if n.is_integer() && *n >= BigRational::zero())
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_sym(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Sym(c))
    }

    fn is_cmd(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Cmd(n)) if n == name)
    }

    fn expect(&mut self, c: char) -> Res<()> {
        if self.is_sym(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Stop::Parse(format!(
                "expected '{c}', found {:?}",
                self.peek()
            )))
        }
    }

    fn node(&mut self, e: Expr) -> Res<Expr> {
        self.nodes += 1;
        if self.nodes > self.meter.max_nodes {
            return Err(Stop::Budget(format!(
                "more than {} expression nodes",
                self.meter.max_nodes
            )));
        }
        Ok(e)
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Stop::Budget(format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.meter.charge(1)
    }

    /// Refuses a chain of operands long enough to make the tree deeper than allowed, before
    /// the tree is built (deep trees cost stack to evaluate and to drop).
    fn chain_guard(&self, len: usize) -> Res<()> {
        if len > MAX_TREE_DEPTH {
            return Err(Stop::Budget(format!(
                "more than {MAX_TREE_DEPTH} operands in a row"
            )));
        }
        Ok(())
    }

    fn sum(&mut self) -> Res<Expr> {
        self.enter()?;
        let mut left = self.term()?;
        let mut terms = 0;
        loop {
            terms += 1;
            self.chain_guard(terms)?;
            let op: fn(Box<Expr>, Box<Expr>) -> Expr = if self.is_sym('+') {
                Expr::Add
            } else if self.is_sym('-') {
                Expr::Sub
            } else if self.is_cmd("pm") {
                Expr::Pm
            } else {
                break;
            };
            self.pos += 1;
            let right = self.term()?;
            left = self.node(Expr::bin(op, left, right))?;
        }
        self.depth -= 1;
        Ok(left)
    }

    fn term(&mut self) -> Res<Expr> {
        let mut left = self.unary()?;
        let mut factors = 0;
        loop {
            factors += 1;
            self.chain_guard(factors)?;
            if self.is_sym('*') || self.is_sym('/') {
                let div = self.is_sym('/');
                self.pos += 1;
                let right = self.unary()?;
                left = self.node(Expr::bin(
                    if div { Expr::Div } else { Expr::Mul },
                    left,
                    right,
                ))?;
            } else if self.starts_factor() {
                let right = self.power()?;
                left = self.node(Expr::bin(Expr::Mul, left, right))?;
            } else {
                return Ok(left);
            }
        }
    }

    /// Can the next token begin an implicitly multiplied factor?
    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Var(_)) => true,
            Some(Tok::Sym(c)) => matches!(c, '(' | '{' | '['),
            Some(Tok::Cmd(n)) => {
                n == "frac"
                    || n == "sqrt"
                    || n == "pi"
                    || n == "infty"
                    || n == "log"
                    || Func::from_name(n).is_some()
            }
            _ => false,
        }
    }

    fn unary(&mut self) -> Res<Expr> {
        self.enter()?;
        let e = if self.is_sym('-') {
            self.pos += 1;
            let inner = self.unary()?;
            self.node(Expr::Neg(Box::new(inner)))?
        } else if self.is_sym('+') {
            self.pos += 1;
            self.unary()?
        } else if self.is_cmd("pm") {
            self.pos += 1;
            let inner = self.unary()?;
            let zero = Expr::Num(BigRational::zero());
            self.node(Expr::bin(Expr::Pm, zero, inner))?
        } else {
            self.power()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn power(&mut self) -> Res<Expr> {
        let base = self.postfix()?;
        if self.is_sym('^') {
            self.pos += 1;
            let exp = self.exponent()?;
            return self.node(Expr::bin(Expr::Pow, base, exp));
        }
        Ok(base)
    }

    /// The exponent after `^`: a braced group, or one (possibly negated) primary.
    fn exponent(&mut self) -> Res<Expr> {
        self.enter()?;
        let e = if self.is_sym('-') {
            self.pos += 1;
            let inner = self.exponent()?;
            self.node(Expr::Neg(Box::new(inner)))?
        } else {
            let p = self.primary()?;
            self.factorials(p)?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn postfix(&mut self) -> Res<Expr> {
        let p = self.primary()?;
        self.factorials(p)
    }

    fn factorials(&mut self, mut e: Expr) -> Res<Expr> {
        while self.is_sym('!') {
            self.pos += 1;
            e = self.node(Expr::Fact(Box::new(e)))?;
        }
        Ok(e)
    }

    /// A LaTeX macro argument: `{...}`, or a single token (`\frac12`: the first digit only).
    fn argument(&mut self) -> Res<Expr> {
        if let Some(Tok::Num(s)) = self.peek()
            && s.len() > 1
            && !s.starts_with('.')
        {
            let (first, rest) = s.split_at(1);
            let (first, rest) = (first.to_string(), rest.to_string());
            self.toks[self.pos] = Tok::Num(rest);
            return self.node(Expr::Num(decimal(&first)?));
        }
        if self.is_sym('{') {
            self.pos += 1;
            let e = self.sum()?;
            self.expect('}')?;
            return Ok(e);
        }
        self.primary()
    }

    fn group(&mut self, close: char) -> Res<Expr> {
        self.pos += 1;
        let e = self.sum()?;
        self.expect(close)?;
        Ok(e)
    }

    fn primary(&mut self) -> Res<Expr> {
        self.enter()?;
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| Stop::Parse("unexpected end".into()))?;
        let e = match tok {
            // `52_8`: a numeral in another base, kept as the atom `52_8`.
            Tok::Num(s) if self.toks.get(self.pos + 1) == Some(&Tok::Sym('_')) => {
                self.pos += 1;
                let name = self.subscript(s)?;
                self.node(Expr::Var(name))?
            }
            Tok::Num(s) => {
                self.pos += 1;
                let n = self.node(Expr::Num(decimal(&s)?))?;
                self.mixed_number(n)?
            }
            Tok::Var(v) => {
                self.pos += 1;
                if v == "e" && !self.is_sym('_') {
                    self.node(Expr::Const(Const::E))?
                } else {
                    let name = self.subscript(v)?;
                    self.node(Expr::Var(name))?
                }
            }
            Tok::Sym('(') => self.group(')')?,
            Tok::Sym('[') => self.group(']')?,
            Tok::Sym('{') => self.group('}')?,
            Tok::Sym('|') => {
                let inner = self.group('|')?;
                self.node(Expr::Func(Func::Abs, Box::new(inner)))?
            }
            Tok::Cmd(name) => {
                self.pos += 1;
                self.command(&name)?
            }
            other => return Err(Stop::Parse(format!("unexpected {other:?}"))),
        };
        self.depth -= 1;
        Ok(e)
    }

    /// `x_1`, `a_{n}`: the subscript becomes part of the variable's name.
    fn subscript(&mut self, mut name: String) -> Res<String> {
        if !self.is_sym('_') {
            return Ok(name);
        }
        self.pos += 1;
        name.push('_');
        let mut depth = 0usize;
        loop {
            let t = self
                .peek()
                .cloned()
                .ok_or_else(|| Stop::Parse("unfinished subscript".into()))?;
            self.pos += 1;
            match t {
                Tok::Sym('{') => depth += 1,
                Tok::Sym('}') => depth = depth.saturating_sub(1),
                Tok::Num(s) | Tok::Var(s) | Tok::Cmd(s) => name.push_str(&s),
                Tok::Sym(c) => name.push(c),
                _ => return Err(Stop::Parse("bad subscript".into())),
            }
            if depth == 0 {
                return Ok(name);
            }
        }
    }

    /// `1\frac{4}{5}` is the mixed number 9/5.
    fn mixed_number(&mut self, whole: Expr) -> Res<Expr> {
        if !(is_int_literal(&whole) && self.is_cmd("frac")) {
            return Ok(whole);
        }
        let save = (self.pos, self.toks.clone());
        self.pos += 1;
        let num = self.argument()?;
        let den = self.argument()?;
        if let (Expr::Num(w), Expr::Num(a), Expr::Num(b)) = (&whole, &num, &den)
            && is_int_literal(&num)
            && is_int_literal(&den)
            && !b.is_zero()
            && a < b
        {
            return self.node(Expr::Num(w + a / b));
        }
        (self.pos, self.toks) = save;
        Ok(whole)
    }

    fn command(&mut self, name: &str) -> Res<Expr> {
        match name {
            "pi" => self.node(Expr::Const(Const::Pi)),
            "infty" => self.node(Expr::Const(Const::Inf)),
            "frac" => {
                let a = self.argument()?;
                let b = self.argument()?;
                self.node(Expr::bin(Expr::Div, a, b))
            }
            "sqrt" => {
                if self.is_sym('[') {
                    let index = self.group(']')?;
                    let arg = self.argument()?;
                    return self.node(Expr::bin(Expr::Root, index, arg));
                }
                let arg = self.argument()?;
                self.node(Expr::Func(Func::Sqrt, Box::new(arg)))
            }
            // `\log_b x`; a bare `\log x` is the common logarithm (as in math-verify).
            "log" => {
                let base = if self.is_sym('_') {
                    self.pos += 1;
                    self.argument()?
                } else {
                    self.node(Expr::Num(BigRational::from_integer(10.into())))?
                };
                let outer = self.outer_power()?;
                let arg = self.func_argument()?;
                let log = self.node(Expr::bin(Expr::Log, base, arg))?;
                self.raised(log, outer)
            }
            _ => {
                let f = Func::from_name(name)
                    .ok_or_else(|| Stop::Parse(format!("unknown command \\{name}")))?;
                // `\sin^2 x` is (sin x)^2.
                let outer = self.outer_power()?;
                let arg = self.func_argument()?;
                let applied = self.node(Expr::Func(f, Box::new(arg)))?;
                self.raised(applied, outer)
            }
        }
    }

    /// A power written between a function's name and its argument (`\sin^2 x`, `\log^2 x`).
    fn outer_power(&mut self) -> Res<Option<Expr>> {
        if !self.is_sym('^') {
            return Ok(None);
        }
        self.pos += 1;
        self.exponent().map(Some)
    }

    /// `applied` raised to `outer` where there is one: `\sin^2 x` is (sin x)^2.
    fn raised(&mut self, applied: Expr, outer: Option<Expr>) -> Res<Expr> {
        match outer {
            Some(p) => self.node(Expr::bin(Expr::Pow, applied, p)),
            None => Ok(applied),
        }
    }

    /// `\sin(x)`, `\sin{x}`, `\sin x`, `\sin 2x` (a power, then implicitly multiplied letters).
    fn func_argument(&mut self) -> Res<Expr> {
        if self.is_sym('(') || self.is_sym('{') {
            return self.power();
        }
        let mut arg = self.power()?;
        while matches!(self.peek(), Some(Tok::Var(_))) {
            let next = self.power()?;
            arg = self.node(Expr::bin(Expr::Mul, arg, next))?;
        }
        Ok(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::lex::tokenize;

    fn p(s: &str) -> Res<Expr> {
        let mut m = Meter::new(&Budget::default());
        parse_expr(&tokenize(s)?, &mut m)
    }

    fn num(a: i64, b: i64) -> Expr {
        Expr::Num(BigRational::new(a.into(), b.into()))
    }

    #[test]
    fn fractions_and_shorthand() {
        assert_eq!(
            p("\\frac{1}{2}").unwrap(),
            Expr::bin(Expr::Div, num(1, 1), num(2, 1))
        );
        assert_eq!(p("\\frac12").unwrap(), p("\\frac{1}{2}").unwrap());
        assert_eq!(p("\\frac{1}2").unwrap(), p("\\frac{1}{2}").unwrap());
        assert_eq!(p("\\frac1{2}").unwrap(), p("\\frac{1}{2}").unwrap());
        assert_eq!(p("1\\frac{4}{5}").unwrap(), num(9, 5));
        assert_eq!(p("1.25").unwrap(), num(5, 4));
    }

    #[test]
    fn precedence_and_implicit_products() {
        assert_eq!(
            p("-x^2").unwrap(),
            Expr::Neg(Box::new(Expr::bin(
                Expr::Pow,
                Expr::Var("x".into()),
                num(2, 1)
            )))
        );
        let e = p("2\\sqrt2").unwrap();
        assert_eq!(
            e,
            Expr::bin(
                Expr::Mul,
                num(2, 1),
                Expr::Func(Func::Sqrt, Box::new(num(2, 1)))
            )
        );
        assert_eq!(
            p("\\sqrt(2)").unwrap(),
            Expr::Func(Func::Sqrt, Box::new(num(2, 1)))
        );
        assert!(matches!(p("a_{n}").unwrap(), Expr::Var(v) if v == "a_n"));
        assert!(matches!(p("5!").unwrap(), Expr::Fact(_)));
        assert!(matches!(p("\\sin^2 x").unwrap(), Expr::Pow(..)));
        assert!(matches!(p("\\log_2 8").unwrap(), Expr::Log(..)));
        assert!(matches!(p("\\sqrt[3]{8}").unwrap(), Expr::Root(..)));
        assert_eq!(p("1").unwrap(), num(1, 1));
    }

    #[test]
    fn errors() {
        assert!(p("\\teyt{x}").is_err());
        assert!(p("(1").is_err());
        assert!(p("1 +").is_err());
        assert!(p("").is_err());
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(matches!(p(&deep), Err(Stop::Budget(_))));
    }
}
