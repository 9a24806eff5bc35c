//! `resources:`: CPU, memory, shared memory, GPU and disk wanted by a job or
//! offered by a fleet (spec §3.2).

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml};
use crate::diag::Diagnostic;
use crate::grammar::{CpuSpec, DiskSpec, GpuSpec, Memory, Range};
use crate::yaml::Node;

/// Resources as written; unset parts take defaults at normalisation.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
pub struct Resources {
    /// CPUs.
    pub cpu: Option<CpuSpec>,
    /// Memory.
    pub memory: Option<Range<Memory>>,
    /// Shared memory of the container (`/dev/shm`).
    pub shm_size: Option<Memory>,
    /// GPUs.
    pub gpu: Option<GpuSpec>,
    /// Disk.
    pub disk: Option<DiskSpec>,
}

/// GPU counts no machine offers; a larger count is almost surely a GPU model
/// number read as a count (`gpu: 3090`).
const LARGEST_GPU_COUNT: u32 = 16;

impl FromYaml for Resources {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "resources",
            &["cpu", "memory", "shm_size", "gpu", "disk"],
        )?;
        let resources = Resources {
            cpu: f.opt(cx, "cpu"),
            memory: f.opt(cx, "memory"),
            shm_size: f.opt(cx, "shm_size"),
            gpu: f.opt(cx, "gpu"),
            disk: f.opt(cx, "disk"),
        };
        if let (Some(gpu), Some(gpu_node)) = (&resources.gpu, f.value("gpu"))
            && gpu.count.min.is_some_and(|n| n > LARGEST_GPU_COUNT)
        {
            cx.push(
                Diagnostic::warning(
                    "dstack::config::suspicious_gpu_count",
                    format!(
                        "`gpu: {}` asks for {} GPUs",
                        cx.file().slice(gpu_node.span),
                        gpu.count
                    ),
                )
                .at(gpu_node.span, "read as a GPU count")
                .help(
                    "a digits-only part is a count; for a GPU model write its name, e.g. `RTX3090`",
                ),
            );
        }
        Some(resources)
    }
}
