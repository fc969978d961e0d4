//! The servers' memories — tracked states, states computed from contexts, goals read from
//! harness prompts, decompositions — each bounded by bytes, least recently used first out
//! (quick_cache's weighted cache). Review finding 5: they were bounded by count only, so
//! distinct 1 MB requests grew a server by 1 MB each, and decompositions were never evicted.

use crate::model::Goal;
use ugst_state::GoalState;

/// A cache whose entries weigh their approximate bytes.
pub type Memo<K, V> = quick_cache::sync::Cache<K, V, Bytes>;

/// A new memo holding at most `bytes`.
pub fn memo<K: Eq + std::hash::Hash, V: Clone + Footprint>(bytes: u64) -> Memo<K, V> {
    // The item estimate only sizes the table; the weight bound is what evicts.
    quick_cache::sync::Cache::with_weighter(1024, bytes.max(1), Bytes)
}

/// Approximate heap bytes of a remembered value (text and a fixed cost per part).
pub trait Footprint {
    fn bytes(&self) -> u64;
}

/// The per-part overhead beyond its texts: ids, statuses, vectors.
const PART_BYTES: u64 = 128;

impl Footprint for GoalState {
    fn bytes(&self) -> u64 {
        self.components
            .iter()
            .map(|c| {
                PART_BYTES
                    + (c.id.len() + c.text.len() + c.reason.len()) as u64
                    + c.changes
                        .iter()
                        .map(|ch| PART_BYTES + ch.reason.len() as u64)
                        .sum::<u64>()
            })
            .sum::<u64>()
            + PART_BYTES * (1 + self.ignored.len() as u64)
    }
}

impl Footprint for Goal {
    fn bytes(&self) -> u64 {
        PART_BYTES + (self.id.len() + self.goal.len()) as u64
    }
}

/// A value with its weight fixed when it was remembered (for values that fill in later).
#[derive(Clone)]
pub struct Weighed<V> {
    pub value: V,
    pub bytes: u64,
}

impl<V> Footprint for Weighed<V> {
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// quick_cache's weigher: an entry weighs its [`Footprint`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Bytes;

impl<K, V: Footprint> quick_cache::Weighter<K, V> for Bytes {
    fn weight(&self, _key: &K, val: &V) -> u64 {
        val.bytes().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_stays_under_its_bytes_and_keeps_the_recent() {
        let m: Memo<u32, Goal> = memo(64 * 1024);
        // 200 goals of 1 KB: 200 KB offered, 64 KB kept.
        for i in 0..200u32 {
            m.insert(i, Goal::new(format!("g{i}"), "x".repeat(1024)));
        }
        assert!(m.weight() <= 64 * 1024, "{}", m.weight());
        assert!(m.len() < 200 && m.len() > 10, "{}", m.len());
        assert!(m.get(&199).is_some(), "the newest is kept");
    }
}
