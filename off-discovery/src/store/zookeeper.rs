//! ZooKeeper with the `zookeeper-client` crate.
//!
//! The mapping onto [`Store`]:
//! - one ZooKeeper session per store, with [`StoreOptions::lease_ttl`] as its timeout; the client
//!   pings in the background, and closes the session when the store is dropped;
//! - [`Store::create`] creates a persistent node (parents made as needed; `NodeExists` is a lost
//!   race); [`Store::put_leased`] creates an ephemeral sequential node `m-<sequence>`;
//! - [`Store::list`] reads the children and sorts them by creation zxid ([`Entry::order`]);
//! - [`Store::wait`] awaits an event of a persistent recursive watch on the URL's prefix
//!   (ZooKeeper 3.6 and later), set when the store opens. Every read first drops the events
//!   already queued: ZooKeeper delivers a change's event before any read that sees the change,
//!   so those are reflected in the read, and the events left are changes the caller has not
//!   seen.
//!
//! In ZooKeeper a key's parents are keys too (empty persistent nodes, made as needed), so a
//! listing shows a parent like any other child; the bootstrap keeps no keys below its members.
//!
//! The client is async; the store owns a small tokio runtime (one worker, which also runs the
//! session's pings) and blocks on it.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use zookeeper_client as zk;

use super::{Entry, Outcome, Store, StoreError, StoreOptions, StoreUrl, child_of, retrying};
use crate::coordinator::PeerError;

/// One node's session with a ZooKeeper ensemble.
pub struct ZooKeeperStore {
    /// `None` only once dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// `None` only while dropping.
    client: Option<zk::Client>,
    url: String,
    /// `/<url prefix>`.
    root: String,
    options: StoreOptions,
    /// The persistent recursive watch on `root`: `None` only while dropping.
    watcher: Mutex<Option<zk::PersistentWatcher>>,
}

impl ZooKeeperStore {
    /// Opens a session (retrying an unreachable ensemble for `retry_for`).
    pub fn open(url: &StoreUrl, options: &StoreOptions) -> Result<ZooKeeperStore, PeerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zookeeper-session")
            .enable_time()
            .build()
            .map_err(|e| PeerError::Unavailable(format!("cannot start a runtime: {e}")))?;
        let display = url.to_string();
        let connect_string = url.hosts.join(",");
        let client = retrying(options.retry_for, || {
            let connector = zk::Client::connector()
                .with_session_timeout(options.lease_ttl)
                .with_connection_timeout(options.request_timeout)
                .with_fail_eagerly();
            block(&runtime, &display, options.request_timeout, async {
                connector.connect(&connect_string).await
            })
        })?;
        let root = format!("/{}", url.prefix);
        let watcher = retrying(options.retry_for, || {
            block(&runtime, &display, options.request_timeout, async {
                client
                    .watch(&root, zk::AddWatchMode::PersistentRecursive)
                    .await
            })
        })?;
        Ok(ZooKeeperStore {
            runtime: Some(runtime),
            client: Some(client),
            url: display,
            root,
            options: options.clone(),
            watcher: Mutex::new(Some(watcher)),
        })
    }

    /// Drops the watch events queued so far: the read about to start reflects their changes.
    fn forget_seen_events(&self) {
        let mut watcher = self.watcher.lock().unwrap();
        if let Some(watcher) = watcher.as_mut() {
            block_on(self.runtime(), async {
                while tokio::time::timeout(Duration::ZERO, watcher.changed())
                    .await
                    .is_ok()
                {}
            });
        }
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    fn client(&self) -> &zk::Client {
        self.client
            .as_ref()
            .expect("the client lives as long as the store")
    }

    fn path(&self, key: &str) -> String {
        let key = key.trim_matches('/');
        if key.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{key}", self.root)
        }
    }

    fn relative(&self, path: &str) -> String {
        path.strip_prefix(&self.root)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(path)
            .to_string()
    }

    /// Runs one request, retrying while the ensemble cannot be reached.
    fn run<T: Send, F: Future<Output = Result<T, zk::Error>> + Send>(
        &self,
        mut request: impl FnMut() -> F,
    ) -> Result<T, StoreError> {
        retrying(self.options.retry_for, || {
            block(
                self.runtime(),
                &self.url,
                self.options.request_timeout,
                request(),
            )
        })
    }

    /// Creates `path` (and any missing parents, persistent).
    fn create_node(
        &self,
        path: &str,
        value: &[u8],
        mode: zk::CreateMode,
    ) -> Result<Result<String, zk::Error>, StoreError> {
        let options = &mode.with_acls(zk::Acls::anyone_all());
        let parents = &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let parent = &path[..path.rfind('/').unwrap_or(0)];
        let client = self.client();
        self.run(|| async move {
            let mut created = client.create(path, value, options).await;
            if created == Err(zk::Error::NoNode) && !parent.is_empty() {
                client.mkdir(parent, parents).await?;
                created = client.create(path, value, options).await;
            }
            match created {
                Ok((_, sequence)) if mode == zk::CreateMode::EphemeralSequential => {
                    Ok(Ok(format!("{path}{sequence}")))
                }
                Ok(_) => Ok(Ok(path.to_string())),
                Err(e) if is_unavailable(&e) => Err(e),
                Err(e) => Ok(Err(e)),
            }
        })
    }

    fn protocol(&self, what: &str, error: zk::Error) -> StoreError {
        StoreError::Protocol {
            url: self.url.clone(),
            reason: format!("{what}: {error}"),
        }
    }
}

/// Blocks on `request` for at most `timeout`; a lost connection or a timeout is `Unavailable`,
/// any other ZooKeeper error is passed on for the caller to judge.
fn block<T: Send>(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    timeout: Duration,
    request: impl Future<Output = Result<T, zk::Error>> + Send,
) -> Result<T, StoreError> {
    let unavailable = |reason: String| StoreError::Unavailable {
        url: url.to_string(),
        reason,
    };
    match block_on(runtime, async {
        tokio::time::timeout(timeout, request).await
    }) {
        Err(_) => Err(unavailable(format!("no answer within {timeout:?}"))),
        Ok(Err(e)) if is_unavailable(&e) => Err(unavailable(e.to_string())),
        Ok(Err(e)) => Err(StoreError::Protocol {
            url: url.to_string(),
            reason: e.to_string(),
        }),
        Ok(Ok(value)) => Ok(value),
    }
}

/// Runs `future` on the store's runtime. From a thread that is inside another tokio runtime (a
/// caller's async code), tokio refuses to block: the future then runs from a thread of its own.
fn block_on<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime.block_on(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn is_unavailable(error: &zk::Error) -> bool {
    matches!(
        error,
        zk::Error::ConnectionLoss
            | zk::Error::Timeout
            | zk::Error::NoHosts
            | zk::Error::SessionExpired
            | zk::Error::ClientClosed
            | zk::Error::Throttled
    )
}

impl Drop for ZooKeeperStore {
    fn drop(&mut self) {
        self.watcher.lock().unwrap().take();
        if let Some(client) = self.client.take() {
            // Dropping the last handle closes the session; wait for that, so that this node's
            // ephemeral nodes are gone when the drop returns (else they end with the timeout).
            let mut state = client.state_watcher();
            drop(client);
            let _ = block_on(self.runtime(), async {
                tokio::time::timeout(self.options.request_timeout, async {
                    while !state.changed().await.is_terminated() {}
                })
                .await
            });
        }
        // Dropping a runtime blocks, which tokio forbids inside a caller's async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store for ZooKeeperStore {
    fn url(&self) -> &str {
        &self.url
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<Outcome<()>, StoreError> {
        match self.create_node(&self.path(key), value, zk::CreateMode::Persistent)? {
            Ok(_) => Ok(Outcome::Done(())),
            Err(zk::Error::NodeExists) => Ok(Outcome::LostRace),
            Err(e) => Err(self.protocol(key, e)),
        }
    }

    fn put_leased(&self, prefix: &str, value: &[u8]) -> Result<String, StoreError> {
        let path = format!("{}/m-", self.path(prefix));
        match self.create_node(&path, value, zk::CreateMode::EphemeralSequential)? {
            Ok(created) => Ok(self.relative(&created)),
            Err(e) => Err(self.protocol(prefix, e)),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.forget_seen_events();
        let path = &self.path(key);
        let client = self.client();
        self.run(|| async move {
            match client.get_data(path).await {
                Ok((data, _)) => Ok(Some(data)),
                Err(zk::Error::NoNode) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        self.forget_seen_events();
        let dir = &self.path(prefix);
        let client = self.client();
        let mut entries = self.run(|| async move {
            let children = match client.list_children(dir).await {
                Ok(children) => children,
                Err(zk::Error::NoNode) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut entries = Vec::new();
            for child in children {
                let path = format!("{dir}/{child}");
                match client.get_data(&path).await {
                    Ok((value, stat)) => entries.push((path, value, stat.czxid)),
                    // Gone between the listing and the read (a member that just ended).
                    Err(zk::Error::NoNode) => continue,
                    Err(e) => return Err(e),
                }
            }
            Ok(entries)
        })?;
        entries.sort_by_key(|(_, _, czxid)| *czxid);
        Ok(entries
            .into_iter()
            .filter(|(path, _, _)| child_of(dir, path).is_some())
            .map(|(path, value, czxid)| Entry {
                key: self.relative(&path),
                value,
                order: czxid as u64,
            })
            .collect())
    }

    fn wait(&self, prefix: &str, timeout: Duration) -> Result<(), StoreError> {
        let path = self.path(prefix);
        let mut watcher = self.watcher.lock().unwrap();
        let Some(watcher) = watcher.as_mut() else {
            return Ok(());
        };
        let under = |event: &zk::WatchedEvent| {
            event.event_type == zk::EventType::Session
                || event.path == path
                || event
                    .path
                    .strip_prefix(&path)
                    .is_some_and(|p| p.starts_with('/'))
        };
        block_on(self.runtime(), async {
            let _ =
                tokio::time::timeout(timeout, async { while !under(&watcher.changed().await) {} })
                    .await;
        });
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = &self.path(key);
        let client = self.client();
        self.run(|| async move {
            match client.delete(path, None).await {
                Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}
