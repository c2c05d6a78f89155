//! `skipstore-compare`: runs a workload suite against entelix's
//! `InMemoryStore` (the mutex baseline) and `SkipStore`, and on request
//! against adapters over moka, dashmap and scc, in one process, through
//! `Arc<dyn Store<String>>`, and prints how they compare.
//!
//! ```text
//! cargo run --release                        # the default suite, threads 1,2
//! cargo run --release -- --threads 1,2,4 --entries 1000000 --namespaces 10000
//! cargo run --release -- --workloads get-uniform,list --json
//! # SkipStore's inherent API against the baseline's closest equivalents
//! # (not in the default suite, which stays at about a minute):
//! cargo run --release -- --workloads list-page,cas-counter,get-sliding,bounded-fill
//! cargo run --release -- --svg compare.svg
//! # the longest single put while one writer grows each store to 2M rows
//! cargo run --release -- --workloads grow --rounds 5
//! # the peers a host would wrap instead (a few minutes):
//! cargo run --release -- --stores baseline,skipstore,moka,dashmap,scc
//! # entelix's Redis store against skipstore's (a throwaway local server):
//! cargo run --release --features skipstore-compare/redis -- --redis local
//! # the near cache against RedisStore alone and entelix's, and its
//! # invalidation latency:
//! cargo run --release --features skipstore-compare/redis -- --near local
//! ```
//!
//! | concern | module |
//! |---|---|
//! | arguments and their validation | `cli` |
//! | namespaces, keys, values and seeded choices | `fixture` |
//! | the workloads and their operations | `workloads` |
//! | the stores, the executor, timed threaded runs | `runner` |
//! | the peers' `Store` adapters (the library half) | `skipstore_compare::peers` |
//! | bytes per entry (counting allocator) | `memory` |
//! | the suite: fills, rounds, medians | `suite` |
//! | put latency while a store grows | `grow` |
//! | table and JSON | `report` |
//! | the SVG chart | `chart` |
//! | the Redis stores (`--redis`) | `redis` |
//! | the near cache (`--near`) | `near` |

mod chart;
mod cli;
mod fixture;
mod grow;
mod memory;
#[cfg(feature = "redis")]
mod near;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_common;
mod report;
mod runner;
mod suite;
mod workloads;

use std::process::ExitCode;

use cli::Args;
use fixture::{Fixture, Shape};
use workloads::Workload;

#[global_allocator]
static ALLOCATOR: memory::CountingAlloc = memory::CountingAlloc;

fn main() -> ExitCode {
    let args = Args::parse_and_validate();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    #[cfg(not(feature = "redis"))]
    if args.redis.is_some() || args.near.is_some() {
        return Err(
            "--redis and --near need the Redis workloads, built with the feature \
                    `redis`: cargo run --release --features skipstore-compare/redis -- ..."
                .to_owned(),
        );
    }
    #[cfg(feature = "redis")]
    if let Some(target) = &args.redis {
        return redis::run(args, target);
    }
    #[cfg(feature = "redis")]
    if let Some(target) = &args.near {
        return near::run(args, target);
    }
    let mut args = args.clone();
    if let Some(at) = args.workloads.iter().position(|w| *w == Workload::Grow) {
        args.workloads.remove(at);
        let report = grow::run(&args)?;
        emit(&if args.json {
            report.to_json()? + "\n"
        } else {
            report.to_table()
        })?;
        if args.workloads.is_empty() {
            return Ok(());
        }
    }
    let args = &args;
    let fixture = Fixture::new(Shape::new(args.entries, args.namespaces))?;
    let report = suite::Suite::new(args, &fixture).run()?;
    let mut out = if args.json {
        report.to_json()? + "\n"
    } else {
        report.to_table()
    };
    if let Some(path) = &args.svg {
        chart::write_svg(&report, path)?;
        if !args.json {
            out += &format!("chart written to {}\n", path.display());
        }
    }
    emit(&out)
}

/// Writes the report to stdout. A reader that went away (`| head`) is not
/// an error worth a panic: the figures were produced, nobody wants the rest.
fn emit(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the report: {e}"))
        }
        _ => Ok(()),
    }
}
