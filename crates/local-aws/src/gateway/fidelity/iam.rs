//! IAM's hooks: when a role was made, for the propagation delay other services show.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::exchange::{Exchange, Step};
use super::super::Shared;

/// When each IAM role was created through the gateway.
#[derive(Debug, Default)]
pub(crate) struct RoleAges {
    created: Mutex<HashMap<String, Instant>>,
}

impl RoleAges {
    /// `role` was created now.
    fn record(&self, role: &str) {
        self.created
            .lock()
            .expect("not poisoned")
            .insert(role.to_string(), Instant::now());
    }

    /// Whether `role` was created through the gateway less than `age` ago.
    pub(crate) fn younger_than(&self, role: &str, age: Duration) -> bool {
        self.created
            .lock()
            .expect("not poisoned")
            .get(role)
            .is_some_and(|at| at.elapsed() < age)
    }
}

pub(super) fn before(shared: &Shared, x: &mut Exchange) -> Step {
    if x.op == "CreateRole" {
        if let Some(name) = x.param("RoleName") {
            shared.roles_created.record(name);
        }
    }
    Ok(None)
}
