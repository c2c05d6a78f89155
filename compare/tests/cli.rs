//! The compare binary end to end: the empty-store TTL churn under both
//! drivers, with its rows in the JSON report.

use std::process::Command;

fn run(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_skipstore-compare"))
        .args([
            "--workloads",
            "ttl-churn-empty",
            "--entries",
            "200",
            "--namespaces",
            "100",
            "--threads",
            "1,2",
            "--rounds",
            "1",
            "--seconds",
            "0.05",
            "--json",
        ])
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn check(report: &serde_json::Value, driver: &str) {
    assert_eq!(report["params"]["driver"], driver);
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "one row per thread count: {rows:?}");
    for row in rows {
        assert_eq!(row["workload"], "ttl-churn-empty");
        let text = row.to_string();
        assert!(text.contains("from an empty store"), "{text}");
        for store in ["baseline", "skipstore"] {
            assert!(text.contains(store), "{text}");
        }
    }
}

#[test]
fn empty_store_churn_runs_under_the_no_op_poll() {
    check(&run(&[]), "poll");
}

#[test]
fn empty_store_churn_runs_under_a_tokio_runtime() {
    check(&run(&["--driver", "tokio"]), "tokio");
}

#[test]
fn an_unknown_driver_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_skipstore-compare"))
        .args(["--driver", "threads"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    // A known option with a bad value (not an unknown option), naming the
    // drivers there are.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'threads'"), "{err}");
    assert!(err.contains("poll, tokio"), "{err}");
}
