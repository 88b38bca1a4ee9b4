//! Local AWS: the pinned moto server behind a small gateway of ours.
//!
//! The gateway serves the local AWS endpoint, passes requests to moto, counts calls per service
//! and operation (mutating and read-only), and corrects moto's known deviations from AWS so that
//! product code never carries a special case for the emulator. [`LocalAws`] runs both for a test
//! or a benchmark; [`daemon`] runs them in the background for `cargo xtask local up`.

pub mod ca;
pub mod calls;
pub mod child_env;
pub mod cluster_parameters;
pub mod consistency;
pub mod daemon;
pub mod dataplane;
pub mod emulated;
pub mod failure_states;
pub mod faults;
pub mod fixes;
pub mod gateway;
pub mod iam;
pub mod incarnations;
pub mod leaving_clusters;
mod log_group_keys;
pub mod moto;
mod overlays;
pub mod private;
pub mod protocol;
pub mod replication_groups;
pub mod rotation_schedules;
pub mod rules;
pub mod server_programs;
pub mod slow;
pub mod standin;
mod xml;
pub mod zygote;

use std::path::Path;

pub use calls::{Call, CallLog, CallSummary};
pub use consistency::{Consistency, ConsistencySettings};
pub use faults::{Fault, FaultPlan, Faults, Rule};
pub use gateway::{Gateway, GatewayOptions};
pub use moto::{ensure_venv as ensure_emulator_venv, Moto};
pub use slow::{Slow, SlowSettings};

/// Moto, pinned: the emulator the project is tested against.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// A running moto server with our gateway in front of it, owned by this process.
#[derive(Debug)]
pub struct LocalAws {
    moto: Moto,
    gateway: Gateway,
    data_plane: Option<std::sync::Arc<dataplane::DataPlane>>,
}

impl LocalAws {
    /// Start moto (from the venv in `venv`, installed there if missing) on a free port and the
    /// gateway on `listen_port` (0 for a free one).
    pub async fn start(venv: &Path, listen_port: u16) -> anyhow::Result<Self> {
        let server = moto::ensure_venv(venv)?;
        Self::in_front_of(Moto::start(&server, 0).await?, listen_port).await
    }

    /// The same, with moto forked from the shared zygote (milliseconds instead of seconds of
    /// CPU; see [`zygote`]): for test suites.
    pub async fn start_forked(venv: &Path) -> anyhow::Result<Self> {
        let server = moto::ensure_venv(venv)?;
        Self::in_front_of(Moto::forked(&server).await?, 0).await
    }

    async fn in_front_of(moto: Moto, listen_port: u16) -> anyhow::Result<Self> {
        let gateway = Gateway::start(GatewayOptions {
            listen_port,
            upstream_port: moto.port(),
        })
        .await?;
        Ok(LocalAws {
            moto,
            gateway,
            data_plane: None,
        })
    }

    /// Start the data plane (a real PostgreSQL and Redis, TLS only, certificates from the CA in
    /// `ca_dir`) and bind the emulated clusters and replication groups to it.
    pub async fn start_data_plane(
        &mut self,
        ca_dir: &Path,
    ) -> anyhow::Result<std::sync::Arc<dataplane::DataPlane>> {
        if let Some(plane) = &self.data_plane {
            return Ok(plane.clone());
        }
        let plane = std::sync::Arc::new(dataplane::DataPlane::start(ca_dir).await?);
        self.gateway.bind_data_plane(plane.clone());
        self.data_plane = Some(plane.clone());
        Ok(plane)
    }

    /// Stop the data plane's servers and remove their files (moto and the gateway stop when
    /// dropped).
    pub async fn stop(&self) {
        if let Some(plane) = &self.data_plane {
            plane.stop().await;
        }
    }

    /// The data plane, when started.
    pub fn data_plane(&self) -> Option<&std::sync::Arc<dataplane::DataPlane>> {
        self.data_plane.as_ref()
    }

    /// The local AWS endpoint, e.g. `http://127.0.0.1:4566`.
    pub fn endpoint(&self) -> String {
        self.gateway.endpoint()
    }

    /// The gateway's call log.
    pub fn calls(&self) -> &CallLog {
        self.gateway.calls()
    }

    /// The gateway's IAM enforcement.
    pub fn authz(&self) -> &iam::authz::Authz {
        self.gateway.authz()
    }

    /// The gateway's fault injector.
    pub fn faults(&self) -> &Faults {
        self.gateway.faults()
    }

    /// The gateway's bucket policies and S3 request context.
    pub fn bucket_policies(&self) -> &iam::bucket_policies::BucketPolicies {
        self.gateway.bucket_policies()
    }

    /// The gateway's slow creation and modification.
    pub fn slow(&self) -> &Slow {
        self.gateway.slow()
    }

    /// The gateway's failure states (creations armed to fail).
    pub fn failure_states(&self) -> &failure_states::FailureStates {
        self.gateway.failure_states()
    }

    /// The gateway's eventual consistency (lagging lists, new buckets and users unseen).
    pub fn consistency(&self) -> &consistency::Consistency {
        self.gateway.consistency()
    }

    /// The moto server's port (for tests that must reach moto without the gateway).
    pub fn moto_port(&self) -> u16 {
        self.moto.port()
    }
}
