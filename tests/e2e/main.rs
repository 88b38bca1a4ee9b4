//! End-to-end tests on the local environment: one binary, one sandbox (own emulator) per test.

mod aurora;
mod bad_input;
mod bedrock;
mod consistency;
mod deployments;
mod drift;
mod faults;
mod gateway;
mod import;
mod monitoring;
mod names;
mod read_back;
mod redis;
mod s3_family;
mod saved_plan;
mod secrets;
mod verify_trust;
