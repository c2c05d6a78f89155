//! The suite's own plumbing: every case is registered once, and `run_all`
//! records a harness's errors as failures of each case without stopping.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use entelix_memory::Store;
use skipstore_contract::{Failure, Harness, StoreValue, all_cases, run_all};

/// A harness that cannot make a store (a server that is down).
struct Unreachable;

impl Harness for Unreachable {
    async fn store<V: StoreValue>(&self) -> entelix_core::Result<Arc<dyn Store<V>>> {
        Err(entelix_core::Error::config("no server"))
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

/// `pub async fn` names in a case file.
fn defined_in(source: &str) -> impl Iterator<Item = &str> {
    source.lines().filter_map(|line| {
        let rest = line.strip_prefix("pub async fn ")?;
        rest.split(['<', '(']).next()
    })
}

#[test]
fn every_case_function_is_registered_exactly_once() {
    let registered: Vec<&str> = all_cases::<Unreachable>().iter().map(|c| c.name).collect();
    let unique: BTreeSet<&str> = registered.iter().copied().collect();
    assert_eq!(unique.len(), registered.len(), "a case is listed twice");
    let defined: BTreeSet<&str> = [
        include_str!("../src/cases/basic.rs"),
        include_str!("../src/cases/eviction.rs"),
        include_str!("../src/cases/list.rs"),
        include_str!("../src/cases/namespaces.rs"),
        include_str!("../src/cases/patterns.rs"),
        include_str!("../src/cases/ttl.rs"),
    ]
    .into_iter()
    .flat_map(defined_in)
    .collect();
    assert_eq!(
        unique, defined,
        "__with_cases! (lib.rs) and the case functions differ"
    );
}

#[tokio::test]
async fn run_all_records_errors_and_goes_on() {
    let report = run_all(Unreachable).await;
    assert_eq!(report.outcomes().len(), all_cases::<Unreachable>().len());
    assert!(report.passed().is_empty());
    for outcome in report.outcomes() {
        match &outcome.result {
            Err(Failure::Error(e)) => assert!(e.to_string().contains("no server"), "{e}"),
            other => panic!("{}: {other:?}", outcome.case),
        }
    }
    report.assert_failures(&report.failed());
}

#[tokio::test]
#[should_panic(expected = "no case is named \"no_such_case\"")]
async fn an_expected_failure_must_name_a_case() {
    let report = run_all(Unreachable).await;
    let mut expected = report.failed();
    expected.push("no_such_case");
    report.assert_failures(&expected);
}
