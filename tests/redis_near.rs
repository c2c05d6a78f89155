//! `skipstore::redis::NearCache` against a real `redis-server` started by
//! the test itself (`skipstore::redis::local`): several replicas in one
//! process, each with its own connections. Needs `redis-server` on the PATH
//! (`apt-get install -y redis-server`); without it these tests fail, they
//! never skip. Run with `cargo test --features redis --test redis_near`.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

#[path = "redis_near/cluster.rs"]
mod cluster;
#[path = "redis_near/contract.rs"]
mod contract;
#[path = "redis_near/faults.rs"]
mod faults;
#[path = "redis_near/fixture.rs"]
mod fixture;
#[path = "redis_near/model.rs"]
mod model;
#[path = "redis_near/monotonic.rs"]
mod monotonic;
#[path = "redis_near/propagation.rs"]
mod propagation;
