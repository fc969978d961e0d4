//! JSON text exactly as Python's `json.dumps` writes it with default settings (`", "` and `": "`
//! separators, ASCII escapes, `repr` floats), and Python's number semantics where the reference
//! tools depend on them: int and float kept apart, `round(x, n)` correctly rounded.
//!
//! τ-bench tools return `json.dumps(...)` of their records; byte parity with those strings needs
//! this module, not `serde_json::to_string`.

use serde_json::Value;
use std::cmp::Ordering;
use std::fmt::Write;

/// `json.dumps(value)` with Python's defaults.
pub fn dumps(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => match Num::from_number(n) {
            Num::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Num::Float(f) => out.push_str(&float_json(f)),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A string literal with `ensure_ascii`: everything outside printable ASCII becomes `\uXXXX`
/// (UTF-16 surrogate pairs above the BMP).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// A float as `json.dumps` writes it: `repr`, with `NaN`/`Infinity` for the non-finite values.
fn float_json(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(f)
    }
}

/// Python's `repr(float)`: the shortest digits that read back to the same double, in positional
/// notation for decimal exponents -4..16 (with a trailing `.0` when integral), else `1.5e-05`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let body = if (-4..16).contains(&exp) {
        if exp < 0 {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        } else if n <= exp + 1 {
            format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
        } else {
            let (a, b) = digits.split_at((exp + 1) as usize);
            format!("{a}.{b}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

/// Python's `round(x, ndigits)` for floats: correctly rounded (ties to even on the exact binary
/// value), as Python's own implementation does.
pub fn round_f64(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.ndigits$}").parse().unwrap_or(x)
}

/// Python's `==` on JSON-like values: numbers compare by value (`9 == 9.0`), dicts as maps.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Num::from_number(x).same(Num::from_number(y)),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A Python number: `int` and `float` stay distinct, as they do in the reference data (`100`
/// and `100.0` print differently and compare unequal in a data hash).
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn from_number(n: &serde_json::Number) -> Num {
        if let Some(i) = n.as_i64() {
            Num::Int(i)
        } else if n.is_f64() {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        } else {
            // A u64 beyond i64: only reachable with absurd data; keep its magnitude.
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    pub fn from_value(v: &Value) -> Option<Num> {
        match v {
            Value::Number(n) => Some(Num::from_number(n)),
            // Python bools are ints.
            Value::Bool(b) => Some(Num::Int(*b as i64)),
            _ => None,
        }
    }

    pub fn to_value(self) -> Value {
        match self {
            Num::Int(i) => Value::from(i),
            Num::Float(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn combine(self, o: Num, int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64) -> Num {
        match (self, o) {
            (Num::Int(a), Num::Int(b)) => match int(a, b) {
                Some(r) => Num::Int(r),
                None => Num::Float(float(a as f64, b as f64)),
            },
            (a, b) => Num::Float(float(a.as_f64(), b.as_f64())),
        }
    }

    pub fn plus(self, o: Num) -> Num {
        self.combine(o, i64::checked_add, |a, b| a + b)
    }
    pub fn minus(self, o: Num) -> Num {
        self.combine(o, i64::checked_sub, |a, b| a - b)
    }
    pub fn times(self, o: Num) -> Num {
        self.combine(o, i64::checked_mul, |a, b| a * b)
    }
    pub fn negated(self) -> Num {
        match self {
            Num::Int(i) => i.checked_neg().map_or(Num::Float(-(i as f64)), Num::Int),
            Num::Float(f) => Num::Float(-f),
        }
    }
    pub fn abs(self) -> Num {
        match self {
            Num::Int(i) => i
                .checked_abs()
                .map_or(Num::Float((i as f64).abs()), Num::Int),
            Num::Float(f) => Num::Float(f.abs()),
        }
    }
    /// `round(x, n)`: ints are returned unchanged, floats rounded.
    pub fn round(self, ndigits: usize) -> Num {
        match self {
            Num::Int(i) => Num::Int(i),
            Num::Float(f) => Num::Float(round_f64(f, ndigits)),
        }
    }
    pub fn compare(self, o: Num) -> Option<Ordering> {
        match (self, o) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
    pub fn lt(self, o: Num) -> bool {
        self.compare(o) == Some(Ordering::Less)
    }
    /// Python `==` between numbers (`1 == 1.0`).
    pub fn same(self, o: Num) -> bool {
        self.compare(o) == Some(Ordering::Equal)
    }
    pub fn is_zero(self) -> bool {
        self.same(Num::Int(0))
    }
    pub fn is_positive(self) -> bool {
        self.compare(Num::Int(0)) == Some(Ordering::Greater)
    }
}

/// `str(x)` for a Python number.
impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => f.write_str(&float_repr(*x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1200.0, "1200.0"),
            (342.81, "342.81"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e15, "1000000000000000.0"),
            (-2.5, "-2.5"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "repr of {f:e}");
        }
    }

    #[test]
    fn round_matches_python() {
        // Values checked against CPython 3.11: round(x, 2).
        assert_eq!(round_f64(2.675, 2), 2.67);
        assert_eq!(round_f64(0.125, 2), 0.12);
        assert_eq!(round_f64(0.375, 2), 0.38);
        assert_eq!(round_f64(1.005, 2), 1.0);
        assert_eq!(round_f64(-1819.915, 2), -1819.91);
    }

    #[test]
    fn dumps_matches_python_layout() {
        let v: Value = serde_json::from_str(
            r#"{"b": 1, "a": [1.0, 2.5, null, true], "s": "caf\u00e9 \"q\" \\ \n \ud83d\ude00 \u007f", "e": {}}"#,
        )
        .unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"b": 1, "a": [1.0, 2.5, null, true], "s": "caf\u00e9 \"q\" \\ \n \ud83d\ude00 \u007f", "e": {}}"#
        );
        assert_eq!(dumps(&json!([])), "[]");
    }

    #[test]
    fn int_and_float_stay_apart() {
        let a = Num::Int(3);
        let b = Num::Float(0.5);
        assert!(matches!(a.plus(Num::Int(4)), Num::Int(7)));
        assert!(matches!(a.plus(b), Num::Float(f) if f == 3.5));
        assert_eq!(Num::Float(-0.0).to_string(), "-0.0");
        assert!(Num::Int(1).same(Num::Float(1.0)));
        assert_eq!(dumps(&Num::Float(100.0).to_value()), "100.0");
        assert_eq!(dumps(&Num::Int(100).to_value()), "100");
    }
}
