//! The checks of the small-model layer (step 4 of the module doc of `track`): the question
//! banks, asking them (ranked or written answers), and the arithmetic of their verdict.

pub(crate) mod ask;
pub(crate) mod questions;
pub(crate) mod verdict;
