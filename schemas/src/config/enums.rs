//! Closed sets of words used in configurations (`spot_policy: auto`,
//! `placement: cluster`, backend names, ...), each with its YAML spelling.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

use super::convert::{Cx, FromYaml, choice};
use crate::yaml::Node;

/// Declares an enum of YAML words with parsing, printing and a JSON Schema.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every spelling, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($text),+];

            /// The YAML spelling.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Recognises the YAML spelling.
            pub fn from_word(word: &str) -> Option<Self> {
                match word {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromYaml for $name {
            fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
                choice(node, cx, $what, Self::WORDS).and_then(Self::from_word)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "enum": Self::WORDS, "description": $what })
            }
        }
    };
}

word_enum!(
    /// Whether to use spot (interruptible) instances.
    SpotPolicy, "spot policy", {
        /// Spot only.
        Spot => "spot",
        /// On-demand only (the default).
        OnDemand => "on-demand",
        /// Spot first, then on-demand.
        Auto => "auto",
    }
);

word_enum!(
    /// Whether a run may provision new instances.
    CreationPolicy, "creation policy", {
        /// Only existing instances.
        Reuse => "reuse",
        /// Existing instances, else provision (the default).
        ReuseOrCreate => "reuse-or-create",
    }
);

word_enum!(
    /// Start order of multi-node jobs.
    StartupOrder, "startup order", {
        /// No order.
        Any => "any",
        /// Job 0 first.
        MasterFirst => "master-first",
        /// Workers first.
        WorkersFirst => "workers-first",
    }
);

word_enum!(
    /// When a multi-node run counts as finished.
    StopCriteria, "stop criteria", {
        /// When every job is done.
        AllDone => "all-done",
        /// When job 0 is done.
        MasterDone => "master-done",
    }
);

word_enum!(
    /// Fleet instance placement.
    Placement, "placement", {
        /// Anywhere.
        Any => "any",
        /// Interconnected, same backend and region.
        Cluster => "cluster",
    }
);

word_enum!(
    /// IDE of a dev environment.
    Ide, "IDE", {
        /// Visual Studio Code.
        Vscode => "vscode",
        /// Cursor.
        Cursor => "cursor",
        /// Windsurf.
        Windsurf => "windsurf",
        /// Zed.
        Zed => "zed",
    }
);

word_enum!(
    /// Events that trigger a retry.
    RetryEvent, "retry event", {
        /// No offer could be provisioned.
        NoCapacity => "no-capacity",
        /// A spot instance was interrupted.
        Interruption => "interruption",
        /// The job failed.
        Error => "error",
    }
);

word_enum!(
    /// Job shell.
    Shell, "shell", {
        /// `/bin/sh`.
        Sh => "sh",
        /// `/bin/bash`.
        Bash => "bash",
    }
);

word_enum!(
    /// Where instances, volumes and gateways come from. `local` (this machine)
    /// is ours; the rest are dstack's backends.
    BackendType, "backend", {
        /// This machine (dstack-rs only).
        Local => "local",
        /// AMD Developer Cloud.
        Amddevcloud => "amddevcloud",
        /// Amazon Web Services.
        Aws => "aws",
        /// Microsoft Azure.
        Azure => "azure",
        /// CloudRift.
        Cloudrift => "cloudrift",
        /// Crusoe.
        Crusoe => "crusoe",
        /// Cudo.
        Cudo => "cudo",
        /// DataCrunch (alias of Verda).
        Datacrunch => "datacrunch",
        /// DigitalOcean.
        Digitalocean => "digitalocean",
        /// dstack Sky.
        Dstack => "dstack",
        /// Google Cloud.
        Gcp => "gcp",
        /// Hot Aisle.
        Hotaisle => "hotaisle",
        /// Jarvis Labs.
        Jarvislabs => "jarvislabs",
        /// Kubernetes.
        Kubernetes => "kubernetes",
        /// Lambda.
        Lambda => "lambda",
        /// SSH fleets.
        Remote => "remote",
        /// Nebius.
        Nebius => "nebius",
        /// Oracle Cloud.
        Oci => "oci",
        /// RunPod.
        Runpod => "runpod",
        /// TensorDock.
        Tensordock => "tensordock",
        /// Vast.ai.
        Vastai => "vastai",
        /// Verda.
        Verda => "verda",
        /// Vultr.
        Vultr => "vultr",
        /// Slurm.
        Slurm => "slurm",
    }
);

word_enum!(
    /// Autoscaling metric.
    ScalingMetric, "scaling metric", {
        /// Requests per second.
        Rps => "rps",
    }
);

word_enum!(
    /// HTTP method of a probe.
    ProbeMethod, "HTTP method", {
        /// GET.
        Get => "get",
        /// POST.
        Post => "post",
        /// PUT.
        Put => "put",
        /// DELETE.
        Delete => "delete",
        /// PATCH.
        Patch => "patch",
        /// HEAD.
        Head => "head",
    }
);

word_enum!(
    /// What a repo does when its path already exists.
    IfExists, "if_exists policy", {
        /// Fail.
        Error => "error",
        /// Leave it.
        Skip => "skip",
    }
);

word_enum!(
    /// Service router type of a replica group.
    RouterType, "router type", {
        /// SGLang router.
        Sglang => "sglang",
        /// NVIDIA Dynamo.
        Dynamo => "dynamo",
    }
);
