//! Whether Python's `json.loads(s)` accepts `s` (CPython's C scanner, `strict=True`).
//!
//! Python accepts what `serde_json` rejects (`NaN`, `Infinity`, `-Infinity`, lone surrogate
//! escapes, numbers of any size), so the grammar is checked here directly.

/// Deeper nesting makes CPython raise `RecursionError`; it is treated as invalid here.
const MAX_DEPTH: usize = 1000;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> bool {
        self.eat(b"-");
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return false,
        }
        let save = self.i;
        if self.eat(b".") && self.digits() == 0 {
            self.i = save;
        }
        let save = self.i;
        if self.eat(b"e") || self.eat(b"E") {
            if !self.eat(b"+") {
                self.eat(b"-");
            }
            if self.digits() == 0 {
                self.i = save;
            }
        }
        true
    }

    fn string(&mut self) -> bool {
        // The opening quote is consumed by the caller.
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return false;
            };
            self.i += 1;
            match b {
                b'"' => return true,
                0..=0x1f => return false,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return false;
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return false;
                            }
                            self.i += 4;
                        }
                        _ => return false,
                    }
                }
                _ => {}
            }
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.s.get(self.i) {
            Some(b'"') => {
                self.i += 1;
                self.string()
            }
            Some(b'{') => {
                self.i += 1;
                self.ws();
                if self.eat(b"}") {
                    return true;
                }
                loop {
                    if !self.eat(b"\"") || !self.string() {
                        return false;
                    }
                    self.ws();
                    if !self.eat(b":") {
                        return false;
                    }
                    self.ws();
                    if !self.value(depth + 1) {
                        return false;
                    }
                    self.ws();
                    if self.eat(b"}") {
                        return true;
                    }
                    if !self.eat(b",") {
                        return false;
                    }
                    self.ws();
                }
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.eat(b"]") {
                    return true;
                }
                loop {
                    if !self.value(depth + 1) {
                        return false;
                    }
                    self.ws();
                    if self.eat(b"]") {
                        return true;
                    }
                    if !self.eat(b",") {
                        return false;
                    }
                    self.ws();
                }
            }
            Some(_) => LITERALS.iter().any(|lit| self.eat(lit.as_bytes())) || self.number(),
            None => false,
        }
    }
}

/// The words `json.loads` reads as values (Python's `json` reads `NaN` and the infinities too).
const LITERALS: [&str; 6] = ["null", "true", "false", "NaN", "Infinity", "-Infinity"];

/// `json.loads(s)` raises no `ValueError`.
pub(crate) fn loads_ok(s: &str) -> bool {
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
    };
    p.ws();
    if !p.value(0) {
        return false;
    }
    p.ws();
    p.i == p.s.len()
}

#[cfg(test)]
mod tests {
    use super::loads_ok;

    #[test]
    fn accepts_what_python_accepts() {
        for ok in [
            "0",
            "-0.5e+10",
            " {\"a\": {\"b\": []}} ",
            "\"\\ud800\"",
            "[NaN, Infinity, -Infinity]",
            "1E5",
            "\"é\"",
        ] {
            assert!(loads_ok(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_what_python_rejects() {
        for bad in [
            "",
            "01",
            "1.",
            "-",
            "[1,]",
            "{'a': 1}",
            "{\"a\" 1}",
            "\"\t\"",
            "\"\\x\"",
            "[1] x",
            "\u{feff}1",
            "tru",
            "{1: 2}",
        ] {
            assert!(!loads_ok(bad), "{bad}");
        }
        assert!(!loads_ok(&"[".repeat(2000)));
    }
}
