//! The EC2 calls of the layer, hand-written over the EC2 Query protocol on the AWS SDK's own
//! runtime. `aws-sdk-ec2` was a quarter of the workspace's compile (299 s of 1212 on two cores)
//! for 19 operations; this crate sends the same parameters, signs, retries and reports errors as
//! the SDK does (`code()`/`message()` through `ProvideErrorMetadata`), and compiles in seconds.
//!
//! - [`query`]: the request body, spelt as aws-sdk-ec2 spells it;
//! - [`xml`]: the answer, as an element tree read by path;
//! - [`client`]: the transport, errors and endpoint;
//! - [`ops`]: the typed operations.

pub mod client;
pub mod ops;
pub mod query;
pub mod xml;

pub use aws_smithy_types::error::metadata::ProvideErrorMetadata;
pub use client::{Client, Ec2Error, ServiceError};
pub use ops::{
    client_token, Network, NewVpcEndpoint, RuleChange, SecurityGroup, TagDescription, TagMap,
    Unsuccessful, VpcEndpoint, VpcEndpointChange,
};
pub use query::{Filter, Permission, Query};
pub use xml::Node;
