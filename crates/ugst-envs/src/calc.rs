//! The `calculate` tool: arithmetic over `+ - * / ( )` (and the `**`, `//` those characters also
//! spell) with Python's semantics — exact integers, true division to float — whose result is
//! shown as `str(round(float(result), 2))`.

use crate::pyjson::{round_f64, Num};

/// Evaluates `expression` and formats the answer as the reference tool does. `Err` holds the
/// message shown after `Error: `.
pub fn calculate(expression: &str) -> Result<String, String> {
    if !expression.chars().all(|c| "0123456789+-*/(). ".contains(c)) {
        return Err("invalid characters in expression".into());
    }
    let tokens = tokenize(expression)?;
    let mut p = Parser { tokens, pos: 0 };
    let v = p.expr()?;
    if p.pos != p.tokens.len() {
        return Err(SYNTAX.into());
    }
    Ok(crate::pyjson::float_repr(round_f64(v.as_f64(), 2)))
}

const SYNTAX: &str = "invalid syntax (<string>, line 1)";

#[derive(Debug, Clone)]
enum Tok {
    Num(Num),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' => i += 1,
            b'0'..=b'9' | b'.' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let text = &s[start..i];
                out.push(Tok::Num(number(text)?));
            }
            b'*' | b'/' if b.get(i + 1) == Some(&c) => {
                out.push(Tok::Op(if c == b'*' { "**" } else { "//" }));
                i += 2;
            }
            b'+' => (out.push(Tok::Op("+")), i += 1).1,
            b'-' => (out.push(Tok::Op("-")), i += 1).1,
            b'*' => (out.push(Tok::Op("*")), i += 1).1,
            b'/' => (out.push(Tok::Op("/")), i += 1).1,
            b'(' => (out.push(Tok::Op("(")), i += 1).1,
            b')' => (out.push(Tok::Op(")")), i += 1).1,
            _ => return Err(SYNTAX.into()),
        }
    }
    Ok(out)
}

fn number(text: &str) -> Result<Num, String> {
    if text.matches('.').count() > 1 || text == "." {
        return Err(SYNTAX.into());
    }
    if text.contains('.') {
        return text
            .parse::<f64>()
            .map(Num::Float)
            .map_err(|_| SYNTAX.into());
    }
    if text.len() > 1 && text.starts_with('0') && text.bytes().any(|d| d != b'0') {
        return Err("leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers (<string>, line 1)".into());
    }
    Ok(text
        .parse::<i64>()
        .map(Num::Int)
        .unwrap_or_else(|_| Num::Float(text.parse().unwrap_or(f64::INFINITY))))
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    // expr := term (("+" | "-") term)*
    fn expr(&mut self) -> Result<Num, String> {
        let mut v = self.term()?;
        while let Some(op @ ("+" | "-")) = self.peek_op() {
            self.pos += 1;
            let r = self.term()?;
            v = if op == "+" { v.plus(r) } else { v.minus(r) };
        }
        Ok(v)
    }

    // term := factor (("*" | "/" | "//") factor)*
    fn term(&mut self) -> Result<Num, String> {
        let mut v = self.factor()?;
        while let Some(op @ ("*" | "/" | "//")) = self.peek_op() {
            self.pos += 1;
            let r = self.factor()?;
            v = match op {
                "*" => v.times(r),
                "/" => {
                    if r.is_zero() {
                        return Err("division by zero".into());
                    }
                    Num::Float(v.as_f64() / r.as_f64())
                }
                _ => floor_div(v, r)?,
            };
        }
        Ok(v)
    }

    // factor := ("+" | "-") factor | power
    fn factor(&mut self) -> Result<Num, String> {
        match self.peek_op() {
            Some("+") => {
                self.pos += 1;
                self.factor()
            }
            Some("-") => {
                self.pos += 1;
                Ok(self.factor()?.negated())
            }
            _ => self.power(),
        }
    }

    // power := atom ["**" factor]
    fn power(&mut self) -> Result<Num, String> {
        let base = self.atom()?;
        if self.peek_op() == Some("**") {
            self.pos += 1;
            let exp = self.factor()?;
            return pow(base, exp);
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Num, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek_op() != Some(")") {
                    return Err(SYNTAX.into());
                }
                self.pos += 1;
                Ok(v)
            }
            _ => Err(SYNTAX.into()),
        }
    }
}

fn floor_div(a: Num, b: Num) -> Result<Num, String> {
    match (a, b) {
        (Num::Int(_), Num::Int(0)) => Err("integer division or modulo by zero".into()),
        (Num::Int(x), Num::Int(y)) => {
            let q = x / y;
            // Python rounds the quotient towards negative infinity.
            Ok(Num::Int(if x % y != 0 && ((x < 0) != (y < 0)) {
                q - 1
            } else {
                q
            }))
        }
        _ if b.is_zero() => Err("float floor division by zero".into()),
        _ => Ok(Num::Float((a.as_f64() / b.as_f64()).floor())),
    }
}

fn pow(base: Num, exp: Num) -> Result<Num, String> {
    match (base, exp) {
        (Num::Int(b), Num::Int(e)) if e >= 0 => Ok(u32::try_from(e)
            .ok()
            .and_then(|e| b.checked_pow(e))
            .map_or_else(|| Num::Float((b as f64).powf(e as f64)), Num::Int)),
        (b, e) => {
            if b.is_zero() && e.compare(Num::Int(0)) == Some(std::cmp::Ordering::Less) {
                return Err("0.0 cannot be raised to a negative power".into());
            }
            Ok(Num::Float(b.as_f64().powf(e.as_f64())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::calculate;

    #[test]
    fn python_results() {
        // Expected strings are what CPython prints for str(round(float(eval(e)), 2)).
        for (e, want) in [
            ("2 + 2", "4.0"),
            ("1200", "1200.0"),
            ("(342.81 + 561.05) * 0.1", "90.39"),
            ("10 / 4", "2.5"),
            ("7 // 2", "3.0"),
            ("-7 // 2", "-4.0"),
            ("2 ** 10", "1024.0"),
            ("-2 ** 2", "-4.0"),
            ("1 / 3", "0.33"),
            ("2.675 * 1", "2.67"),
            ("((1))", "1.0"),
        ] {
            assert_eq!(calculate(e).as_deref(), Ok(want), "{e}");
        }
    }

    #[test]
    fn errors_read_like_python() {
        assert_eq!(
            calculate("2 + x").unwrap_err(),
            "invalid characters in expression"
        );
        assert_eq!(calculate("1 / 0").unwrap_err(), "division by zero");
        assert!(calculate("(1 + 2")
            .unwrap_err()
            .starts_with("invalid syntax"));
        assert!(calculate("1 2").unwrap_err().starts_with("invalid syntax"));
        assert!(calculate("").unwrap_err().starts_with("invalid syntax"));
    }
}
