//! What one server takes on: model calls in flight over all requests, and the size of what one
//! request may ask it to judge. Each is a named number with the default an operator gets.

/// Bounds shared by `serve reward` and `serve simulator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Model calls in flight at once over every request and role (a reward item with many open
    /// sub-components must not fan out without bound).
    pub max_model_calls: usize,
    /// Messages in one request (a conversation, or a reward item's history).
    pub max_messages: usize,
    /// Sub-components in one client-supplied state or decomposition (the decomposer writes
    /// about 5–30).
    pub max_components: usize,
    /// Bytes each of the server's memories (tracked states, decompositions, goals read from
    /// prompts) may hold; the least recently used go first.
    pub cache_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_model_calls: 16,
            max_messages: 512,
            max_components: 256,
            cache_bytes: 256 << 20,
        }
    }
}

impl Limits {
    /// A request's messages within [`Limits::max_messages`], or the 413 message saying so.
    pub fn check_messages(&self, n: usize, what: &str) -> Result<(), String> {
        (n <= self.max_messages).then_some(()).ok_or_else(|| {
            format!(
                "{what} holds {n} messages; this server takes at most {} per request (--max-messages)",
                self.max_messages
            )
        })
    }

    /// Sub-components within [`Limits::max_components`], or the 413 message saying so.
    pub fn check_components(&self, n: usize, what: &str) -> Result<(), String> {
        (n <= self.max_components).then_some(()).ok_or_else(|| {
            format!(
                "{what} holds {n} sub-components; this server takes at most {} (--max-components)",
                self.max_components
            )
        })
    }
}
