//! Ranks a request's candidate answers ([`crate::ChatRequest::score`]) from the token
//! log-probabilities an OpenAI-compatible server returns with its written answer (`"logprobs":
//! true, "top_logprobs": N`).
//!
//! The server writes one answer and, at each generated token, lists the N likeliest tokens with
//! their log-probabilities. The candidates share a start (`{"answer":"`) and part ways at one
//! point. The written answer is walked token by token while its text is still that shared start;
//! the first token that reaches past it is the *divergence position*. Each candidate's score is the
//! log-probability, at that position, of the longest listed token whose text begins the
//! candidate's remaining text and reaches past the shared start (so that it belongs to that
//! candidate alone). The chosen token may itself cover more than the divergence point (`":"yes`);
//! it is read the same way. A candidate that none of the listed tokens begins gets a floor below
//! every listed token (see [`MISSING_MARGIN`]).
//!
//! These scores are the candidates' log-probabilities up to a constant they all share (the shared
//! start's own log-probability), provided each candidate's text is settled once its first token
//! is chosen, as a schema whose answer is an enum of the candidates makes it. The caller takes a
//! softmax, which ignores such a constant.
//!
//! When the candidates are JSON, whitespace outside strings is insignificant: a server that
//! writes `{"answer": "yes"}` is matched against the candidate `{"answer":"yes"}`.
//!
//! Ranking needs candidates whose first tokens differ (no listed token may begin two of them).
//! When it is not possible — no logprobs, too few or indistinct candidates, a written answer that
//! leaves every candidate or ends before they part ways — [`candidate_scores`] says why, and the
//! caller keeps the written answer.

use serde_json::Value;

/// How far below the least likely listed token a candidate that no listed token begins is put:
/// ln 10, a tenth of that token's probability. The server lists the N likeliest tokens, so such a
/// candidate is certainly less likely than every listed one, by an unknown amount; a tenth keeps
/// it clearly last and its score finite (two missing candidates tie). When the listed tokens leave
/// less probability than that unaccounted for, the floor is that remainder instead.
pub const MISSING_MARGIN: f64 = std::f64::consts::LN_10;

/// One token as the server reports it: its bytes and its natural log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// The token's bytes (the server's `bytes` when it sends them, else its `token` text).
    pub bytes: Vec<u8>,
    /// `None` when the server left it out.
    pub logprob: Option<f64>,
}

/// One generated position: the token chosen there and the likeliest tokens the server listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub chosen: TokenLogprob,
    pub top: Vec<TokenLogprob>,
}

/// Why the candidates could not be ranked from the logprobs (the written answer then counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unranked {
    /// The answer came without token logprobs.
    NoLogprobs,
    /// Fewer than two candidates.
    TooFewCandidates,
    /// Two candidates are the same, or one is the start of another.
    Indistinct,
    /// A listed token begins two candidates: their first tokens do not differ.
    SharedFirstToken,
    /// The written answer ends before the candidates part ways.
    Unfinished,
    /// The written answer leaves every candidate.
    OffCandidates,
}

impl std::fmt::Display for Unranked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unranked::NoLogprobs => "the answer came without token logprobs",
            Unranked::TooFewCandidates => "fewer than two answers are offered",
            Unranked::Indistinct => "two offered answers are the same, or one begins another",
            Unranked::SharedFirstToken => "two offered answers can begin with the same token",
            Unranked::Unfinished => "the written answer ends before the offered answers part ways",
            Unranked::OffCandidates => "the written answer is none of the offered answers",
        })
    }
}

/// Reads `choices[i].logprobs.content` of a chat completion. Missing or null fields are fine:
/// `None` when there is no content list (or it is empty); a token without `bytes` is taken from
/// its `token` text, a listed token without a log-probability is dropped.
pub fn parse_logprobs(choice: &Value) -> Option<Vec<Position>> {
    let content = choice.get("logprobs")?.get("content")?.as_array()?;
    let positions: Vec<Position> = content
        .iter()
        .filter_map(|p| {
            let chosen = token(p)?;
            let top = p
                .get("top_logprobs")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(token)
                        .filter(|t| t.logprob.is_some())
                        .collect()
                })
                .unwrap_or_default();
            Some(Position { chosen, top })
        })
        .collect();
    (!positions.is_empty()).then_some(positions)
}

fn token(v: &Value) -> Option<TokenLogprob> {
    let from_bytes = v.get("bytes").and_then(Value::as_array).and_then(|b| {
        b.iter()
            .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()
    });
    let bytes = match from_bytes {
        Some(b) => b,
        None => v.get("token")?.as_str()?.as_bytes().to_vec(),
    };
    let logprob = v
        .get("logprob")
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite());
    Some(TokenLogprob { bytes, logprob })
}

/// Where a JSON lexer stands: inside a string, and after a backslash there.
#[derive(Debug, Clone, Copy, Default)]
struct Lexer {
    in_string: bool,
    escaped: bool,
}

impl Lexer {
    /// `bytes` without the whitespace a JSON reader ignores (outside strings), and the state
    /// after them. Without `json` the bytes are kept as they are.
    fn compact(mut self, bytes: &[u8], json: bool) -> (Vec<u8>, Lexer) {
        if !json {
            return (bytes.to_vec(), self);
        }
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                continue;
            } else if b == b'"' {
                self.in_string = true;
            }
            out.push(b);
        }
        (out, self)
    }
}

/// Each candidate's score (in order) from the logprobs of the written answer, or why there is
/// none. See the module documentation for what the scores mean.
pub fn candidate_scores(
    candidates: &[String],
    positions: &[Position],
) -> Result<Vec<f64>, Unranked> {
    if positions.is_empty() {
        return Err(Unranked::NoLogprobs);
    }
    if candidates.len() < 2 {
        return Err(Unranked::TooFewCandidates);
    }
    let json = candidates
        .iter()
        .all(|c| serde_json::from_str::<Value>(c).is_ok());
    let cands: Vec<Vec<u8>> = candidates
        .iter()
        .map(|c| Lexer::default().compact(c.as_bytes(), json).0)
        .collect();
    // The length of the start all candidates share.
    let shared = (0..cands[0].len())
        .find(|&i| cands.iter().any(|c| c.get(i) != Some(&cands[0][i])))
        .unwrap_or(cands[0].len());
    if cands.iter().any(|c| c.len() == shared) {
        return Err(Unranked::Indistinct);
    }

    // Walk the written answer while it is still the shared start.
    let mut lexer = Lexer::default();
    let mut done = 0;
    let mut at = None;
    for pos in positions {
        let (text, after) = lexer.compact(&pos.chosen.bytes, json);
        if done + text.len() > shared {
            at = Some(pos);
            break;
        }
        if cands[0][done..done + text.len()] != text[..] {
            return Err(Unranked::OffCandidates);
        }
        done += text.len();
        lexer = after;
    }
    let Some(pos) = at else {
        return Err(Unranked::Unfinished);
    };

    // The candidate a token (compacted from the divergence point on) begins and belongs to:
    // `Ok(None)` when it stays within the shared start or begins none of them.
    let owner = |bytes: &[u8]| -> Result<Option<(usize, usize)>, Unranked> {
        let text = lexer.compact(bytes, json).0;
        if done + text.len() <= shared {
            return Ok(None);
        }
        let mut begun = cands
            .iter()
            .enumerate()
            .filter(|(_, c)| c[done..].starts_with(&text))
            .map(|(k, _)| k);
        match (begun.next(), begun.next()) {
            (None, _) => Ok(None),
            (Some(k), None) => Ok(Some((k, text.len()))),
            (Some(_), Some(_)) => Err(Unranked::SharedFirstToken),
        }
    };
    if owner(&pos.chosen.bytes)?.is_none() {
        return Err(Unranked::OffCandidates);
    }

    // The chosen token is a listed one too (servers usually repeat it in the list).
    let mut listed: Vec<(&[u8], f64)> = pos
        .top
        .iter()
        .filter_map(|t| Some((t.bytes.as_slice(), t.logprob?)))
        .collect();
    if let Some(lp) = pos.chosen.logprob {
        if !listed
            .iter()
            .any(|(b, _)| *b == pos.chosen.bytes.as_slice())
        {
            listed.push((pos.chosen.bytes.as_slice(), lp));
        }
    }
    if listed.is_empty() {
        return Err(Unranked::NoLogprobs);
    }

    // Per candidate: the longest token that begins it (the likelier one among equals).
    let mut best: Vec<Option<(usize, f64)>> = vec![None; cands.len()];
    for &(bytes, lp) in &listed {
        if let Some((k, len)) = owner(bytes)? {
            let better = match best[k] {
                None => true,
                Some((l, p)) => len > l || (len == l && lp > p),
            };
            if better {
                best[k] = Some((len, lp));
            }
        }
    }
    let floor = missing_floor(listed.iter().map(|(_, lp)| *lp));
    Ok(best
        .into_iter()
        .map(|b| b.map_or(floor, |(_, lp)| lp))
        .collect())
}

/// The score of a candidate that no listed token begins: [`MISSING_MARGIN`] below the least
/// likely listed token, or the probability the listed tokens leave unaccounted for when that is
/// smaller.
fn missing_floor(listed: impl Iterator<Item = f64> + Clone) -> f64 {
    let lowest = listed.clone().fold(f64::INFINITY, f64::min);
    let mass: f64 = listed.map(f64::exp).sum();
    let floor = lowest - MISSING_MARGIN;
    if mass < 1.0 {
        floor.min((1.0 - mass).ln())
    } else {
        floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tok(text: &str, lp: f64) -> TokenLogprob {
        TokenLogprob {
            bytes: text.as_bytes().to_vec(),
            logprob: Some(lp),
        }
    }

    /// A position where `chosen` was written, with `top` listed.
    fn at(chosen: &str, top: &[(&str, f64)]) -> Position {
        let lp = top
            .iter()
            .find(|(t, _)| *t == chosen)
            .map_or(-0.01, |(_, lp)| *lp);
        Position {
            chosen: tok(chosen, lp),
            top: top.iter().map(|(t, lp)| tok(t, *lp)).collect(),
        }
    }

    /// A position of the shared start, where the written token was certain.
    fn sure(chosen: &str) -> Position {
        at(chosen, &[(chosen, -0.001)])
    }

    fn yes_no() -> Vec<String> {
        ["yes", "no"]
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect()
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn reads_each_candidate_at_the_first_token_where_they_differ() {
        let answer = [
            sure("{\""),
            sure("answer"),
            sure("\":\""),
            at("yes", &[("yes", -0.2), ("no", -1.8), ("y", -6.0)]),
            sure("\"}"),
        ];
        let s = candidate_scores(&yes_no(), &answer).unwrap();
        assert!(close(&s, &[-0.2, -1.8]), "{s:?}");
    }

    #[test]
    fn whitespace_between_json_tokens_is_skipped_but_not_inside_strings() {
        // `{"answer": "no"}`: the space after the colon is insignificant.
        let answer = [
            sure("{\""),
            sure("answer"),
            sure("\":"),
            sure(" \""),
            at("no", &[("no", -0.1), ("yes", -2.5), (" no", -3.0)]),
            sure("\"}"),
        ];
        let s = candidate_scores(&yes_no(), &answer).unwrap();
        // ` no` (inside the string) is no candidate's start.
        assert!(close(&s, &[-2.5, -0.1]), "{s:?}");
    }

    #[test]
    fn a_chosen_token_that_spans_the_divergence_point() {
        let answer = [
            sure("{\""),
            sure("answer"),
            at(
                "\":\"no",
                &[("\":\"no", -0.4), ("\":\"yes", -1.2), ("\":\"", -2.0)],
            ),
            sure("\"}"),
        ];
        let s = candidate_scores(&yes_no(), &answer).unwrap();
        // `":"` stays within the shared start: it is nobody's.
        assert!(close(&s, &[-1.2, -0.4]), "{s:?}");
        // The whole answer as one token.
        let one = [at(
            "{\"answer\":\"yes\"}",
            &[
                ("{\"answer\":\"yes\"}", -0.05),
                ("{\"answer\":\"no\"}", -3.0),
            ],
        )];
        let s = candidate_scores(&yes_no(), &one).unwrap();
        assert!(close(&s, &[-0.05, -3.0]), "{s:?}");
    }

    #[test]
    fn the_longest_token_that_begins_a_candidate_counts() {
        let cands: Vec<String> = ["not settled", "blocked", "done"]
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect();
        let answer = [
            sure("{\"answer\":\""),
            at(
                "blocked",
                &[
                    ("blocked", -0.7),
                    ("not", -0.9),
                    ("n", -4.0),
                    ("done", -2.1),
                    ("bl", -5.0),
                ],
            ),
        ];
        let s = candidate_scores(&cands, &answer).unwrap();
        assert!(close(&s, &[-0.9, -0.7, -2.1]), "{s:?}");
    }

    #[test]
    fn a_candidate_missing_from_the_list_gets_the_floor() {
        let cands: Vec<String> = ["yes", "no", "maybe"]
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect();
        let answer = [
            sure("{\"answer\":\""),
            at("yes", &[("yes", -0.1), ("no", -2.5), ("Yes", -4.0)]),
        ];
        let s = candidate_scores(&cands, &answer).unwrap();
        assert!(close(&s[..2], &[-0.1, -2.5]), "{s:?}");
        assert!((s[2] - (-4.0 - MISSING_MARGIN)).abs() < 1e-9, "{s:?}");
        // With only the chosen token listed, the floor is the probability it leaves over.
        let answer = [sure("{\"answer\":\""), at("no", &[("no", -0.01)])];
        let s = candidate_scores(&yes_no(), &answer).unwrap();
        let rest = (1.0 - (-0.01f64).exp()).ln();
        assert!(close(&s, &[rest, -0.01]), "{s:?}");
        assert!(s[0] < -4.0);
    }

    #[test]
    fn unrankable_answers_say_why() {
        let c = yes_no();
        assert_eq!(candidate_scores(&c, &[]), Err(Unranked::NoLogprobs));
        let one = vec![c[0].clone()];
        let p = [sure("{\"answer\":\""), sure("yes")];
        assert_eq!(candidate_scores(&one, &p), Err(Unranked::TooFewCandidates));
        let same = vec![c[0].clone(), c[0].clone()];
        assert_eq!(candidate_scores(&same, &p), Err(Unranked::Indistinct));
        // The text leaves the shared start.
        let off = [sure("{\"reason\":\"")];
        assert_eq!(candidate_scores(&c, &off), Err(Unranked::OffCandidates));
        // The text reaches the divergence point with an answer that is neither.
        let neither = [
            sure("{\"answer\":\""),
            at("maybe", &[("maybe", -0.3), ("yes", -1.0)]),
        ];
        assert_eq!(candidate_scores(&c, &neither), Err(Unranked::OffCandidates));
        // Cut off before the answers part ways.
        let short = [sure("{\"answer\"")];
        assert_eq!(candidate_scores(&c, &short), Err(Unranked::Unfinished));
        // Two of three answers begin with the same token.
        let shared: Vec<String> = ["no way", "not settled", "blocked"]
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect();
        let p = [sure("{\"answer\":\""), at("no", &[("no", -0.1)])];
        assert_eq!(
            candidate_scores(&shared, &p),
            Err(Unranked::SharedFirstToken)
        );
    }

    #[test]
    fn text_all_candidates_share_is_walked_even_past_the_opening_quote() {
        // Both answers begin with "no": they part ways at the token after it.
        let cands: Vec<String> = ["no way", "not settled"]
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect();
        let p = [
            sure("{\"answer\":\""),
            sure("no"),
            at("t", &[("t", -0.5), (" way", -1.0), (" ", -3.0)]),
        ];
        let s = candidate_scores(&cands, &p).unwrap();
        assert!(close(&s, &[-1.0, -0.5]), "{s:?}");
    }

    #[test]
    fn parses_llama_cpp_and_openai_shapes_tolerantly() {
        // llama-cpp-python: `bytes` null; OpenAI: `bytes` given (here a token that is half of
        // a two-byte character, which its text cannot show).
        let choice = json!({"logprobs": {"content": [
            {"token": "{\"", "logprob": -0.01, "bytes": null,
             "top_logprobs": [{"token": "{\"", "logprob": -0.01, "bytes": null},
                              {"token": "{", "logprob": null}]},
            {"token": "\u{fffd}", "logprob": -1.5, "bytes": [195],
             "top_logprobs": []},
            {"token": "x", "logprob": -0.3}
        ], "refusal": null}});
        let p = parse_logprobs(&choice).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0].top.len(),
            1,
            "a listed token without logprob is dropped"
        );
        assert_eq!(p[1].chosen.bytes, vec![195]);
        assert!(p[2].top.is_empty());
        assert_eq!(parse_logprobs(&json!({"logprobs": null})), None);
        assert_eq!(
            parse_logprobs(&json!({"logprobs": {"content": null}})),
            None
        );
        assert_eq!(parse_logprobs(&json!({"logprobs": {"content": []}})), None);
        assert_eq!(parse_logprobs(&json!({})), None);
    }

    #[test]
    fn candidates_that_are_not_json_are_matched_as_written() {
        let cands = vec!["A) yes".to_string(), "B) no".to_string()];
        let p = [at("A", &[("A", -0.3), ("B", -1.4), (" A", -2.0)])];
        let s = candidate_scores(&cands, &p).unwrap();
        assert!(close(&s, &[-0.3, -1.4]), "{s:?}");
    }
}
