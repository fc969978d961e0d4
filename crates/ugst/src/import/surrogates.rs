//! Lone UTF-16 surrogate escapes in a log's JSON (`"\ud83d"` without its pair, which Python's
//! `json.dumps` writes for a cut emoji) become U+FFFD before parsing: serde_json refuses them,
//! and one bad character must not reject a whole log (review finding 19).

use std::borrow::Cow;

/// `text` with every lone surrogate escape replaced by `\ufffd`; pairs and everything else are
/// kept byte for byte. Borrowed when there is nothing to replace.
pub fn mend(text: &str) -> Cow<'_, str> {
    if !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let hex4 = |at: usize| -> Option<u16> {
        let h = text.get(at..at + 4)?;
        u16::from_str_radix(h, 16).ok()
    };
    // The code unit of a `\uXXXX` escape starting at `at` (the backslash), if there is one.
    let escape = |at: usize| -> Option<u16> {
        (b.get(at) == Some(&b'\\') && b.get(at + 1) == Some(&b'u'))
            .then(|| hex4(at + 2))
            .flatten()
    };
    // Filled only once a lone surrogate is found; `copied` is how much of `text` it holds.
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        // An escaped backslash is two characters and never starts an escape.
        if b.get(i + 1) == Some(&b'\\') {
            i += 2;
            continue;
        }
        let Some(unit) = escape(i) else {
            i += 1;
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        let low = (0xDC00..0xE000).contains(&unit);
        if high && escape(i + 6).is_some_and(|n| (0xDC00..0xE000).contains(&n)) {
            i += 12; // a proper pair
            continue;
        }
        if high || low {
            if copied == 0 {
                out.reserve(text.len());
            }
            out.push_str(&text[copied..i]);
            out.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> String {
        serde_json::from_str::<String>(&mend(s)).unwrap()
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(parsed(r#""a\ud83db""#), "a\u{fffd}b");
        assert_eq!(parsed(r#""\udc00""#), "\u{fffd}");
        // A proper pair, other escapes and an escaped backslash are kept.
        assert_eq!(parsed(r#""\ud83d\ude00 \u00e9""#), "😀 é");
        assert_eq!(parsed(r#""\\ud83d""#), "\\ud83d");
        assert!(matches!(mend(r#""plain""#), Cow::Borrowed(_)));
        // A high surrogate followed by another high one: both lone.
        assert_eq!(parsed(r#""\ud83d\ud83d""#), "\u{fffd}\u{fffd}");
    }
}
