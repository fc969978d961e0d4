//! JSON Schema → GBNF: the grammar that keeps the embedded model's answer inside the schema a
//! request names. Our own converter, so the build needs only llama.cpp's core library (its grammar
//! sampler parses the text), not the much larger `common` library that holds llama.cpp's converter.
//!
//! It covers what ugst and strict-mode clients send: objects (properties in order, `required`,
//! closed or open), arrays (`items`, `minItems`, `maxItems`), strings (`minLength`, `maxLength`;
//! `format` is left to validation), integers (small `minimum`..`maximum` ranges enumerated, a
//! non-negative `minimum` drops the sign), numbers, booleans, null, `enum`, `const`, `anyOf`,
//! `oneOf`, a one-item `allOf`, type lists and local `$ref`s (recursion included). Extra properties
//! are never generated, which every schema allows. A keyword that would constrain the answer but
//! cannot be expressed here (`pattern`, `prefixItems`, …) is an error naming its place, so a
//! caller learns it at once instead of through answers that keep failing validation.
//!
//! The grammar is built as a small tree ([`G`]) and rendered to text, so tests can match JSON
//! against the tree itself without a model.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// A grammar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum G {
    /// Exact text.
    Lit(String),
    /// One character from inclusive ranges (or, negated, outside them).
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
    Seq(Vec<G>),
    Alt(Vec<G>),
    /// `min` to `max` (`None`: unbounded) repetitions.
    Rep(Box<G>, u32, Option<u32>),
    /// A named rule.
    Rule(String),
}

/// A grammar: rules in order, `root` first.
#[derive(Debug, Clone)]
pub struct Grammar {
    pub rules: Vec<(String, G)>,
}

/// Why a schema has no grammar.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the JSON Schema at {path} {problem}")]
pub struct SchemaError {
    /// JSON Pointer of the offending part (`#` for the whole schema).
    pub path: String,
    pub problem: String,
}

/// Keywords that restrict values in ways the grammar cannot express: a schema using one is
/// refused, never converted with the restriction silently dropped.
const UNSUPPORTED: [&str; 20] = [
    "pattern",
    "patternProperties",
    "prefixItems",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
    "not",
    "if",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "multipleOf",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Integer ranges up to this size are enumerated exactly.
const ENUMERATED_RANGE: i64 = 256;

impl Grammar {
    /// The grammar whose sentences are JSON documents valid against `schema` (up to the limits
    /// the module documents).
    pub fn from_schema(schema: &Value) -> Result<Grammar, SchemaError> {
        let mut c = Conv {
            root: schema,
            rules: vec![("root".into(), G::Lit(String::new()))],
            by_body: HashMap::new(),
            refs: HashMap::new(),
        };
        let v = c.value(schema, "#")?;
        c.rules[0].1 = G::Seq(vec![v, G::Rule("ws".into())]);
        c.ensure_ws();
        Ok(Grammar { rules: c.rules })
    }

    /// GBNF text for llama.cpp's grammar sampler.
    pub fn to_gbnf(&self) -> String {
        let mut out = String::new();
        for (name, g) in &self.rules {
            out.push_str(name);
            out.push_str(" ::= ");
            render(g, &mut out, false);
            out.push('\n');
        }
        out
    }

    fn rule(&self, name: &str) -> Option<&G> {
        self.rules.iter().find(|(n, _)| n == name).map(|(_, g)| g)
    }

    /// Whether `text` is a sentence of the grammar (a backtracking matcher, for tests and checks).
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let root = G::Rule("root".into());
        self.ends(&root, &chars, 0, 0).contains(&chars.len())
    }

    /// Every position a match of `g` starting at `pos` can end at.
    fn ends(&self, g: &G, s: &[char], pos: usize, depth: u32) -> Vec<usize> {
        if depth > 200 {
            return Vec::new();
        }
        match g {
            G::Lit(t) => {
                let t: Vec<char> = t.chars().collect();
                if s[pos..].starts_with(&t) {
                    vec![pos + t.len()]
                } else {
                    Vec::new()
                }
            }
            G::Class { ranges, negated } => match s.get(pos) {
                Some(c) if ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated => {
                    vec![pos + 1]
                }
                _ => Vec::new(),
            },
            G::Seq(parts) => {
                let mut at = vec![pos];
                for p in parts {
                    let mut next = Vec::new();
                    for &q in &at {
                        next.extend(self.ends(p, s, q, depth + 1));
                    }
                    next.sort_unstable();
                    next.dedup();
                    at = next;
                }
                at
            }
            G::Alt(alts) => {
                let mut out: Vec<usize> = alts
                    .iter()
                    .flat_map(|a| self.ends(a, s, pos, depth + 1))
                    .collect();
                out.sort_unstable();
                out.dedup();
                out
            }
            G::Rep(inner, min, max) => {
                let mut out = Vec::new();
                let mut at = vec![pos];
                let mut n = 0u32;
                loop {
                    if n >= *min {
                        out.extend(at.iter().copied());
                    }
                    if max.is_some_and(|m| n >= m) || at.is_empty() {
                        break;
                    }
                    let mut next = Vec::new();
                    for &q in &at {
                        // An empty repetition cannot make progress; skip it.
                        next.extend(
                            self.ends(inner, s, q, depth + 1)
                                .into_iter()
                                .filter(|&e| e > q),
                        );
                    }
                    next.sort_unstable();
                    next.dedup();
                    at = next;
                    n += 1;
                }
                out.sort_unstable();
                out.dedup();
                out
            }
            G::Rule(name) => match self.rule(name) {
                Some(body) => self.ends(body, s, pos, depth + 1),
                None => Vec::new(),
            },
        }
    }
}

/// Shorthand: the GBNF text for `schema`.
pub fn schema_to_gbnf(schema: &Value) -> Result<String, SchemaError> {
    Grammar::from_schema(schema).map(|g| g.to_gbnf())
}

struct Conv<'a> {
    root: &'a Value,
    rules: Vec<(String, G)>,
    /// Rendered body → rule name, so identical sub-schemas share one rule.
    by_body: HashMap<String, String>,
    /// `$ref` target → rule name.
    refs: HashMap<String, String>,
}

fn lit(s: &str) -> G {
    G::Lit(s.to_string())
}

fn ws() -> G {
    G::Rule("ws".into())
}

fn err(path: &str, problem: impl Into<String>) -> SchemaError {
    SchemaError {
        path: path.to_string(),
        problem: problem.into(),
    }
}

impl Conv<'_> {
    fn has(&self, name: &str) -> bool {
        self.rules.iter().any(|(n, _)| n == name)
    }

    /// Defines a shared rule once and returns a reference to it.
    fn shared(&mut self, name: &str, body: impl FnOnce(&mut Self) -> G) -> G {
        if !self.has(name) {
            // Reserve the slot first so a body may refer to its own rule.
            self.rules.push((name.to_string(), G::Lit(String::new())));
            let g = body(self);
            let slot = self.rules.iter_mut().find(|(n, _)| n == name).unwrap();
            slot.1 = g;
        }
        G::Rule(name.into())
    }

    fn ensure_ws(&mut self) -> G {
        // Nothing, or one space/tab/newline followed by a bounded indent: enough for compact and
        // pretty-printed JSON, and no way to loop on whitespace.
        self.shared("ws", |_| {
            G::Rep(
                Box::new(G::Seq(vec![
                    G::Class {
                        ranges: vec![(' ', ' '), ('\t', '\t'), ('\n', '\n')],
                        negated: false,
                    },
                    G::Rep(
                        Box::new(G::Class {
                            ranges: vec![(' ', ' '), ('\t', '\t')],
                            negated: false,
                        }),
                        0,
                        Some(20),
                    ),
                ])),
                0,
                Some(1),
            )
        })
    }

    fn char_rule(&mut self) -> G {
        self.shared("char", |_| {
            G::Alt(vec![
                G::Class {
                    ranges: vec![
                        ('"', '"'),
                        ('\\', '\\'),
                        ('\0', '\u{1f}'),
                        ('\u{7f}', '\u{7f}'),
                    ],
                    negated: true,
                },
                G::Seq(vec![
                    lit("\\"),
                    G::Alt(vec![
                        G::Class {
                            ranges: "\"\\/bfnrt".chars().map(|c| (c, c)).collect(),
                            negated: false,
                        },
                        G::Seq(vec![
                            lit("u"),
                            G::Rep(
                                Box::new(G::Class {
                                    ranges: vec![('0', '9'), ('a', 'f'), ('A', 'F')],
                                    negated: false,
                                }),
                                4,
                                Some(4),
                            ),
                        ]),
                    ]),
                ]),
            ])
        })
    }

    fn string(&mut self, min: u32, max: Option<u32>) -> G {
        let ch = self.char_rule();
        let body = G::Seq(vec![lit("\""), G::Rep(Box::new(ch), min, max), lit("\"")]);
        // Always a rule of its own: llama.cpp expands `x{m,n}` by copying `x`, and refuses a
        // grammar where a bounded string's copies would be copied again by an enclosing bound
        // (a list of up to 12 strings of up to 400 characters, say).
        match (min, max) {
            (0, None) => self.shared("string", |_| body),
            (a, None) => self.shared(&format!("string-{a}-"), |_| body),
            (a, Some(b)) => self.shared(&format!("string-{a}-{b}"), |_| body),
        }
    }

    fn digits() -> G {
        G::Class {
            ranges: vec![('0', '9')],
            negated: false,
        }
    }

    /// `0` or a digit string without a leading zero.
    fn natural() -> G {
        G::Alt(vec![
            lit("0"),
            G::Seq(vec![
                G::Class {
                    ranges: vec![('1', '9')],
                    negated: false,
                },
                G::Rep(Box::new(Self::digits()), 0, Some(15)),
            ]),
        ])
    }

    fn integer(&mut self, signed: bool) -> G {
        if signed {
            self.shared("integer", |_| {
                G::Seq(vec![
                    G::Rep(Box::new(lit("-")), 0, Some(1)),
                    Self::natural(),
                ])
            })
        } else {
            self.shared("natural", |_| Self::natural())
        }
    }

    fn number(&mut self) -> G {
        self.shared("number", |c| {
            let int = c.integer(true);
            G::Seq(vec![
                int,
                G::Rep(
                    Box::new(G::Seq(vec![
                        lit("."),
                        G::Rep(Box::new(Self::digits()), 1, Some(16)),
                    ])),
                    0,
                    Some(1),
                ),
                G::Rep(
                    Box::new(G::Seq(vec![
                        G::Class {
                            ranges: vec![('e', 'e'), ('E', 'E')],
                            negated: false,
                        },
                        G::Rep(
                            Box::new(G::Class {
                                ranges: vec![('+', '+'), ('-', '-')],
                                negated: false,
                            }),
                            0,
                            Some(1),
                        ),
                        G::Rep(Box::new(Self::digits()), 1, Some(3)),
                    ])),
                    0,
                    Some(1),
                ),
            ])
        })
    }

    /// Any JSON value (a schema of `true` or `{}`).
    fn any(&mut self) -> G {
        self.ensure_ws();
        self.shared("json-value", |c| {
            let s = c.string(0, None);
            let n = c.number();
            let v = G::Rule("json-value".into());
            let kv = G::Seq(vec![s.clone(), ws(), lit(":"), ws(), v.clone(), ws()]);
            G::Alt(vec![
                object_of(kv),
                array_of(G::Seq(vec![v, ws()]), 0, None),
                s,
                n,
                lit("true"),
                lit("false"),
                lit("null"),
            ])
        })
    }

    /// A named rule for a compound body, shared between identical bodies.
    fn named(&mut self, hint: &str, body: G) -> G {
        let mut text = String::new();
        render(&body, &mut text, false);
        if let Some(n) = self.by_body.get(&text) {
            return G::Rule(n.clone());
        }
        let base: String = hint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_ascii_lowercase();
        // Names that start with a digit, or that a built-in rule's family owns, get a prefix.
        let base = if base.is_empty()
            || base.starts_with(|c: char| c.is_ascii_digit())
            || is_builtin(&base)
        {
            format!("v-{base}")
        } else {
            base
        };
        let mut name = base.clone();
        let mut k = 2;
        while self.has(&name) || is_builtin(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        self.rules.push((name.clone(), body));
        self.by_body.insert(text, name.clone());
        G::Rule(name)
    }

    fn value(&mut self, s: &Value, path: &str) -> Result<G, SchemaError> {
        let m = match s {
            Value::Bool(true) => return Ok(self.any()),
            Value::Bool(false) => return Err(err(path, "accepts no value (`false`)")),
            Value::Object(m) => m,
            _ => return Err(err(path, "is neither an object nor a boolean")),
        };
        if let Some(k) = UNSUPPORTED.iter().find(|k| m.contains_key(**k)) {
            return Err(err(
                path,
                format!(
                    "uses `{k}`, which the embedded model's grammar cannot enforce; drop it, or \
                     use an OpenAI-compatible endpoint for this schema"
                ),
            ));
        }
        if let Some(r) = m.get("$ref") {
            return self.reference(r, path);
        }
        if let Some(c) = m.get("const") {
            return Ok(json_literal(c));
        }
        if let Some(e) = m.get("enum") {
            let items = e
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| err(path, "has an `enum` that is not a non-empty list"))?;
            return Ok(alt(items.iter().map(json_literal).collect()));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(list) = m.get(key) {
                let list = list
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| err(path, format!("has an `{key}` that is not a list")))?;
                // Sibling keywords (a `description`, a shared `type`) apply to every branch.
                let mut alts = Vec::new();
                for (i, b) in list.iter().enumerate() {
                    let branch = merge(m, b, key);
                    alts.push(self.value(&branch, &format!("{path}/{key}/{i}"))?);
                }
                return Ok(alt(alts));
            }
        }
        if let Some(all) = m.get("allOf") {
            return match all.as_array().map(Vec::as_slice) {
                Some([one]) => {
                    let merged = merge(m, one, "allOf");
                    self.value(&merged, &format!("{path}/allOf/0"))
                }
                _ => Err(err(
                    path,
                    "uses `allOf` with more than one schema; merge them into one",
                )),
            };
        }
        match m.get("type") {
            Some(Value::String(t)) => self.typed(t, m, path),
            Some(Value::Array(ts)) => {
                let mut alts = Vec::new();
                for t in ts {
                    let t = t
                        .as_str()
                        .ok_or_else(|| err(path, "has a `type` list holding a non-string"))?;
                    alts.push(self.typed(t, m, path)?);
                }
                if alts.is_empty() {
                    return Err(err(path, "has an empty `type` list"));
                }
                Ok(alt(alts))
            }
            Some(_) => Err(err(
                path,
                "has a `type` that is neither a string nor a list",
            )),
            None if m.contains_key("properties") || m.contains_key("required") => {
                self.typed("object", m, path)
            }
            None if m.contains_key("items") => self.typed("array", m, path),
            None => Ok(self.any()),
        }
    }

    fn typed(&mut self, t: &str, m: &Map<String, Value>, path: &str) -> Result<G, SchemaError> {
        let count = |k: &str| -> Result<Option<u32>, SchemaError> {
            match m.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(|n| Some(n.min(u32::MAX as u64) as u32))
                    .ok_or_else(|| err(path, format!("has a `{k}` that is not a whole number"))),
            }
        };
        match t {
            "string" => {
                let min = count("minLength")?.unwrap_or(0);
                let max = count("maxLength")?;
                if max.is_some_and(|x| x < min) {
                    return Err(err(path, "has `maxLength` below `minLength`"));
                }
                Ok(self.string(min, max))
            }
            "integer" => {
                let lo = m
                    .get("minimum")
                    .and_then(Value::as_f64)
                    .map(|x| x.ceil() as i64);
                let hi = m
                    .get("maximum")
                    .and_then(Value::as_f64)
                    .map(|x| x.floor() as i64);
                let beyond = || {
                    err(
                        path,
                        format!(
                            "bounds an integer in a way the grammar cannot enforce (only ranges \
                             of fewer than {ENUMERATED_RANGE} values, or `minimum: 0` alone); \
                             drop the bound, or use an OpenAI-compatible endpoint"
                        ),
                    )
                };
                match (lo, hi) {
                    (Some(a), Some(b)) if b < a => Err(err(path, "has `maximum` below `minimum`")),
                    (Some(a), Some(b)) if b.saturating_sub(a) < ENUMERATED_RANGE => {
                        Ok(alt((a..=b).map(|n| G::Lit(n.to_string())).collect()))
                    }
                    (Some(0), None) => Ok(self.integer(false)),
                    (None, None) => Ok(self.integer(true)),
                    _ => Err(beyond()),
                }
            }
            "number" if m.contains_key("minimum") || m.contains_key("maximum") => Err(err(
                path,
                "bounds a number (`minimum`/`maximum`), which the grammar cannot enforce; drop \
                 the bound, or use an OpenAI-compatible endpoint",
            )),
            "number" => Ok(self.number()),
            "boolean" => Ok(alt(vec![lit("true"), lit("false")])),
            "null" => Ok(lit("null")),
            "array" => {
                let item = match m.get("items") {
                    None => self.any(),
                    Some(i) => self.value(i, &format!("{path}/items"))?,
                };
                let min = count("minItems")?.unwrap_or(0);
                let max = count("maxItems")?;
                if max.is_some_and(|x| x < min) {
                    return Err(err(path, "has `maxItems` below `minItems`"));
                }
                let body = array_of(G::Seq(vec![item, ws()]), min, max);
                Ok(self.named(&hint(path, "items"), body))
            }
            "object" => self.object(m, path),
            other => Err(err(path, format!("has an unknown `type` {other:?}"))),
        }
    }

    fn object(&mut self, m: &Map<String, Value>, path: &str) -> Result<G, SchemaError> {
        let empty = Map::new();
        let props = match m.get("properties") {
            None => &empty,
            Some(Value::Object(p)) => p,
            Some(_) => return Err(err(path, "has `properties` that is not an object")),
        };
        let required: Vec<&str> = m
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(missing) = required.iter().find(|r| !props.contains_key(**r)) {
            return Err(err(
                path,
                format!("requires {missing:?} without describing it; add it to `properties`"),
            ));
        }
        let mut req = Vec::new();
        let mut opt = Vec::new();
        for (name, sub) in props {
            let v = self.value(sub, &format!("{path}/properties/{}", pointer_escape(name)))?;
            let kv = G::Seq(vec![
                json_literal(&Value::String(name.clone())),
                ws(),
                lit(":"),
                ws(),
                v,
                ws(),
            ]);
            if required.contains(&name.as_str()) {
                req.push(kv);
            } else {
                opt.push(kv);
            }
        }
        // A map schema (no properties, values described by `additionalProperties`).
        if props.is_empty() {
            if let Some(extra @ Value::Object(_)) = m.get("additionalProperties") {
                let v = self.value(extra, &format!("{path}/additionalProperties"))?;
                let key = self.string(0, None);
                let kv = G::Seq(vec![key, ws(), lit(":"), ws(), v, ws()]);
                return Ok(self.named(&hint(path, "map"), object_of(kv)));
            }
        }
        let comma = |kv: G| G::Seq(vec![lit(","), ws(), kv]);
        let mut parts = vec![lit("{"), ws()];
        let had_required = !req.is_empty();
        for (i, kv) in req.into_iter().enumerate() {
            parts.push(if i == 0 { kv } else { comma(kv) });
        }
        if had_required {
            for kv in opt {
                parts.push(G::Rep(Box::new(comma(kv)), 0, Some(1)));
            }
        } else if !opt.is_empty() {
            // The first optional property present takes no comma; the later ones do.
            let n = opt.len();
            let mut firsts = Vec::new();
            for i in 0..n {
                let mut seq = vec![opt[i].clone()];
                for kv in &opt[i + 1..] {
                    seq.push(G::Rep(Box::new(comma(kv.clone())), 0, Some(1)));
                }
                firsts.push(G::Seq(seq));
            }
            parts.push(G::Rep(Box::new(alt(firsts)), 0, Some(1)));
        }
        parts.push(lit("}"));
        Ok(self.named(&hint(path, "object"), G::Seq(parts)))
    }

    fn reference(&mut self, r: &Value, path: &str) -> Result<G, SchemaError> {
        let r = r
            .as_str()
            .ok_or_else(|| err(path, "has a `$ref` that is not a string"))?;
        if let Some(name) = self.refs.get(r) {
            return Ok(G::Rule(name.clone()));
        }
        let target = r
            .strip_prefix('#')
            .and_then(|p| self.root.pointer(p))
            .ok_or_else(|| {
                err(
                    path,
                    format!("refers to {r:?}, which is not a part of this schema (only local `#/...` references work)"),
                )
            })?;
        let base = format!("ref-{}", r.rsplit('/').next().unwrap_or(""));
        let base: String = base
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut name = base.clone();
        let mut k = 2;
        while self.has(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        self.refs.insert(r.to_string(), name.clone());
        self.rules.push((name.clone(), G::Lit(String::new())));
        let body = self.value(target, r)?;
        self.rules.iter_mut().find(|(n, _)| *n == name).unwrap().1 = body;
        Ok(G::Rule(name))
    }
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "root" | "ws" | "char" | "string" | "integer" | "natural" | "number" | "json-value"
    ) || name.starts_with("string-")
}

/// A rule-name hint from the last named step of a JSON Pointer.
fn hint(path: &str, kind: &str) -> String {
    let last = path
        .rsplit('/')
        .find(|s| {
            !matches!(*s, "properties" | "items" | "#" | "anyOf" | "oneOf")
                && !s.chars().all(|c| c.is_ascii_digit())
        })
        .unwrap_or("");
    if last.is_empty() {
        kind.to_string()
    } else {
        format!("{last}-{kind}")
    }
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The branch schema of an `anyOf`-like keyword with the parent's other keywords merged in.
fn merge(parent: &Map<String, Value>, branch: &Value, skip: &str) -> Value {
    match branch {
        Value::Object(b) => {
            let mut out = Map::new();
            for (k, v) in parent {
                if k != skip && !matches!(k.as_str(), "description" | "title" | "default") {
                    out.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in b {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn alt(mut alts: Vec<G>) -> G {
    if alts.len() == 1 {
        alts.pop().unwrap()
    } else {
        G::Alt(alts)
    }
}

/// `{ kv ("," kv)* }` or `{}`, where `kv` carries its own trailing whitespace.
fn object_of(kv: G) -> G {
    G::Seq(vec![
        lit("{"),
        ws(),
        G::Rep(
            Box::new(G::Seq(vec![
                kv.clone(),
                G::Rep(Box::new(G::Seq(vec![lit(","), ws(), kv])), 0, None),
            ])),
            0,
            Some(1),
        ),
        lit("}"),
    ])
}

/// `[ item ("," item){min-1,max-1} ]`, where `item` carries its own trailing whitespace.
fn array_of(item: G, min: u32, max: Option<u32>) -> G {
    if max == Some(0) {
        return G::Seq(vec![lit("["), ws(), lit("]")]);
    }
    let more = G::Rep(
        Box::new(G::Seq(vec![lit(","), ws(), item.clone()])),
        min.saturating_sub(1),
        max.map(|m| m - 1),
    );
    let list = G::Seq(vec![item, more]);
    let list = if min == 0 {
        G::Rep(Box::new(list), 0, Some(1))
    } else {
        list
    };
    G::Seq(vec![lit("["), ws(), list, lit("]")])
}

/// A JSON value written out exactly (compact), as grammar text.
fn json_literal(v: &Value) -> G {
    G::Lit(v.to_string())
}

fn render(g: &G, out: &mut String, nested: bool) {
    match g {
        G::Lit(t) => {
            out.push('"');
            for c in t.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02X}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        G::Class { ranges, negated } => {
            out.push('[');
            if *negated {
                out.push('^');
            }
            for (lo, hi) in ranges {
                class_char(*lo, out);
                if lo != hi {
                    out.push('-');
                    class_char(*hi, out);
                }
            }
            out.push(']');
        }
        G::Seq(parts) => {
            if nested && parts.len() > 1 {
                out.push('(');
            }
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                render(p, out, true);
            }
            if nested && parts.len() > 1 {
                out.push(')');
            }
        }
        G::Alt(alts) => {
            if nested {
                out.push('(');
            }
            for (i, a) in alts.iter().enumerate() {
                if i > 0 {
                    out.push_str(" | ");
                }
                render(a, out, false);
            }
            if nested {
                out.push(')');
            }
        }
        G::Rep(inner, min, max) => {
            let atomic = matches!(**inner, G::Lit(_) | G::Class { .. } | G::Rule(_));
            if !atomic {
                out.push('(');
            }
            render(inner, out, false);
            if !atomic {
                out.push(')');
            }
            match (min, max) {
                (0, Some(1)) => out.push('?'),
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (a, None) => out.push_str(&format!("{{{a},}}")),
                (a, Some(b)) if a == b => out.push_str(&format!("{{{a}}}")),
                (a, Some(b)) => out.push_str(&format!("{{{a},{b}}}")),
            }
        }
        G::Rule(name) => out.push_str(name),
    }
}

/// A character inside `[...]`: letters and digits as they are, everything else escaped, so no
/// character can be read as `^`, `-` or `]`.
fn class_char(c: char, out: &mut String) {
    let n = c as u32;
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else if n < 0x100 {
        out.push_str(&format!("\\x{n:02X}"));
    } else if n < 0x10000 {
        out.push_str(&format!("\\u{n:04X}"));
    } else {
        out.push_str(&format!("\\U{n:08X}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(schema: Value) -> Grammar {
        Grammar::from_schema(&schema).unwrap()
    }

    #[test]
    fn strings_keep_their_length_bounds_and_escapes() {
        let gr = g(json!({"type": "string", "minLength": 1, "maxLength": 3}));
        assert!(gr.matches(r#""abc""#));
        assert!(gr.matches(r#""a\"c""#), "an escape counts as one character");
        assert!(!gr.matches(r#""""#));
        assert!(!gr.matches(r#""abcd""#));
        assert!(!gr.matches("\"a\nb\""), "a raw newline is not JSON");
        assert!(gr.to_gbnf().contains("char{1,3}"), "{}", gr.to_gbnf());
    }

    #[test]
    fn bounded_strings_are_rules_so_enclosing_bounds_copy_only_a_name() {
        let gr = g(
            json!({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 400}, "maxItems": 12}),
        );
        let text = gr.to_gbnf();
        assert!(
            text.contains("string-1-400 ::= \"\\\"\" char{1,400} \"\\\"\""),
            "{text}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.contains("char{1,400}") && l.contains("{0,11}")),
            "{text}"
        );
        assert!(gr.matches(r#"["a", "bc"]"#));
        let named = g(
            json!({"type": "object", "properties": {"string-1-2": {"type": "object"}, "t": {"type": "string", "minLength": 1, "maxLength": 2}}, "required": ["string-1-2", "t"]}),
        );
        assert!(
            named.matches(r#"{"string-1-2": {}, "t": "ab"}"#),
            "{}",
            named.to_gbnf()
        );
    }

    #[test]
    fn objects_follow_property_order_and_required() {
        let gr = g(json!({
            "type": "object",
            "properties": {"reason": {"type": "string"}, "status": {"type": "string", "enum": ["SUCCESS", "FAILED"]}},
            "required": ["reason", "status"],
            "additionalProperties": false
        }));
        assert!(gr.matches(r#"{"reason": "turn 2", "status": "SUCCESS"}"#));
        assert!(gr.matches("{\n  \"reason\": \"x\",\n  \"status\": \"FAILED\"\n}\n"));
        assert!(
            !gr.matches(r#"{"reason": "x"}"#),
            "a required key is missing"
        );
        assert!(!gr.matches(r#"{"reason": "x", "status": "MAYBE"}"#));
        assert!(!gr.matches(r#"{"reason": "x", "status": "FAILED", "extra": 1}"#));
    }

    #[test]
    fn optional_properties_may_each_be_left_out() {
        let gr = g(
            json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}}),
        );
        for ok in [
            r#"{}"#,
            r#"{"a": 1}"#,
            r#"{"b": true}"#,
            r#"{"a": -3, "b": false}"#,
        ] {
            assert!(gr.matches(ok), "{ok}");
        }
        assert!(!gr.matches(r#"{, "b": true}"#));
        assert!(
            !gr.matches(r#"{"b": true, "a": 1}"#),
            "order is the schema's"
        );
    }

    #[test]
    fn arrays_keep_their_item_counts() {
        let gr = g(
            json!({"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5}, "minItems": 1, "maxItems": 2}),
        );
        assert!(gr.matches("[1]"));
        assert!(gr.matches("[1, 5]"));
        assert!(!gr.matches("[]"));
        assert!(!gr.matches("[1, 2, 3]"));
        assert!(!gr.matches("[6]"), "the range is enumerated");
        let any = g(json!({"type": "array"}));
        assert!(any.matches(r#"[]"#));
        assert!(any.matches(r#"[1, "x", {"k": [null]}, 2.5e3]"#));
    }

    #[test]
    fn any_of_type_lists_and_references() {
        let gr = g(json!({
            "$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["kids"]}},
            "anyOf": [{"$ref": "#/$defs/node"}, {"type": ["string", "null"]}]
        }));
        assert!(
            gr.matches(r#"{"kids": [{"kids": []}]}"#),
            "{}",
            gr.to_gbnf()
        );
        assert!(gr.matches("null"));
        assert!(gr.matches(r#""leaf""#));
        assert!(!gr.matches("3"));
    }

    #[test]
    fn unsupported_keywords_name_their_place() {
        let e = Grammar::from_schema(&json!({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}}})).unwrap_err();
        assert_eq!(e.path, "#/properties/code");
        assert!(e.to_string().contains("`pattern`"), "{e}");
        let e = Grammar::from_schema(&json!({"$ref": "#/$defs/missing"})).unwrap_err();
        assert!(e.to_string().contains("#/$defs/missing"), "{e}");
    }

    #[test]
    fn every_constraint_the_grammar_cannot_enforce_is_refused() {
        // The ecosystem review's list: these were converted with the constraint dropped.
        for k in UNSUPPORTED {
            let schema = json!({"type": "object", "properties": {"x": {"type": "array", k: 1}}});
            let e = Grammar::from_schema(&schema).unwrap_err();
            assert!(e.to_string().contains(&format!("`{k}`")), "{k}: {e}");
        }
        for bounded in [
            json!({"type": "number", "minimum": 0}),
            json!({"type": "number", "maximum": 1.5}),
            json!({"type": "integer", "minimum": 0, "maximum": 100000}),
            json!({"type": "integer", "maximum": 10}),
            json!({"type": "integer", "minimum": 1}),
            json!({"type": "integer", "minimum": -5}),
        ] {
            assert!(Grammar::from_schema(&bounded).is_err(), "{bounded}");
        }
        // What it can enforce still converts.
        for fine in [
            json!({"type": "integer", "minimum": 1, "maximum": 5}),
            json!({"type": "integer", "minimum": -3, "maximum": 3}),
            json!({"type": "integer", "minimum": 0}),
            json!({"type": "integer"}),
            json!({"type": "number"}),
        ] {
            assert!(Grammar::from_schema(&fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn literals_and_classes_escape_what_gbnf_reads_specially() {
        let gr = g(json!({"enum": ["a\"b", "c\\d", "ü-]"]}));
        let text = gr.to_gbnf();
        assert!(text.contains(r#""\"a\\\"b\"""#), "{text}");
        assert!(gr.matches(r#""a\"b""#));
        assert!(gr.matches("\"ü-]\""));
        let text = g(json!({"type": "string"})).to_gbnf();
        assert!(text.contains(r"[^\x22\x5C\x00-\x1F\x7F]"), "{text}");
    }

    #[test]
    fn identical_sub_schemas_share_one_rule() {
        let status = json!({"type": "object", "properties": {"s": {"enum": ["A", "B"]}}, "required": ["s"], "additionalProperties": false});
        let gr = g(
            json!({"type": "object", "properties": {"p1": status, "p2": status, "p3": status}, "required": ["p1", "p2", "p3"], "additionalProperties": false}),
        );
        let text = gr.to_gbnf();
        assert_eq!(text.matches("\"\\\"s\\\"\"").count(), 1, "{text}");
        assert!(gr.matches(r#"{"p1": {"s": "A"}, "p2": {"s": "B"}, "p3": {"s": "A"}}"#));
    }
}
