//! Reads τ-bench's `tasks_*.py` modules without Python: they are one list of `Task(...)` /
//! `Action(...)` calls with keyword arguments whose values are Python literals. This parser
//! accepts exactly that subset — strings (any quoting, escapes, implicit concatenation), numbers,
//! `True`/`False`/`None`, lists, tuples, dicts and keyword calls — and turns it into JSON, a call
//! becoming an object of its keyword arguments.

use serde_json::{Map, Number, Value};

/// A parse error with its 1-based line and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {col}: {msg}")]
pub struct LiteralError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

/// Finds `NAME = [ ... ]` in `source` and parses the list.
pub fn parse_assignment(source: &str, name: &str) -> Result<Value, LiteralError> {
    let mut p = P::new(source);
    loop {
        p.skip_ws();
        if p.at_end() {
            return Err(p.err(format!("no assignment `{name} = [...]` found")));
        }
        let line_start = p.i == 0 || p.b[p.i - 1] == b'\n';
        if line_start && p.starts_with(name) {
            let save = p.i;
            p.i += name.len();
            p.skip_inline_ws();
            if p.peek() == Some(b'=') && p.b.get(p.i + 1) != Some(&b'=') {
                p.i += 1;
                let v = p.value()?;
                return Ok(v);
            }
            p.i = save;
        }
        p.skip_line();
    }
}

/// Names of top-level list assignments in `source` (e.g. `TASKS_TEST`).
pub fn assigned_names(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|l| {
            let (lhs, rhs) = l.split_once('=')?;
            let lhs = lhs.trim_end();
            (!l.starts_with(char::is_whitespace)
                && !lhs.is_empty()
                && lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && rhs.trim_start().starts_with('['))
            .then(|| lhs.to_string())
        })
        .collect()
}

/// How deeply lists, dicts and calls may nest: τ-bench's task files nest four levels; a file
/// nested deeper is refused rather than allowed to overflow the stack (as serde_json does).
pub const MAX_DEPTH: usize = 128;

struct P<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// Values being read, one inside another.
    depth: usize,
}

impl<'a> P<'a> {
    fn new(s: &'a str) -> Self {
        P {
            s,
            b: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }
    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn starts_with(&self, t: &str) -> bool {
        self.s[self.i..].starts_with(t)
    }
    fn err(&self, msg: impl Into<String>) -> LiteralError {
        let before = &self.s[..self.i.min(self.s.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        LiteralError {
            line,
            col,
            msg: msg.into(),
        }
    }
    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == b'\n' {
                break;
            }
        }
    }
    fn skip_inline_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    /// Whitespace, newlines, comments and line continuations.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.i += 1,
                Some(b'\\') if matches!(self.b.get(self.i + 1), Some(b'\n')) => self.i += 2,
                Some(b'#') => self.skip_line(),
                _ => break,
            }
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), LiteralError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected `{}`", c as char)))
        }
    }

    fn value(&mut self) -> Result<Value, LiteralError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format!(
                "values nested more than {MAX_DEPTH} deep; a task list is never this deep"
            )));
        }
        self.depth += 1;
        let v = self.one_value();
        self.depth -= 1;
        v
    }

    fn one_value(&mut self) -> Result<Value, LiteralError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.err("unexpected end of file")),
            Some(b'[') => {
                self.i += 1;
                Ok(Value::Array(self.items(b']')?))
            }
            Some(b'(') => {
                self.i += 1;
                Ok(Value::Array(self.items(b')')?))
            }
            Some(b'{') => {
                self.i += 1;
                self.dict()
            }
            Some(b'-' | b'+' | b'0'..=b'9' | b'.') => self.number(),
            Some(c) if c == b'"' || c == b'\'' => self.strings(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                let name = self.ident();
                self.skip_ws();
                // String prefixes: r"", b"" are not used by the task files; u"" is harmless.
                if matches!(name.as_str(), "u" | "U") && matches!(self.peek(), Some(b'"' | b'\'')) {
                    return self.strings();
                }
                match name.as_str() {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::Null),
                    _ if self.peek() == Some(b'(') => {
                        self.i += 1;
                        self.call(&name)
                    }
                    _ => {
                        self.i = start;
                        Err(self.err(format!(
                            "`{name}` is a variable or expression, not a literal; only literal task lists can be read"
                        )))
                    }
                }
            }
            Some(c) => Err(self.err(format!("unexpected character `{}`", c as char))),
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            self.i += 1;
        }
        self.s[start..self.i].to_string()
    }

    fn items(&mut self, close: u8) -> Result<Vec<Value>, LiteralError> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(out);
            }
            out.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.err(format!("expected `,` or `{}`", close as char))),
            }
        }
    }

    fn dict(&mut self) -> Result<Value, LiteralError> {
        let mut m = Map::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Object(m));
            }
            let k = match self.value()? {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                other => return Err(self.err(format!("dict keys must be strings, got {other}"))),
            };
            self.expect(b':')?;
            let v = self.value()?;
            m.insert(k, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn call(&mut self, name: &str) -> Result<Value, LiteralError> {
        let mut m = Map::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b')') {
                self.i += 1;
                return Ok(Value::Object(m));
            }
            let k = self.ident();
            if k.is_empty() {
                return Err(self.err(format!("`{name}(...)` takes keyword arguments only")));
            }
            self.expect(b'=')?;
            let v = self.value()?;
            m.insert(k, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b')') => {}
                _ => return Err(self.err("expected `,` or `)`")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, LiteralError> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'_'))
            || (matches!(self.peek(), Some(b'-' | b'+'))
                && matches!(self.b[self.i - 1], b'e' | b'E'))
        {
            self.i += 1;
        }
        let text: String = self.s[start..self.i]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let is_float = text.contains(['.', 'e', 'E']);
        let parsed = if is_float {
            text.parse::<f64>().ok().and_then(Number::from_f64)
        } else {
            text.parse::<i64>().ok().map(Number::from)
        };
        parsed
            .map(Value::Number)
            .ok_or_else(|| self.err(format!("`{text}` is not a number")))
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Result<Value, LiteralError> {
        let mut out = self.string()?;
        loop {
            let save = self.i;
            self.skip_ws();
            if matches!(self.peek(), Some(b'"' | b'\'')) {
                out.push_str(&self.string()?);
            } else {
                self.i = save;
                return Ok(Value::String(out));
            }
        }
    }

    fn string(&mut self) -> Result<String, LiteralError> {
        let q = self.peek().expect("called at a quote");
        let triple = self.b.get(self.i + 1) == Some(&q) && self.b.get(self.i + 2) == Some(&q);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let Some(c) = self.s[self.i..].chars().next() else {
                return Err(self.err("unterminated string"));
            };
            if c as u32 == q as u32 {
                if !triple {
                    self.i += 1;
                    return Ok(out);
                }
                if self.b.get(self.i + 1) == Some(&q) && self.b.get(self.i + 2) == Some(&q) {
                    self.i += 3;
                    return Ok(out);
                }
            }
            if c == '\n' && !triple {
                return Err(self.err("unterminated string"));
            }
            self.i += c.len_utf8();
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.s[self.i..].chars().next() else {
                return Err(self.err("unterminated string"));
            };
            self.i += e.len_utf8();
            match e {
                '\n' => {}
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'a' => out.push('\u{7}'),
                'v' => out.push('\u{b}'),
                '0'..='7' => {
                    let mut n = e.to_digit(8).unwrap();
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') => {
                                n = n * 8 + (d - b'0') as u32;
                                self.i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                }
                'x' | 'u' | 'U' => {
                    let len = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex = self.s.get(self.i..self.i + len).unwrap_or("");
                    let n = u32::from_str_radix(hex, 16)
                        .map_err(|_| self.err(format!("bad \\{e} escape")))?;
                    self.i += len;
                    out.push(
                        char::from_u32(n).ok_or_else(|| self.err(format!("bad \\{e} escape")))?,
                    );
                }
                other => {
                    // Python keeps unknown escapes as written.
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Review finding 12: a million `[` aborted the process (exit 134).
        for open in ["[", "(", "{1: ", "Task(a="] {
            let src = format!("TASKS_TEST = {}", open.repeat(1_000_000));
            let e = parse_assignment(&src, "TASKS_TEST").unwrap_err();
            assert!(e.msg.contains("nested more than"), "{open}: {e}");
        }
        // Up to the limit is read.
        let ok = format!(
            "TASKS_TEST = {}{}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(parse_assignment(&ok, "TASKS_TEST").is_ok());
    }

    #[test]
    fn reads_task_lists() {
        let src = r#"from tau_bench.types import Task, Action

# a comment
TASKS_TEST = [
    Task(
        annotator="0",
        user_id='yusuf_rossi_9620',
        instruction="You are Yusuf. "
        'It\'s "fine".\n',  # trailing comment
        actions=[
            Action(name="calculate", kwargs={"expression": "2 + 2", "n": -3, "f": 1.5e3, "ok": True, "no": None}),
        ],
        outputs=["10.0", ],
    ),
    Task(annotator="1", user_id="x", instruction="""multi
line""", actions=[], outputs=()),
]
"#;
        assert_eq!(assigned_names(src), vec!["TASKS_TEST"]);
        let v = parse_assignment(src, "TASKS_TEST").unwrap();
        assert_eq!(
            v,
            json!([
                {"annotator": "0", "user_id": "yusuf_rossi_9620",
                 "instruction": "You are Yusuf. It's \"fine\".\n",
                 "actions": [{"name": "calculate", "kwargs": {"expression": "2 + 2", "n": -3, "f": 1500.0, "ok": true, "no": null}}],
                 "outputs": ["10.0"]},
                {"annotator": "1", "user_id": "x", "instruction": "multi\nline", "actions": [], "outputs": []}
            ])
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse_assignment("TASKS = [\n  Task(a=foo),\n]", "TASKS").unwrap_err();
        assert_eq!((e.line, e.col), (2, 10));
        assert!(e.msg.contains("not a literal"), "{e}");
        let e = parse_assignment("TASKS = [\"open", "TASKS").unwrap_err();
        assert!(e.msg.contains("unterminated"), "{e}");
        let e = parse_assignment("X = 1", "TASKS").unwrap_err();
        assert!(e.msg.contains("no assignment"), "{e}");
    }
}
