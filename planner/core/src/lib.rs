//! The heart of dstack-rs: configurations become desired resources, a
//! dependency graph, a diff against recorded state, and a costed plan;
//! `apply` then carries a plan out through providers and the job runtime.
//!
//! Pure in the middle (`desired`, `graph`, `diff`, `rules`, `cost`,
//! `placement`, `plan`, `render`); effects only in `apply`.

pub mod apply;
pub mod cost;
pub mod desired;
pub mod diff;
pub mod fingerprint;
pub mod graph;
pub mod market;
pub mod naming;
pub mod normalize;
pub mod placement;
pub mod plan;
pub mod recover;
pub mod render;
pub mod requirements;
pub mod rules;
pub mod saved;
pub mod testing;
