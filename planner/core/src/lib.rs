//! The heart of dstack-rs: configurations become desired resources, a
//! dependency graph, a diff against recorded state, and a costed plan.
//! Carrying a plan out (`apply`) is `dstack-engine`'s.
//!
//! Pure and synchronous: no tokio, no provider calls (`desired`, `graph`,
//! `diff`, `rules`, `cost`, `placement`, `plan`, `render`).

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
pub mod recorded;
pub mod recover;
pub mod render;
pub mod requirements;
pub mod rules;
pub mod saved;
