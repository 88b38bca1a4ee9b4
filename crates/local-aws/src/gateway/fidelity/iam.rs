//! IAM's hooks: when a role was made, for the propagation delay other services show.

use super::super::exchange::{Exchange, Step};
use super::super::Shared;

pub(super) fn before(shared: &Shared, x: &mut Exchange) -> Step {
    if x.op == "CreateRole" {
        if let Some(name) = x.param("RoleName") {
            shared
                .roles_created
                .lock()
                .expect("not poisoned")
                .insert(name.to_string(), std::time::Instant::now());
        }
    }
    Ok(None)
}
