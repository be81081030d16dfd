//! The GHL custom field that mirrors a person's Club OS user id (`ghl.link_field`),
//! resolved from its configured id or key once and shared by readers and writers.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::GhlClient;
use crate::upstream::UpstreamError;

/// The link custom field of the location. Cheap to clone: clones share the resolved id.
#[derive(Debug, Clone)]
pub struct LinkField {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ghl: GhlClient,
    /// The configured id or key.
    name: String,
    id: OnceCell<Option<String>>,
}

impl LinkField {
    /// The field named `name` (its id or its key) of `ghl`'s location.
    pub fn new(ghl: GhlClient, name: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                ghl,
                name: name.to_owned(),
                id: OnceCell::new(),
            }),
        }
    }

    /// The field's id, resolved from the location's custom fields on first use. `None`
    /// when the location has no such field. A failure is not remembered: the next call
    /// asks again.
    pub async fn id(&self) -> Result<Option<&str>, UpstreamError> {
        let inner = &self.inner;
        let id = inner
            .id
            .get_or_try_init(|| async {
                let fields = inner.ghl.custom_fields().await?;
                Ok::<_, UpstreamError>(
                    fields
                        .into_iter()
                        .find(|f| f.id == inner.name || f.field_key == inner.name)
                        .map(|f| f.id),
                )
            })
            .await?;
        Ok(id.as_deref())
    }

    /// Resolves the id in the background, so that the first request does not wait for
    /// it. A failure is left for that request to retry and report.
    pub fn resolve_early(&self) {
        let field = self.clone();
        tokio::spawn(async move {
            let _ = field.id().await;
        });
    }
}
