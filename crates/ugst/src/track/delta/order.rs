//! A requirement moves with or after its objective, never before it (per turn and in the
//! closing pass alike).

use ugst_state::{GoalState, Status, SubComponent, Update};

/// Whether the objective of requirement `c` has moved: by one of `moved` (this round's
/// updates) or already before (no longer INCOMPLETE in `state`).
pub(crate) fn objective_moved(state: &GoalState, moved: &[Update], c: &SubComponent) -> bool {
    c.objective.as_deref().is_some_and(|o| {
        moved.iter().any(|u| u.id == o)
            || state.get(o).is_some_and(|o| o.status != Status::Incomplete)
    })
}
