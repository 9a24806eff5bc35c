//! The conformance suite every [`Provider`] must pass: idempotent creates by
//! token, idempotent deletes, ownership tags visible in one listing sweep,
//! and `get` of unknown ids answering `None`.

use std::collections::BTreeMap;

use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::grammar::Memory;
use dstack_schemas::offer::Offer;

use crate::provider::{InstanceRequest, Provider, VolumeRequest, ownership_tags};

/// What the suite may exercise.
pub struct Scope {
    /// The offer to create an instance from.
    pub offer: Offer,
    /// Test volumes too (region to use).
    pub volume_region: Option<String>,
    /// A unique lineage so runs do not see each other's resources.
    pub lineage: String,
}

/// Runs the suite; panics naming the broken property.
pub async fn conformance(provider: &dyn Provider, scope: &Scope) {
    let address: ResourceAddr = "fleet/conformance/instance/0".parse().expect("address");
    let token = format!("{}-create-0", scope.lineage);
    let id = instance_creates_are_idempotent(provider, scope, &address, &token).await;
    listing_and_get_see_the_instance(provider, scope, &id).await;
    instance_deletes_are_idempotent(provider, &id).await;
    if let Some(region) = &scope.volume_region {
        volumes_create_and_delete_idempotently(provider, scope, region).await;
    }
}

/// Creating twice with one token makes one instance, tagged with its
/// address and token; returns its provider id.
async fn instance_creates_are_idempotent(
    provider: &dyn Provider,
    scope: &Scope,
    address: &ResourceAddr,
    token: &str,
) -> String {
    let tags = ownership_tags(
        "conformance",
        &scope.lineage,
        address,
        token,
        &BTreeMap::new(),
    );
    let request = InstanceRequest {
        address: address.clone(),
        token: token.to_string(),
        offer: scope.offer.clone(),
        disk: None,
        tags,
        user_data: None,
    };
    let first = provider
        .create_instance(&request)
        .await
        .expect("create instance");
    let second = provider
        .create_instance(&request)
        .await
        .expect("create instance again");
    assert_eq!(
        first.provider_id, second.provider_id,
        "create with the same token made a second instance"
    );
    assert_eq!(
        first.address(),
        Some(address.clone()),
        "address tag missing"
    );
    assert_eq!(first.token(), Some(token), "token tag missing");
    first.provider_id
}

/// One listing sweep shows exactly the instance of this lineage, `get`
/// finds it alive, and `get` of an unknown id answers none (or not alive).
async fn listing_and_get_see_the_instance(provider: &dyn Provider, scope: &Scope, id: &str) {
    let owned = provider.list_owned().await.expect("list owned");
    let mine: Vec<_> = owned
        .iter()
        .filter(|r| r.lineage() == Some(scope.lineage.as_str()))
        .collect();
    assert_eq!(
        mine.len(),
        1,
        "listing should show exactly our one instance: {mine:?}"
    );

    let got = provider.get(ResourceKind::Instance, id).await.expect("get");
    assert!(
        got.is_some_and(|r| r.status.is_alive()),
        "created instance not found alive"
    );
    assert!(
        provider
            .get(ResourceKind::Instance, "i-doesnotexist0")
            .await
            .expect("get unknown")
            .is_none_or(|r| !r.status.is_alive()),
        "unknown id should be None"
    );
}

/// Deleting twice succeeds, and the instance is no longer listed alive.
async fn instance_deletes_are_idempotent(provider: &dyn Provider, id: &str) {
    provider.delete_instance(id).await.expect("delete");
    provider
        .delete_instance(id)
        .await
        .expect("delete again is Ok");
    let after = provider.list_owned().await.expect("list owned");
    assert!(
        !after
            .iter()
            .any(|r| r.provider_id == id && r.status.is_alive()),
        "deleted instance still listed alive"
    );
}

/// A volume created twice with one token is one volume, and deleting it
/// twice succeeds.
async fn volumes_create_and_delete_idempotently(
    provider: &dyn Provider,
    scope: &Scope,
    region: &str,
) {
    let vaddr: ResourceAddr = "volume/conformance".parse().expect("address");
    let vtoken = format!("{}-volume", scope.lineage);
    let vreq = VolumeRequest {
        address: vaddr.clone(),
        token: vtoken.clone(),
        region: region.to_string(),
        availability_zone: None,
        size: Memory::from_gb(10),
        tags: ownership_tags(
            "conformance",
            &scope.lineage,
            &vaddr,
            &vtoken,
            &BTreeMap::new(),
        ),
    };
    let v1 = provider.create_volume(&vreq).await.expect("create volume");
    let v2 = provider
        .create_volume(&vreq)
        .await
        .expect("create volume again");
    assert_eq!(v1.provider_id, v2.provider_id, "volume created twice");
    provider
        .delete_volume(&v1.provider_id)
        .await
        .expect("delete volume");
    provider
        .delete_volume(&v1.provider_id)
        .await
        .expect("delete volume again");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FailureRule, FakeProvider};
    use crate::{ErrorKind, catalog};

    fn offer() -> Offer {
        catalog::shipped()
            .offers("aws")
            .into_iter()
            .find(|o| o.instance_type == "g5.xlarge")
            .expect("offer")
    }

    #[tokio::test]
    async fn fake_provider_conforms() {
        let fake = FakeProvider::new("fake", vec![offer()]);
        let scope = Scope {
            offer: offer(),
            volume_region: Some("us-east-1".into()),
            lineage: "lineage-a".into(),
        };
        conformance(&fake, &scope).await;
    }

    #[tokio::test]
    async fn fake_provider_with_a_file_conforms_and_persists() {
        let dir = std::env::temp_dir().join(format!("dstack-fake-{}", std::process::id()));
        let path = dir.join("cloud.json");
        let fake = FakeProvider::new("fake", vec![offer()]).with_state_file(&path);
        let scope = Scope {
            offer: offer(),
            volume_region: None,
            lineage: "lineage-b".into(),
        };
        conformance(&fake, &scope).await;
        let reopened = FakeProvider::new("fake", vec![]).with_state_file(&path);
        assert!(
            !reopened.all_resources().is_empty(),
            "resources not persisted"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn injected_failures_are_classified_and_counted() {
        let fake = FakeProvider::new("fake", vec![offer()]).with_failures(vec![FailureRule {
            operation: "create_instance".into(),
            instance_type: Some("g5.xlarge".into()),
            region: None,
            address: None,
            kind: "no-capacity".into(),
            times: Some(1),
        }]);
        let address: ResourceAddr = "fleet/f/instance/0".parse().expect("address");
        let request = InstanceRequest {
            address: address.clone(),
            token: "t".into(),
            offer: offer(),
            disk: None,
            tags: ownership_tags("p", "l", &address, "t", &BTreeMap::new()),
            user_data: None,
        };
        let err = fake
            .create_instance(&request)
            .await
            .expect_err("first call fails");
        assert_eq!(err.kind, ErrorKind::NoCapacity);
        assert!(err.to_string().contains("g5.xlarge"), "{err}");
        fake.create_instance(&request)
            .await
            .expect("second call succeeds");
        assert_eq!(fake.calls("create_instance"), 2);
    }
}
