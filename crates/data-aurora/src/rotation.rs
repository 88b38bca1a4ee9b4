//! The rotation schedule of the cluster's AWS-managed master secret, when
//! `[aurora] master_password_rotation_days` is set: RDS rotates the password every seven days by
//! default, and a team that reads copies of it (`psql-password`, the connection strings, which
//! seed rewrites) may want another cadence. Set with `RotateSecret` and `RotateImmediately =
//! false`, so setting it never rotates the password; the secret itself belongs to the cluster.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use layer_core::access::{arn, Access, Need};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Resource, Result};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// The cluster, whose output names its master secret.
const CLUSTER: &str = crate::CLUSTER_ADDRESS;
/// The cluster's output with the master secret's ARN.
const SECRET_ARN: &str = "aurora_master_user_secret_arn";

/// The schedule's managed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationSpec {
    /// Days between rotations.
    pub rotation_days: i64,
}

/// The master secret's rotation schedule.
#[derive(Debug, Clone, TypedBuilder)]
pub struct MasterRotation {
    client: Client,
    #[builder(setter(into))]
    cluster: String,
    rotation_days: u32,
}

impl MasterRotation {
    fn secret_arn(inputs: &Inputs) -> Result<String> {
        let arn = inputs.str(&Address::new(CLUSTER), SECRET_ARN)?;
        if arn.is_empty() {
            return Err(Error::Unknown(format!("{CLUSTER}.{SECRET_ARN}")));
        }
        Ok(arn)
    }

    /// Set the schedule. The secret is RDS's, made with the cluster a moment ago: Secrets Manager
    /// may not know it yet (`ResourceNotFoundException`, which changed nothing), so the call is
    /// sent again until it does.
    async fn set(&self, arn: &str) -> Result<()> {
        let what = format!("the master secret {arn}");
        layer_core::wait::while_unseen(
            &what,
            &["ResourceNotFoundException"],
            layer_core::wait::UNSEEN_LIMIT,
            || self.send(arn),
        )
        .await
    }

    async fn send(&self, arn: &str) -> Result<()> {
        self.client
            .rotate_secret()
            .secret_id(arn)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(i64::from(self.rotation_days))
                    .build(),
            )
            .rotate_immediately(false)
            .send()
            .await
            .map_err(|e| Error::aws_on("secretsmanager", "RotateSecret", arn, &e))?;
        Ok(())
    }
}

#[async_trait]
impl Resource for MasterRotation {
    type Spec = RotationSpec;

    fn address(&self) -> Address {
        Address::new("aws_secretsmanager_secret_rotation.aurora_master")
    }

    fn name(&self) -> String {
        format!("{} master secret", self.cluster)
    }

    fn access(&self) -> Vec<Access> {
        let managed = || arn("secretsmanager", "secret:rds!cluster-*");
        vec![
            Access::new(
                Need::Observe,
                "AuroraMasterSecretRotation",
                &["secretsmanager:DescribeSecret"],
                [managed()],
            ),
            Access::new(
                Need::Change,
                "AuroraMasterSecretRotation",
                &["secretsmanager:RotateSecret"],
                [managed()],
            ),
        ]
    }

    fn depends_on(&self) -> Vec<Address> {
        vec![Address::new(CLUSTER)]
    }

    fn desired(&self, _cx: &Context, _inputs: &Inputs) -> Result<RotationSpec> {
        Ok(RotationSpec {
            rotation_days: i64::from(self.rotation_days),
        })
    }

    async fn observe(&self, cx: &Context, inputs: &Inputs) -> Result<Observation<RotationSpec>> {
        let Ok(arn) = Self::secret_arn(inputs) else {
            return Ok(Observation::Absent);
        };
        let d = match self.client.describe_secret().secret_id(&arn).send().await {
            Ok(d) => d,
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Ok(Observation::Absent)
            }
            Err(e) => return Err(Error::aws_on("secretsmanager", "DescribeSecret", &arn, &e)),
        };
        let days = d
            .rotation_rules()
            .and_then(|r| r.automatically_after_days())
            .filter(|_| d.rotation_enabled() == Some(true));
        let Some(days) = days else {
            return Ok(Observation::Absent);
        };
        Ok(Observed::builder()
            .spec(RotationSpec {
                rotation_days: days,
            })
            // The secret is the cluster's, whose ownership the cluster's own tags decide.
            .tags(cx.tags.clone())
            .build()
            .present())
    }

    async fn create(&self, _cx: &Context, _desired: &RotationSpec, inputs: &Inputs) -> Result<()> {
        self.set(&Self::secret_arn(inputs)?).await
    }

    async fn update(
        &self,
        _cx: &Context,
        _desired: &RotationSpec,
        _observed: &Observed<RotationSpec>,
        _changes: &[FieldChange],
        inputs: &Inputs,
    ) -> Result<()> {
        self.set(&Self::secret_arn(inputs)?).await
    }

    /// The schedule goes with its secret, which goes with the cluster: nothing to delete.
    async fn delete(&self, _cx: &Context, _observed: &Observed<RotationSpec>) -> Result<()> {
        Ok(())
    }
}
