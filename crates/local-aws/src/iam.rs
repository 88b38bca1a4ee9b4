//! IAM as the local AWS enforces it, in one place: the principals and their identity policies,
//! what each request needs and how a policy answers it (`authz`), and the bucket policies every S3
//! call is judged against (`bucket_policies`). The gateway's authorize stage asks them.

pub mod authz;
pub mod bucket_policies;
