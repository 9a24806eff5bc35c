//! The `local` backend: this machine is the one instance of the built-in
//! `local` fleet (its offer is what [`detect_machine`] finds, at $0), and
//! volumes are directories under `.dstack/volumes/`. Jobs run through the
//! runner, not through this provider.
//!
//! A volume's id is the absolute path of its directory, so it means the same
//! from any working directory. Ids recorded before that were relative
//! (`./.dstack/volumes/NAME`, `examples/.dstack/volumes/NAME`): they are read
//! as the directory of that name in this project's volumes directory.

mod machine;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use dstack_provider::{
    ErrorKind, InstanceRequest, Provider, ProviderError, ResourceInfo, ResourceStatus,
    VolumeRequest,
};
use dstack_schemas::addr::ResourceKind;
use dstack_schemas::grammar::Memory;
use dstack_schemas::offer::Offer;

pub use machine::{MachineOverride, detect_machine};

/// Name of the marker file written into each volume directory.
const MARKER: &str = ".dstack-volume.json";

/// The local backend.
pub struct LocalProvider {
    volumes_dir: PathBuf,
}

impl LocalProvider {
    /// Volumes live under `volumes_dir` (usually `<project>/.dstack/volumes`;
    /// made absolute against the current directory once, here).
    pub fn new(volumes_dir: impl AsRef<Path>) -> Self {
        let dir = volumes_dir.as_ref();
        Self {
            volumes_dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
        }
    }

    /// The directory a volume id names. Absolute ids are paths; a relative
    /// id ending in `.dstack/volumes/NAME` (as recorded by older versions,
    /// relative to whatever directory they ran in) is volume NAME of this
    /// project; any other relative id is a path within the project.
    pub fn volume_dir(&self, provider_id: &str) -> PathBuf {
        let path = Path::new(provider_id);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let parts: Vec<&std::ffi::OsStr> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(p) => Some(p),
                _ => None,
            })
            .collect();
        match parts.as_slice() {
            [.., dot, volumes, name] if *dot == ".dstack" && *volumes == "volumes" => {
                self.volumes_dir.join(name)
            }
            _ => self.project_dir().join(path),
        }
    }

    /// The project directory (`volumes_dir` is `<project>/.dstack/volumes`).
    fn project_dir(&self) -> &Path {
        self.volumes_dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.volumes_dir)
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(kind, "local", message)
    }

    fn volume_info(&self, dir: &Path) -> Option<ResourceInfo> {
        let marker = std::fs::read_to_string(dir.join(MARKER)).ok()?;
        let meta: serde_json::Value = serde_json::from_str(&marker).ok()?;
        let tags: BTreeMap<String, String> =
            serde_json::from_value(meta.get("tags")?.clone()).ok()?;
        let path = dir.display().to_string();
        Some(ResourceInfo {
            kind: ResourceKind::Volume,
            provider_id: path.clone(),
            status: ResourceStatus::Running,
            tags,
            region: Some("local".into()),
            offer: None,
            price: None,
            data: serde_json::json!({
                "path": path,
                "mount_source": path,
                "size_gb": meta.get("size_gb"),
            }),
            runner: None,
        })
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn canonical_id(&self, kind: ResourceKind, provider_id: &str) -> String {
        match kind {
            ResourceKind::Volume => self.volume_dir(provider_id).display().to_string(),
            _ => provider_id.to_string(),
        }
    }

    async fn offers(&self) -> Result<Vec<Offer>, ProviderError> {
        // This machine is offered as the `local` fleet's instance, not for sale.
        Ok(Vec::new())
    }

    async fn create_instance(
        &self,
        request: &InstanceRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        Err(self.error(
            ErrorKind::Unsupported,
            format!("{} cannot be created: the local backend has exactly one machine, this one (fleet/local)", request.address),
        ))
    }

    async fn delete_instance(&self, _provider_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create_volume(&self, request: &VolumeRequest) -> Result<ResourceInfo, ProviderError> {
        let dir = self.volumes_dir.join(request.address.name());
        if let Some(existing) = self.volume_info(&dir)
            && (existing.token() == Some(request.token.as_str())
                || existing.address() == Some(request.address.clone()))
        {
            return Ok(existing);
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            self.error(
                ErrorKind::Other,
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        let meta = serde_json::json!({ "tags": request.tags, "size_gb": request.size.gb() });
        std::fs::write(dir.join(MARKER), meta.to_string()).map_err(|e| {
            self.error(
                ErrorKind::Other,
                format!("cannot write {}: {e}", dir.display()),
            )
        })?;
        self.volume_info(&dir)
            .ok_or_else(|| self.error(ErrorKind::Other, "volume marker unreadable after writing"))
    }

    async fn resize_volume(
        &self,
        provider_id: &str,
        size: Memory,
    ) -> Result<ResourceInfo, ProviderError> {
        let dir = self.volume_dir(provider_id);
        let mut info = self.volume_info(&dir).ok_or_else(|| {
            self.error(ErrorKind::NotFound, format!("no volume at {provider_id}"))
        })?;
        let meta = serde_json::json!({ "tags": info.tags, "size_gb": size.gb() });
        std::fs::write(dir.join(MARKER), meta.to_string())
            .map_err(|e| self.error(ErrorKind::Other, e.to_string()))?;
        info.data["size_gb"] = serde_json::json!(size.gb());
        Ok(info)
    }

    async fn delete_volume(&self, provider_id: &str) -> Result<(), ProviderError> {
        let dir = self.volume_dir(provider_id);
        if !dir.join(MARKER).exists() {
            return Ok(());
        }
        std::fs::remove_dir_all(&dir).map_err(|e| {
            self.error(
                ErrorKind::Other,
                format!("cannot delete {}: {e}", dir.display()),
            )
        })
    }

    async fn attach_volume(
        &self,
        _volume_id: &str,
        _instance_id: &str,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn detach_volume(
        &self,
        _volume_id: &str,
        _instance_id: &str,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn get(
        &self,
        kind: ResourceKind,
        provider_id: &str,
    ) -> Result<Option<ResourceInfo>, ProviderError> {
        Ok(match kind {
            ResourceKind::Volume => self.volume_info(&self.volume_dir(provider_id)),
            _ => None,
        })
    }

    async fn list_owned(&self) -> Result<Vec<ResourceInfo>, ProviderError> {
        let Ok(entries) = std::fs::read_dir(&self.volumes_dir) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<ResourceInfo> = entries
            .flatten()
            .filter_map(|e| self.volume_info(&e.path()))
            .collect();
        out.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn volumes_are_directories_and_idempotent() {
        let dir = std::env::temp_dir().join(format!("dstack-local-{}", std::process::id()));
        let provider = LocalProvider::new(&dir);
        let scope = dstack_provider::testing::Scope {
            offer: detect_machine(&MachineOverride::default()),
            volume_region: None,
            lineage: "l".into(),
        };
        // Instances: the local backend refuses to create any.
        let address = "fleet/x/instance/0".parse().expect("address");
        let request = InstanceRequest {
            address,
            token: "t".into(),
            offer: scope.offer.clone(),
            disk: None,
            tags: BTreeMap::new(),
            user_data: None,
        };
        assert_eq!(
            provider
                .create_instance(&request)
                .await
                .expect_err("refused")
                .kind,
            ErrorKind::Unsupported
        );
        let vaddr: dstack_schemas::addr::ResourceAddr = "volume/cache".parse().expect("address");
        let vreq = VolumeRequest {
            address: vaddr.clone(),
            token: "tok".into(),
            region: "local".into(),
            availability_zone: None,
            size: Memory::from_gb(1),
            tags: dstack_provider::ownership_tags("p", "l", &vaddr, "tok", &BTreeMap::new()),
        };
        let a = provider.create_volume(&vreq).await.expect("create");
        let b = provider.create_volume(&vreq).await.expect("create again");
        assert_eq!(a.provider_id, b.provider_id);
        assert_eq!(provider.list_owned().await.expect("list").len(), 1);
        provider
            .delete_volume(&a.provider_id)
            .await
            .expect("delete");
        provider
            .delete_volume(&a.provider_id)
            .await
            .expect("delete again");
        assert!(provider.list_owned().await.expect("list").is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn volume_ids_are_absolute_and_old_relative_ids_name_this_projects_volumes() {
        let provider = LocalProvider::new("/srv/proj/.dstack/volumes");
        let cases = [
            (
                "/srv/proj/.dstack/volumes/data",
                "/srv/proj/.dstack/volumes/data",
            ),
            ("/elsewhere/vol", "/elsewhere/vol"),
            ("./.dstack/volumes/data", "/srv/proj/.dstack/volumes/data"),
            (".dstack/volumes/data", "/srv/proj/.dstack/volumes/data"),
            (
                "examples/.dstack/volumes/data",
                "/srv/proj/.dstack/volumes/data",
            ),
            ("mnt/cache", "/srv/proj/mnt/cache"),
        ];
        for (id, dir) in cases {
            assert_eq!(provider.volume_dir(id), PathBuf::from(dir), "{id}");
            assert_eq!(provider.canonical_id(ResourceKind::Volume, id), dir, "{id}");
        }
        assert_eq!(
            provider.canonical_id(ResourceKind::Instance, "./x"),
            "./x",
            "only volume ids are paths"
        );
        let relative = LocalProvider::new(".dstack/volumes");
        assert!(relative.volume_dir("data").is_absolute());
    }
}
