//! End-to-end tests of the `dstack` binary and its data: the corpus, golden
//! diagnostics, examples, generated schemas. One test binary, many modules
//! (each integration binary links the world).

mod apply;
mod architecture;
mod attach_logs;
#[cfg(feature = "aws")]
mod aws;
mod code_shape;
mod confirm;
mod corpus;
mod crash;
mod diagnostics;
mod examples;
mod flags;
mod harness;
mod inspect;
mod jobs;
mod logs;
mod mounts;
mod naming;
mod offer;
mod output;
mod overrides;
mod plan_cases;
mod ports;
mod schemas;
mod secrets;
mod special_files;
mod state_file;
mod status;
mod stop;
mod volumes;
mod workflows;
