//! Resources that several families need, each on the core's resource contract: a CloudWatch log
//! group (KMS key, retention), a VPC security group (rules restricted to the VPC), a VPC
//! interface endpoint (found by its `Name` tag and service, since endpoints have no name), and an
//! IAM role with typed trust and inline policies.
//!
//! Families use these types; they never depend on each other.

mod endpoint;
mod log_group;
mod role;
mod security_group;

pub use endpoint::{EndpointSpec, InterfaceEndpoint};
pub use log_group::{LogGroup, LogGroupSpec};
pub use role::{iam_tags, while_role_propagates, Policies, Role, RoleSpec, PROPAGATION, ROLE_ARN};
pub use security_group::{Rule, SecurityGroup, SecurityGroupSpec};

/// The output key under which a security group's id is handed to dependents.
pub const SECURITY_GROUP_ID: &str = "_security_group_id";

/// The output key under which a log group's ARN is handed to dependents.
pub const LOG_GROUP_ARN: &str = "_log_group_arn";
