//! `type: volume` (spec §2.6): network volumes, created or registered.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml};
use super::enums::BackendType;
use crate::diag::Diagnostic;
use crate::grammar::{IdleDuration, Memory, ResourceName};
use crate::yaml::Node;
use std::collections::BTreeMap;

/// Backends that have volumes: dstack's four plus our `local`.
pub const VOLUME_BACKENDS: &[BackendType] = &[
    BackendType::Local,
    BackendType::Aws,
    BackendType::Gcp,
    BackendType::Runpod,
    BackendType::Kubernetes,
];

/// A network volume.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VolumeConfig {
    /// Volume name.
    pub name: Option<ResourceName>,
    /// Backend holding the volume.
    pub backend: BackendType,
    /// Region (required except for `kubernetes` and `local`).
    #[serde(default)]
    #[schemars(schema_with = "super::json::string_or_number")]
    pub region: Option<String>,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// Size (required unless an existing volume is registered).
    pub size: Option<Memory>,
    /// Existing volume to register (never deleted by dstack).
    pub volume_id: Option<String>,
    /// Existing Kubernetes PVC.
    pub claim_name: Option<String>,
    /// Kubernetes storage class.
    pub storage_class_name: Option<String>,
    /// Kubernetes access modes.
    pub access_modes: Option<Vec<String>>,
    /// Kubernetes read-only mount.
    pub read_only: Option<bool>,
    /// Delete after unused this long.
    pub auto_cleanup_duration: Option<IdleDuration>,
    /// Tags for the cloud volume.
    pub tags: Option<BTreeMap<String, String>>,
}

impl VolumeConfig {
    /// True when the volume exists outside dstack (registered, not created).
    pub fn is_external(&self) -> bool {
        self.volume_id.is_some() || self.claim_name.is_some()
    }
}

impl FromYaml for VolumeConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "volume",
            &[
                "type",
                "name",
                "backend",
                "region",
                "availability_zone",
                "size",
                "volume_id",
                "claim_name",
                "storage_class_name",
                "access_modes",
                "read_only",
                "auto_cleanup_duration",
                "tags",
            ],
        )?;
        let backend = read_volume_backend(&f, cx);
        let volume = VolumeConfig {
            name: f.opt(cx, "name"),
            backend: backend.unwrap_or(BackendType::Local),
            region: f
                .opt::<super::convert::LooseString>(cx, "region")
                .map(|s| s.0),
            availability_zone: f.opt(cx, "availability_zone"),
            size: f.opt(cx, "size"),
            volume_id: f.opt(cx, "volume_id"),
            claim_name: f.opt(cx, "claim_name"),
            storage_class_name: f.opt(cx, "storage_class_name"),
            access_modes: f.opt(cx, "access_modes"),
            read_only: f.opt(cx, "read_only"),
            auto_cleanup_duration: f.opt(cx, "auto_cleanup_duration"),
            tags: f.opt(cx, "tags"),
        };
        volume.check(&f, cx);
        backend.map(|_| volume)
    }
}

/// `backend:` (required), one of the backends that have volumes.
fn read_volume_backend(f: &Fields, cx: &mut Cx) -> Option<BackendType> {
    let backend: Option<BackendType> = f.req(cx, "backend");
    if let Some(b) = backend
        && !VOLUME_BACKENDS.contains(&b)
    {
        cx.push(
            Diagnostic::error(
                "dstack::config::unsupported_backend",
                format!("volumes are not supported for the `{b}` backend"),
            )
            .at(
                f.value("backend").map_or(f.node().span, |n| n.span),
                "no volumes here",
            )
            .help("volume backends: local, aws, gcp, runpod, kubernetes"),
        );
    }
    backend
}

impl VolumeConfig {
    /// Region and size where needed, Kubernetes-only fields only there,
    /// no cleanup of external volumes.
    fn check(&self, f: &Fields, cx: &mut Cx) {
        let kube = self.backend == BackendType::Kubernetes;
        let needs_region = !kube && self.backend != BackendType::Local;
        if needs_region && self.region.is_none() && !f.has("region") {
            cx.push(f.missing("region"));
        }
        if self.size.is_none() && !self.is_external() && !f.has("size") {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_field",
                    "a volume needs `size`, or an existing `volume_id` to register",
                )
                .at(f.key_span("type"), "no size")
                .help("add e.g. `size: 100GB`"),
            );
        }
        for key in [
            "claim_name",
            "storage_class_name",
            "access_modes",
            "read_only",
        ] {
            if !kube && f.has(key) {
                super::run::forbid(f, cx, key, "only Kubernetes volumes take it");
            }
        }
        if kube && f.has("volume_id") {
            super::run::forbid(f, cx, "volume_id", "Kubernetes volumes use `claim_name`");
        }
        if self.is_external() && matches!(self.auto_cleanup_duration, Some(IdleDuration::After(_)))
        {
            cx.push(
            Diagnostic::error("dstack::config::conflicting_fields", "external volumes are never deleted by dstack, so `auto_cleanup_duration` cannot be set")
                .at(f.key_span("auto_cleanup_duration"), "here"),
        );
        }
    }
}
