//! A run's spending limit: tokens, or money at the prices the config gives per model. Every
//! model call that reaches a backend is charged (cache hits are free); once the limit is reached
//! the next call is refused with [`LlmError::BudgetSpent`], which stops a run the way a refused
//! config does: finished conversations are kept and `--resume` picks up the rest.

use crate::{LlmError, Usage};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a model's tokens cost, in the config's currency per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Price {
    pub prompt_per_mtok: f64,
    pub completion_per_mtok: f64,
}

impl Price {
    pub fn of(&self, usage: &Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.prompt_per_mtok
            + usage.completion_tokens as f64 * self.completion_per_mtok)
            / 1e6
    }
}

/// Cost is kept in billionths, so it adds up atomically.
const NANO: f64 = 1e9;

/// A limit shared by every model of a run.
#[derive(Debug, Default)]
pub struct Budget {
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
    tokens: AtomicU64,
    cost_nano: AtomicU64,
}

impl Budget {
    /// A budget of at most `max_tokens` (prompt and completion together) and at most `max_cost`.
    pub fn new(max_tokens: Option<u64>, max_cost: Option<f64>) -> Budget {
        Budget {
            max_tokens,
            max_cost,
            ..Budget::default()
        }
    }

    /// Whether it limits anything.
    pub fn limits(&self) -> bool {
        self.max_tokens.is_some() || self.max_cost.is_some()
    }

    /// Whether a money limit is set (then every model needs a price).
    pub fn limits_cost(&self) -> bool {
        self.max_cost.is_some()
    }

    /// Counts what was spent before (a resumed run's earlier calls).
    pub fn preload(&self, tokens: u64, cost: f64) {
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
        self.cost_nano
            .fetch_add((cost.max(0.0) * NANO) as u64, Ordering::Relaxed);
    }

    /// Charges one call.
    pub fn charge(&self, usage: &Usage, price: Option<Price>) {
        self.tokens.fetch_add(
            usage.prompt_tokens + usage.completion_tokens,
            Ordering::Relaxed,
        );
        if let Some(p) = price {
            self.cost_nano
                .fetch_add((p.of(usage).max(0.0) * NANO) as u64, Ordering::Relaxed);
        }
    }

    /// Tokens and cost spent so far.
    pub fn spent(&self) -> (u64, f64) {
        (
            self.tokens.load(Ordering::Relaxed),
            self.cost_nano.load(Ordering::Relaxed) as f64 / NANO,
        )
    }

    /// `Ok` while there is budget left for another call.
    pub fn check(&self) -> Result<(), LlmError> {
        let (tokens, cost) = self.spent();
        let over = match (self.max_tokens, self.max_cost) {
            (Some(max), _) if tokens >= max => Some(format!("{tokens} of {max} tokens")),
            (_, Some(max)) if cost >= max => Some(format!("{cost:.4} of {max} (cost)")),
            _ => None,
        };
        match over {
            None => Ok(()),
            Some(what) => Err(LlmError::BudgetSpent {
                detail: format!("{what} spent"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(p: u64, c: u64) -> Usage {
        Usage {
            prompt_tokens: p,
            completion_tokens: c,
            reasoning_tokens: 0,
        }
    }

    #[test]
    fn tokens_and_cost_run_out() {
        let b = Budget::new(Some(100), None);
        assert!(b.check().is_ok());
        b.charge(&usage(60, 30), None);
        assert!(b.check().is_ok());
        b.charge(&usage(5, 5), None);
        let e = b.check().unwrap_err();
        assert_eq!(e.kind(), "budget");
        assert!(e.to_string().contains("100 of 100 tokens"), "{e}");
        assert!(e.stops_the_run());

        let price = Price {
            prompt_per_mtok: 1.0,
            completion_per_mtok: 4.0,
        };
        let b = Budget::new(None, Some(0.01));
        b.charge(&usage(2_000, 1_000), Some(price));
        assert!((b.spent().1 - 0.006).abs() < 1e-9);
        assert!(b.check().is_ok());
        b.preload(0, 0.005);
        assert!(b.check().is_err());
    }
}
