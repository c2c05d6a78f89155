//! `skipstore::redis::RedisStore` against a real `redis-server`: one server
//! and a 3-master cluster, each started by the test itself on free ports
//! (`skipstore::redis::local`). Needs `redis-server` on the PATH
//! (`apt-get install -y redis-server`); without it these tests fail, they
//! never skip. Run with `cargo test --features redis --test redis`.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

#[path = "redis/basics.rs"]
mod basics;
#[path = "redis/collisions.rs"]
mod collisions;
#[path = "redis/contract.rs"]
mod contract;
#[path = "redis/faults.rs"]
mod faults;
#[path = "redis/fixture.rs"]
mod fixture;
#[path = "redis/transitions.rs"]
mod transitions;
