//! Visits of the demo form that vary as real ones do: the generator lives
//! in `doorstep-synthetic`, shared with `doorstep bench push`, so that the
//! tests and the benchmark measure bytes on the same data.

pub use doorstep_synthetic::{Draw, answers, note, photo, visit_answers};
