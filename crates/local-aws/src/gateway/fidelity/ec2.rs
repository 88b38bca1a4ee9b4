//! EC2's hooks: `CreateVpcEndpoint` served by the gateway (idempotent by client token, with the
//! endpoint's private DNS).

use super::super::exchange::{answer, Exchange, Step};
use super::super::Shared;

pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    if x.op != "CreateVpcEndpoint" {
        return Ok(None);
    }
    answer(super::super::create_vpc_endpoint(shared, &x.form, x.auth()).await?)
}
