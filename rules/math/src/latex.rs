//! String-level LaTeX normalisation applied to both the gold and the extracted answer before
//! parsing: wrappers and spacing removed, `\dfrac`/`\tfrac` -> `\frac`, degrees, currency,
//! percent signs, unit words after numbers, thousands separators.

/// Commands whose braced argument is kept and the command dropped (`\text{cm}` -> ` cm `).
const UNWRAP: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textup",
    "texttt",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathtt",
    "mbox",
    "hbox",
    "operatorname",
    "boxed",
    "fbox",
    "emph",
    "bm",
    "boldsymbol",
];

/// Commands (not followed by a letter) removed outright.
const DROP: &[&str] = &[
    "left",
    "right",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "big",
    "Big",
    "displaystyle",
    "limits",
    "textstyle",
    "quad",
    "qquad",
    "degree",
    "circ",
    "$",
    "%",
    "!",
    ",",
    ";",
    ":",
    " ",
];

/// Words dropped after a number (with an optional `^2` / `^3` that follows them).
const UNITS: &[&str] = &[
    "degree", "degrees", "deg", "radian", "radians", "cm", "mm", "km", "m", "meter", "meters",
    "metre", "metres", "inch", "inches", "ft", "foot", "feet", "yard", "yards", "mile", "miles",
    "mph", "kmh", "unit", "units", "square", "sq", "cubic", "dollar", "dollars", "cent", "cents",
    "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "second", "seconds", "sec",
    "day", "days", "week", "weeks", "month", "months", "year", "years", "kg", "g", "gram", "grams",
    "pound", "pounds", "lb", "lbs", "ounce", "ounces", "oz", "liter", "liters", "litre", "litres",
    "ml", "gallon", "gallons", "percent", "points", "point", "times", "ways",
];

/// Normalises LaTeX noise; the result is what the tokenizer reads.
pub(crate) fn normalise(input: &str) -> String {
    if let Some(sci) = scientific(input.trim()) {
        return sci;
    }
    let mut s = input.trim().to_string();
    for (from, to) in [
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\cfrac", "\\frac"),
        ("\\lbrace", "\\{"),
        ("\\rbrace", "\\}"),
        ("^{\\circ}", ""),
        ("^{\\circ }", ""),
        ("^\\circ", ""),
        ("°", ""),
        ("−", "-"),
        ("×", "\\times "),
        ("·", "\\cdot "),
        ("√", "\\sqrt"),
        ("π", "\\pi "),
        ("∞", "\\infty "),
        ("≤", "\\le "),
        ("≥", "\\ge "),
        ("≠", "\\ne "),
        ("\\(", " "),
        ("\\)", " "),
        ("\\[", " "),
        ("\\]", " "),
        ("$", " "),
        ("%", " "),
        ("~", " "),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s = unwrap_commands(&s);
    s = drop_pmod(&s);
    s = drop_commands(&s);
    s = drop_units(&s);
    s = join_thousands(&s);
    // `a and b`, `x = 1 or x = 2`: lists.
    let words: Vec<&str> = s
        .split_whitespace()
        .map(|w| if w == "and" || w == "or" { "," } else { w })
        .collect();
    let s = words.join(" ");
    let s = s.trim_end_matches(['.', ' ']).trim();
    drop_trailing_words(s).to_string()
}

/// `18 apples`, `5 red marbles` -> the number: plain words (three letters or more, not a
/// function name) after a leading number are a noun phrase, not factors.
fn drop_trailing_words(s: &str) -> &str {
    let Some((number, words)) = s.split_once(' ') else {
        return s;
    };
    let is_number = !number.is_empty()
        && number.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && number[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().any(|c| c.is_ascii_digit());
    let is_noun_phrase = words.split(' ').all(|w| {
        w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()) && !NOT_WORDS.contains(&w)
    });
    if is_number && is_noun_phrase {
        number
    } else {
        s
    }
}

/// Words that are math, not nouns.
const NOT_WORDS: &[&str] = &[
    "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "infty", "pmod", "mod", "and", "or",
];

/// Copies `s`, offering every command to `rewrite`: it gets the text after the backslash and
/// the length of the command's name there (its letters, else its one character), writes the
/// replacement to `out` and returns the text after what it consumed, or `None` to keep the
/// command as it is.
fn rewrite_commands<'s>(
    s: &'s str,
    mut rewrite: impl FnMut(&'s str, usize, &mut String) -> Option<&'s str>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let len = if letters == 0 {
            after.chars().next().map_or(0, char::len_utf8)
        } else {
            letters
        };
        rest = rewrite(after, len, &mut out).unwrap_or_else(|| {
            out.push('\\');
            out.push_str(&after[..len]);
            &after[len..]
        });
    }
    out.push_str(rest);
    out
}

/// Replaces `\cmd{X}` by ` X ` for every command in `UNWRAP` (nested wrappers included).
fn unwrap_commands(s: &str) -> String {
    rewrite_commands(s, |after, len, out| {
        let tail = after[len..].trim_start();
        if !UNWRAP.contains(&&after[..len]) || !tail.starts_with('{') {
            return None;
        }
        let close = matching_brace(tail)?;
        out.push(' ');
        out.push_str(&unwrap_commands(&tail[1..close]));
        out.push(' ');
        Some(&tail[close + 1..])
    })
}

/// A whole answer in JSON / scientific notation (`1e-05`, `2.5E+3`, as a JSON number's text
/// may be) becomes `m \\times 10^{e}`, parsed exactly later.
fn scientific(s: &str) -> Option<String> {
    let (mantissa, exp) = s.split_once(['e', 'E'])?;
    let digits = mantissa.strip_prefix('-').unwrap_or(mantissa);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    (all_digits(int) && all_digits(frac) && all_digits(exp_digits)).then(|| {
        let exp = exp.strip_prefix('+').unwrap_or(exp);
        format!("{mantissa} \\times 10^{{{exp}}}")
    })
}

/// Drops a congruence modulus: `44 \\pmod{83}` -> `44`.
fn drop_pmod(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\pmod") {
        out.push_str(&rest[..i]);
        let tail = rest[i + 5..].trim_start();
        rest = if tail.starts_with('{') {
            matching_brace(tail).map_or("", |c| &tail[c + 1..])
        } else {
            let arg = tail
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(tail.len());
            &tail[arg..]
        };
    }
    out.push_str(rest);
    out
}

/// Index of the `}` matching the `{` at the start of `s`.
pub(crate) fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Removes the commands in `DROP` (a word command only when not followed by a letter).
fn drop_commands(s: &str) -> String {
    let out = rewrite_commands(s, |after, len, out| {
        let name = &after[..len];
        if !DROP.contains(&name) {
            return None;
        }
        // `\left.` and `\right.` are invisible delimiters.
        let mut next = &after[len..];
        if (name == "left" || name == "right") && next.starts_with('.') {
            next = &next[1..];
        }
        if name == "!" {
            out.push('\u{0}');
            next = next.trim_start();
        } else {
            out.push(' ');
        }
        Some(next)
    });
    // `\!` is a negative space: it glues what surrounds it (`10,\!080` -> `10,080`).
    out.replace('\u{0}', "")
}

/// Drops unit words that follow a number (`5 cm^2`, `90 degrees`, `3 dollars`).
fn drop_units(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic()
            && (i == 0 || !bytes[i - 1].is_ascii_alphabetic() && bytes[i - 1] != b'\\')
        {
            let end = i + bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            let word = s[i..end].to_ascii_lowercase();
            let before = s[..i].trim_end();
            let after_number =
                before.ends_with(|c: char| c.is_ascii_digit() || c == '}' || c == ')');
            if UNITS.contains(&word.as_str())
                && after_number
                && (word.len() > 1 || before.len() < i)
            {
                let mut stop = end;
                let tail = s[end..].trim_start();
                for pow in ["^2", "^3", "^{2}", "^{3}"] {
                    if tail.starts_with(pow) {
                        stop = s.len() - tail.len() + pow.len();
                    }
                }
                out.push_str(&s[copied..i]);
                out.push(' ');
                copied = stop;
                i = stop;
                continue;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// `1,234,567` -> `1234567` at bracket depth 0 (inside brackets commas separate elements).
fn join_thousands(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        let starts_number =
            b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.'));
        if depth == 0 && starts_number {
            let lead = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let mut j = i + lead;
            let mut groups = 0;
            while lead <= 3
                && j + 4 <= b.len()
                && b[j] == b','
                && b[j + 1..j + 4].iter().all(u8::is_ascii_digit)
                && b.get(j + 4).is_none_or(|c| !c.is_ascii_digit())
            {
                groups += 1;
                j += 4;
            }
            if groups > 0 {
                out.extend(s[i..j].chars().filter(|&c| c != ','));
            } else {
                out.push_str(&s[i..j]);
            }
            i = j;
            continue;
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalise;

    /// Each `(input, expected)`: `normalise(input) == expected`.
    fn check(cases: &[(&str, &str)]) {
        for &(input, expected) in cases {
            assert_eq!(normalise(input), expected, "normalise({input:?})");
        }
    }

    #[test]
    fn wrappers_and_spacing() {
        check(&[
            (
                "\\left( 3, \\frac{\\pi}{2} \\right)",
                "( 3, \\frac{\\pi}{2} )",
            ),
            ("\\text{Evelyn}", "Evelyn"),
            ("\\mathrm{(C)}", "(C)"),
            ("\\mbox{east}", "east"),
            ("\\boxed{\\text{even}}", "even"),
            ("a\\!b\\,c\\;d", "ab c d"),
            ("\\left.\\frac{1}{2}\\right.", "\\frac{1}{2}"),
            ("$5$", "5"),
            ("1e-05", "1 \\times 10^{-05}"),
            ("-2.5E+3", "-2.5 \\times 10^{3}"),
            ("2e", "2e"),
            ("44 \\pmod{83}", "44"),
            ("44\\pmod 83", "44"),
            (
                "\\frac{3}{5} and \\frac{8}{3}",
                "\\frac{3}{5} , \\frac{8}{3}",
            ),
            ("x = 1 \\text{ or } x = 2", "x = 1 , x = 2"),
        ]);
    }

    #[test]
    fn fractions_degrees_currency_percent() {
        check(&[
            ("\\dfrac{1}{2}", "\\frac{1}{2}"),
            ("\\tfrac12", "\\frac12"),
            ("90^\\circ", "90"),
            ("90^{\\circ}", "90"),
            ("90 degrees", "90"),
            ("\\$36", "36"),
            ("50\\%", "50"),
            ("50%", "50"),
        ]);
    }

    #[test]
    fn units_after_numbers() {
        check(&[
            ("15\\mbox{ cm}^2", "15"),
            ("5.4 \\text{ cents}", "5.4"),
            ("\\frac{270}7\\text{ degrees}", "\\frac{270}7"),
            ("12 inches", "12"),
            // Not after a number: kept (a variable `m`, a word answer).
            ("m", "m"),
            ("2m + 1", "2m + 1"),
            ("\\text{cents}", "cents"),
            ("18 apples", "18"),
            ("5 red marbles", "5"),
            ("-2.5 degrees Celsius", "-2.5"),
            ("3 sin x", "3 sin x"),
            ("2 xy", "2 xy"),
        ]);
    }

    #[test]
    fn thousands_separators() {
        check(&[
            ("2,220", "2220"),
            ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
            ("\\$32,\\!348", "32348"),
            ("1,234.5", "1234.5"),
            // Element lists stay lists.
            ("1,-2", "1,-2"),
            ("58, 500", "58, 500"),
            ("(1,234)", "(1,234)"),
            ("1,2345", "1,2345"),
        ]);
    }
}
