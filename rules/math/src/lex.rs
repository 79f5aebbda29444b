//! Tokenizer for normalised LaTeX / plain-text math.

use crate::budget::{Res, Stop};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Decimal literal: digits with at most one `.` (`12`, `1.50`, `.5`).
    Num(String),
    /// A one-letter variable (LaTeX multiplies adjacent letters) or a Greek letter name.
    Var(String),
    /// A command or a known function word: `frac`, `sqrt`, `sin`, `pi`, `infty`, `pm`, `le`, ...
    Cmd(String),
    /// Punctuation and operators: `+ - * / ^ _ ( ) [ ] { } , = < > ! |` and `&`.
    Sym(char),
    /// `\{` and `\}`.
    SetOpen,
    SetClose,
    /// `\\` (matrix row separator).
    RowSep,
}

/// Plain words read as commands (`sqrt(2)`, `pi`, `sin x`).
const WORDS: &[&str] = &[
    "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "log", "ln", "exp", "pi", "infty", "infinity", "inf",
];

/// Greek letters read as variables.
const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

pub(crate) fn tokenize(s: &str) -> Res<Vec<Tok>> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            let mut dot = false;
            while i < chars.len() {
                if chars[i].is_ascii_digit() {
                    i += 1;
                } else if chars[i] == '.'
                    && !dot
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                {
                    dot = true;
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if WORDS.contains(&word.as_str()) {
                out.push(Tok::Cmd(canonical(&word)));
            } else {
                out.extend(word.chars().map(|ch| Tok::Var(ch.to_string())));
            }
        } else if c == '\\' {
            i += 1;
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            if i == start {
                match chars.get(i) {
                    Some('{') => out.push(Tok::SetOpen),
                    Some('}') => out.push(Tok::SetClose),
                    Some('\\') => out.push(Tok::RowSep),
                    Some('|') => out.push(Tok::Sym('|')),
                    other => {
                        return Err(Stop::Parse(format!(
                            "unknown control symbol \\{}",
                            other.map_or(String::new(), |c| c.to_string())
                        )));
                    }
                }
                i += 1;
                continue;
            }
            let name: String = chars[start..i].iter().collect();
            out.push(command(&name));
        } else if c == '*' && chars.get(i + 1) == Some(&'*') {
            out.push(Tok::Sym('^'));
            i += 2;
        } else if matches!(c, '<' | '>' | '!') && chars.get(i + 1) == Some(&'=') {
            out.push(Tok::Cmd(
                match c {
                    '<' => "le",
                    '>' => "ge",
                    _ => "ne",
                }
                .to_string(),
            ));
            i += 2;
        } else if "+-*/^_()[]{},=<>!|&:;'".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return Err(Stop::Parse(format!("unexpected character {c:?}")));
        }
    }
    Ok(out)
}

fn canonical(word: &str) -> String {
    match word {
        "infinity" | "inf" => "infty",
        "leq" | "leqslant" => "le",
        "geq" | "geqslant" => "ge",
        "neq" => "ne",
        "mp" => "pm",
        other => other,
    }
    .to_string()
}

fn command(name: &str) -> Tok {
    match name {
        "cdot" | "times" | "ast" => Tok::Sym('*'),
        "div" => Tok::Sym('/'),
        "lt" => Tok::Sym('<'),
        "gt" => Tok::Sym('>'),
        "colon" => Tok::Sym(':'),
        "vert" | "mid" | "lvert" | "rvert" => Tok::Sym('|'),
        "lbrack" => Tok::Sym('['),
        "rbrack" => Tok::Sym(']'),
        "lparen" => Tok::Sym('('),
        "rparen" => Tok::Sym(')'),
        n if GREEK.contains(&n) => Tok::Var(n.to_string()),
        n => Tok::Cmd(canonical(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap()
    }

    #[test]
    fn numbers_letters_commands() {
        assert_eq!(
            t("1.50x"),
            vec![Tok::Num("1.50".into()), Tok::Var("x".into())]
        );
        assert_eq!(t("ab"), vec![Tok::Var("a".into()), Tok::Var("b".into())]);
        assert_eq!(
            t("\\frac12"),
            vec![Tok::Cmd("frac".into()), Tok::Num("12".into())]
        );
        assert_eq!(t("sqrt(2)")[0], Tok::Cmd("sqrt".into()));
        assert_eq!(t("\\leq")[0], Tok::Cmd("le".into()));
        assert_eq!(t("<=")[0], Tok::Cmd("le".into()));
        assert_eq!(t("\\cdot"), vec![Tok::Sym('*')]);
        assert_eq!(t("2**3")[1], Tok::Sym('^'));
        assert_eq!(t("\\theta"), vec![Tok::Var("theta".into())]);
        assert_eq!(
            t("\\{1\\}"),
            vec![Tok::SetOpen, Tok::Num("1".into()), Tok::SetClose]
        );
    }

    #[test]
    fn rejects_unknown_characters() {
        assert!(tokenize("5 €").is_err());
        assert!(tokenize("\\@").is_err());
    }
}
