//! The installed binary, driven as operators drive it: one test binary (one link) for every
//! suite of it.

mod apply_file;
mod bad_input;
mod canary;
mod credentials;
mod downstream;
mod failure_states;
mod front_door;
mod interrupt;
mod least_privilege;
mod lock;
mod prompt;
mod review;
mod schema;
mod verify;
