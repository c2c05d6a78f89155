//! Command-line arguments: parsing and validation.
//!
//! Every bad argument ends in a clap error (a clear message, exit code 2),
//! never a panic.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::runner::{Driver, StoreKind};
use crate::workloads::Workload;

/// The largest `--threads` value accepted (each is an OS thread).
const MAX_THREADS: u32 = 512;
/// The largest `--entries` accepted (about 50 GB of rows in either store).
const MAX_ENTRIES: u64 = 200_000_000;
/// The longest `--seconds` accepted for one measured round.
const MAX_SECONDS: f64 = 600.0;

/// Compares `SkipStore` with entelix's `InMemoryStore` (the mutex baseline),
/// and with `--stores` with moka, dashmap and scc adapters, on the workloads
/// of an agent host, in one process, through `Arc<dyn Store<String>>`.
#[derive(Debug, Clone, Parser)]
#[command(name = "skipstore-compare", version, about, long_about = None)]
pub struct Args {
    /// Thread counts to measure, comma-separated (one scaling point each).
    /// Counts above the machine's cores are run and marked oversubscribed.
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        default_value = "1,2",
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_THREADS))
    )]
    pub threads: Vec<u32>,

    /// Rows each store holds before the read workloads run.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 200_000,
        value_parser = clap::value_parser!(u64).range(1..=MAX_ENTRIES)
    )]
    pub entries: u64,

    /// Conversation namespaces the rows are spread over
    /// (tenant > agent > conversation).
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 2_000,
        value_parser = clap::value_parser!(u64).range(1..=MAX_ENTRIES)
    )]
    pub namespaces: u64,

    /// Length of one measured round, in seconds.
    #[arg(long, allow_negative_numbers = true, default_value = "0.3", value_parser = parse_seconds)]
    pub seconds: Duration,

    /// Measured rounds per workload, store and thread count; the table shows
    /// the median.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub rounds: u32,

    /// Workloads to run, comma-separated. Default: the trait's workloads,
    /// all but list-page, cas-counter, get-sliding and bounded-fill, which
    /// measure SkipStore's inherent API against the baseline's closest
    /// equivalent and run only when named.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub workloads: Vec<Workload>,

    /// Stores to measure, comma-separated: baseline, skipstore, moka,
    /// dashmap, scc (the last three are `Store<String>` adapters over those
    /// crates). The baseline is the reference of every ratio and always
    /// runs. The peers list by scanning every row (scc excepted), so with all
    /// five a run takes several times as long.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "baseline,skipstore"
    )]
    pub stores: Vec<StoreKind>,

    /// Rows that expire before each timed `evict_expired` call of the
    /// evict-expired workload. Default: 1% of --entries.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub expired: Option<u64>,

    /// Rows the grow workload grows each store to.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 2_000_000,
        value_parser = clap::value_parser!(u64).range(1..=MAX_ENTRIES)
    )]
    pub grow_rows: u64,

    /// How workers drive each store call: `poll` (a no-op waker, one context
    /// and key buffer per worker: the store's own cost) or `tokio` (a tokio
    /// current-thread runtime's `block_on` per call, a fresh
    /// `ExecutionContext` and a freshly formatted key per call, as a host's
    /// request handler would).
    #[arg(long, value_enum, default_value = "poll")]
    pub driver: Driver,

    /// Seed of every random choice (keys, namespaces, TTLs).
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,

    /// Print one JSON document (parameters, machine, every row) instead of
    /// the table.
    #[arg(long)]
    pub json: bool,

    /// Also write a bar chart of throughput by workload and thread count
    /// to this SVG file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,

    /// Compare the Redis stores instead (entelix-persistence's RedisStore
    /// and skipstore's, on one server): a `redis://` URL, or `local` to
    /// start a throwaway redis-server on 127.0.0.1.
    #[arg(long, value_name = "URL|local")]
    pub redis: Option<String>,

    /// Compare the near cache (`skipstore::redis::NearCache`) with
    /// skipstore's RedisStore alone and entelix's, on one server, and
    /// measure its invalidation latency: a `redis://` URL, or `local`.
    #[arg(long, value_name = "URL|local", conflicts_with = "redis")]
    pub near: Option<String>,

    /// Client task counts of the Redis comparison, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,16",
        value_parser = clap::value_parser!(u32).range(1..=4096)
    )]
    pub redis_tasks: Vec<u32>,

    /// Rows each store holds in the Redis comparison.
    #[arg(
        long,
        default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(100..=10_000_000)
    )]
    pub redis_rows: u64,

    /// The longest warm-up of the near cache before each workload's
    /// measured rounds (`--near`), in seconds. The warm-up runs the
    /// workload in 1 s slices until a slice's local hit ratio stops rising
    /// (by less than 0.1 point over the slice before), so the local tier is
    /// as warm as a host's that has read these rows for a while; this caps
    /// it. The local TTL cap (60 s) bounds how warm a tier can get anyway.
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    pub near_warmup: Duration,
}

impl Args {
    /// Parses the process arguments; exits with code 2 and a message on
    /// any bad or inconsistent argument.
    pub fn parse_and_validate() -> Self {
        let mut args = Self::parse();
        if args.namespaces > args.entries {
            Self::command()
                .error(
                    ErrorKind::ValueValidation,
                    format!(
                        "--namespaces ({}) must not exceed --entries ({}): every namespace holds at least one row",
                        args.namespaces, args.entries
                    ),
                )
                .exit();
        }
        if let Some(path) = &args.svg {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let problem = if dir.is_some_and(|d| !d.is_dir()) {
                Some("its folder does not exist")
            } else if path.is_dir() {
                Some("it is a folder, not a file")
            } else {
                None
            };
            if let Some(problem) = problem {
                Self::command()
                    .error(
                        ErrorKind::ValueValidation,
                        format!("--svg {}: {problem}", path.display()),
                    )
                    .exit();
            }
        }
        if args.workloads.is_empty() {
            args.workloads = Workload::DEFAULT.to_vec();
        }
        args.workloads.sort();
        args.workloads.dedup();
        args.stores.push(StoreKind::Baseline);
        args.stores.sort();
        args.stores.dedup();
        args.threads.sort_unstable();
        args.threads.dedup();
        args
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!(
            "must be a positive number of seconds, got `{text}`"
        ));
    }
    if secs > MAX_SECONDS {
        return Err(format!(
            "at most {MAX_SECONDS} seconds per round, got `{text}`"
        ));
    }
    let round = Duration::from_secs_f64(secs);
    if round < Duration::from_millis(1) {
        return Err(format!("at least 0.001 seconds per round, got `{text}`"));
    }
    Ok(round)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("compare").chain(line.iter().copied()))
    }

    #[test]
    fn defaults_parse() {
        let args = parse(&[]).expect("defaults are valid");
        assert_eq!(args.threads, vec![1, 2]);
        assert_eq!(args.entries, 200_000);
        assert!(args.workloads.is_empty(), "empty means all");
        assert_eq!(args.stores, StoreKind::BOTH);
    }

    #[test]
    fn stores_parse() {
        let args = parse(&["--stores", "baseline,skipstore,moka,dashmap,scc"]).expect("all five");
        assert_eq!(args.stores.len(), 5);
        for kind in &args.stores {
            use clap::ValueEnum;
            assert_eq!(StoreKind::from_str(kind.name(), false), Ok(*kind));
        }
        assert!(parse(&["--stores", "redis"]).is_err());
        assert!(parse(&["--stores", ""]).is_err());
    }

    #[test]
    fn lists_parse() {
        let args =
            parse(&["--threads", "1,2,4", "--workloads", "get-uniform,fill"]).expect("valid lists");
        assert_eq!(args.threads, vec![1, 2, 4]);
        assert_eq!(args.workloads, vec![Workload::GetUniform, Workload::Fill]);
        let args = parse(&[
            "--workloads",
            "list-page,cas-counter,get-sliding,bounded-fill",
        ])
        .expect("the inherent-API workloads parse");
        assert_eq!(args.workloads, Workload::INHERENT);
    }

    #[test]
    fn names_round_trip_and_the_default_is_the_trait_suite() {
        use clap::ValueEnum;
        for w in Workload::DEFAULT
            .iter()
            .chain(&Workload::INHERENT)
            .chain(&[Workload::Grow])
        {
            assert_eq!(Workload::from_str(w.name(), false), Ok(*w));
        }
        // Every workload is in the suite, in the inherent set, or `grow`
        // (run apart from the suite).
        assert_eq!(
            Workload::value_variants().len(),
            Workload::DEFAULT.len() + Workload::INHERENT.len() + 1
        );
        assert!(
            !Workload::DEFAULT
                .iter()
                .any(|w| Workload::INHERENT.contains(w))
        );
    }

    #[test]
    fn driver_and_empty_churn_parse() {
        let args = parse(&[]).expect("defaults are valid");
        assert_eq!(args.driver, Driver::Poll, "the no-op poll by default");
        let args = parse(&[
            "--driver",
            "tokio",
            "--workloads",
            "ttl-churn-empty",
            "--namespaces",
            "10000",
            "--entries",
            "10000",
        ])
        .expect("valid");
        assert_eq!(args.driver, Driver::Tokio);
        assert_eq!(args.workloads, vec![Workload::TtlChurnEmpty]);
        assert_eq!(args.namespaces, 10_000);
        assert!(Workload::DEFAULT.contains(&Workload::TtlChurnEmpty));
        assert!(Workload::TtlChurnEmpty.needs_empty_store());
        for bad in [&["--driver", "async-std"][..], &["--driver", ""]] {
            let err = parse(bad).expect_err("must be rejected");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [
            &["--threads", "0"][..],
            &["--threads", "two"],
            &["--entries", "0"],
            &["--entries", "-5"],
            &["--namespaces", "0"],
            &["--grow-rows", "0"],
            &["--seconds", "0"],
            &["--seconds", "-1"],
            &["--seconds", "NaN"],
            &["--seconds", "inf"],
            &["--workloads", "gets"],
            &["--rounds", "0"],
            &["--near-warmup", "0"],
        ] {
            let err = parse(bad).expect_err("must be rejected");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
