//! Secrets Manager's `RotateSecret` with `RotateImmediately = false`: on AWS it sets the
//! schedule and leaves the value alone. Moto instead makes a new current version from the value
//! the secret was created with, which rolls a managed master password back. The gateway answers
//! such a call itself, keeps the schedule, and shows it in `DescribeSecret`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Schedules set without rotating, by `(region, secret name)`.
#[derive(Debug, Default)]
pub struct RotationSchedules {
    days: Mutex<HashMap<(String, String), i64>>,
}

/// What the gateway does with a `RotateSecret` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleOnly {
    /// The `SecretId` as sent.
    pub secret_id: String,
    /// `RotationRules.AutomaticallyAfterDays`.
    pub days: i64,
}

/// A `RotateSecret` that only sets a schedule (no rotation now, no Lambda function), if it is one.
pub fn schedule_only(body: &[u8]) -> Option<ScheduleOnly> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("RotateImmediately").and_then(|r| r.as_bool()) != Some(false)
        || v.get("RotationLambdaARN").is_some()
    {
        return None;
    }
    Some(ScheduleOnly {
        secret_id: v.get("SecretId")?.as_str()?.to_string(),
        days: v
            .get("RotationRules")?
            .get("AutomaticallyAfterDays")?
            .as_i64()?,
    })
}

impl RotationSchedules {
    /// Keep the schedule of the secret named `name`.
    pub fn set(&self, region: &str, name: &str, days: i64) {
        self.days
            .lock()
            .expect("not poisoned")
            .insert((region.to_string(), name.to_string()), days);
    }

    /// A `DescribeSecret` answer with the kept schedule shown.
    pub fn on_describe(&self, region: &str, body: &str) -> Option<String> {
        let mut v: serde_json::Value = serde_json::from_str(body).ok()?;
        let name = v.get("Name")?.as_str()?.to_string();
        let days = *self
            .days
            .lock()
            .expect("not poisoned")
            .get(&(region.to_string(), name))?;
        v["RotationEnabled"] = serde_json::json!(true);
        v["RotationRules"] = serde_json::json!({ "AutomaticallyAfterDays": days });
        Some(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_schedule_without_rotation_is_kept_and_shown() {
        let body = br#"{"SecretId":"rds!cluster-1","RotationRules":{"AutomaticallyAfterDays":30},"RotateImmediately":false}"#;
        let s = schedule_only(body).unwrap();
        assert_eq!((s.secret_id.as_str(), s.days), ("rds!cluster-1", 30));
        assert!(
            schedule_only(br#"{"SecretId":"x","RotationRules":{"AutomaticallyAfterDays":3}}"#)
                .is_none()
        );
        let r = RotationSchedules::default();
        r.set("eu", "rds!cluster-1", 30);
        let out = r
            .on_describe("eu", r#"{"Name":"rds!cluster-1","ARN":"a"}"#)
            .unwrap();
        assert!(
            out.contains(r#""RotationRules":{"AutomaticallyAfterDays":30}"#),
            "{out}"
        );
        assert!(r.on_describe("eu", r#"{"Name":"other"}"#).is_none());
    }
}
