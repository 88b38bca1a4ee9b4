//! A per-run cache of batch observations.
//!
//! Some resources share what they observe: the secret containers share one index of what was
//! read (each secret read directly once per command).
//! A [`RunCache`] lives as long as one command's [`crate::Context`]; the first resource that needs
//! a batch loads it, the others wait for that load and share it. A resource that changed itself
//! during apply observes itself directly afterwards (list calls lag behind writes), never from the
//! batch.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

/// Batch observations of one command, by key.
#[derive(Default)]
pub struct RunCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for RunCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .slots
            .lock()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect();
        f.debug_struct("RunCache").field("keys", &keys).finish()
    }
}

impl RunCache {
    /// The value under `key`, loaded by `load` the first time; concurrent callers wait for the
    /// one load. A failed load is not cached: the next caller tries again.
    pub async fn get_or_load<T, F, Fut>(&self, key: &str, load: F) -> crate::Result<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::Result<T>>,
    {
        let slot = self
            .slots
            .lock()
            .expect("not poisoned")
            .entry(key.to_string())
            .or_default()
            .clone();
        let value = slot
            .get_or_try_init(|| async {
                let v: Arc<dyn Any + Send + Sync> = Arc::new(load().await?);
                Ok::<_, crate::Error>(v)
            })
            .await?
            .clone();
        value
            .downcast::<T>()
            .map_err(|_| crate::Error::Other(format!("run cache `{key}` holds another type")))
    }

    /// Forget `key`, so that the next caller loads it again.
    pub fn forget(&self, key: &str) {
        self.slots.lock().expect("not poisoned").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn loads_once_for_concurrent_callers_and_retries_after_failure() {
        let cache = RunCache::default();
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, crate::Error>(42u32)
        };
        let (a, b) = tokio::join!(cache.get_or_load("k", load), cache.get_or_load("k", load));
        assert_eq!((*a.unwrap(), *b.unwrap()), (42, 42));
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        let failed = cache
            .get_or_load::<u32, _, _>("f", || async { Err(crate::Error::Other("no".into())) })
            .await;
        assert!(failed.is_err());
        let ok = cache.get_or_load("f", || async { Ok(7u32) }).await.unwrap();
        assert_eq!(*ok, 7);
        cache.forget("k");
        cache.get_or_load("k", load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }
}
