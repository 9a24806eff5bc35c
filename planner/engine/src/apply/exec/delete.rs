//! Deleting what a provider holds (instances, volumes, gateways): the
//! provider call inside an intent, then the state row. Ids are read through
//! the provider's [`canonical_id`](dstack_provider::Provider::canonical_id),
//! so ids recorded in an older form still name the resource. A delete that
//! finds nothing there says so; it is never reported as a deletion.

use dstack_schemas::addr::ResourceKind;
use dstack_state::{Expected, IntentOutcome};

use super::super::{Done, StepError, with_retries};
use super::Exec;

/// What the provider side of a delete found.
enum Found {
    /// The resource was there and is deleted.
    Deleted,
    /// Nothing was there to delete.
    NothingThere,
    /// Not ours to delete (an external volume): only forgotten.
    External,
}

impl Exec<'_> {
    pub(super) async fn delete_cloud(&self, kind: ResourceKind) -> Result<Done, StepError> {
        let recorded = self.ctx.state.get(self.address())?;
        let (Some(provider_name), Some(id)) = (
            recorded
                .as_ref()
                .and_then(|r| r.provider.clone())
                .or(self.change.provider.clone()),
            recorded
                .as_ref()
                .and_then(|r| r.provider_id.clone())
                .or(self.change.provider_id.clone()),
        ) else {
            return self.forget().await.map(Done::from);
        };
        let id = match self.ctx.providers.get(&provider_name) {
            Some(provider) => provider.canonical_id(kind, &id),
            None => id,
        };
        let external = recorded
            .as_ref()
            .is_some_and(|r| r.volume_data().external == Some(true));
        let (found, intent) = if external {
            (Found::External, None)
        } else {
            self.delete_at(&provider_name, kind, &id).await?
        };
        let expected = recorded.map_or(Expected::Any, |r| Expected::Version(r.version));
        // The row goes and the intent closes in one write.
        let removed = super::blocking(|| match &intent {
            Some((intent, detail)) => {
                self.ctx
                    .state
                    .remove_and_close(self.address(), expected, *intent, Some(detail))
            }
            None => self.ctx.state.remove(self.address(), expected),
        });
        if let Err(e) = removed {
            return Err(match found {
                Found::Deleted => {
                    StepError::state(format!("deleted {id} but the state write failed: {e}"))
                }
                _ => StepError::state(format!("state write failed: {e}")),
            });
        }
        Ok(match found {
            Found::Deleted => Done::from(format!("id={id}")),
            Found::External => Done::from(format!("id={id} (external: forgotten, not deleted)")),
            Found::NothingThere => Done {
                detail: format!("nothing was at {id}; its state record is removed"),
                already_gone: true,
            },
        })
    }

    /// The provider call; what it found, and its still open intent with the
    /// detail to close it with once the row is removed. A volume is looked
    /// up first: it holds data, and a delete that removed nothing must not
    /// pass for one that did.
    async fn delete_at(
        &self,
        provider_name: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<(Found, Option<(i64, String)>), StepError> {
        let provider = self.provider(provider_name)?;
        if kind == ResourceKind::Volume && matches!(provider.get(kind, id).await, Ok(None)) {
            return Ok((Found::NothingThere, None));
        }
        let intent = self.begin("delete", Some(provider_name))?;
        let result = with_retries(self.ctx, self.address(), || async {
            match kind {
                ResourceKind::Volume => provider.delete_volume(id).await,
                ResourceKind::Gateway => provider.delete_gateway(id).await,
                _ => provider.delete_instance(id).await,
            }
        })
        .await;
        match result {
            Ok(()) => Ok((Found::Deleted, Some((intent, id.to_string())))),
            Err(e) if e.kind == dstack_provider::ErrorKind::NotFound => {
                Ok((Found::NothingThere, Some((intent, "already gone".into()))))
            }
            Err(e) => {
                self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                Err(e.into())
            }
        }
    }
}
