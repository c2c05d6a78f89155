//! Running cases: one by one with panics caught ([`run_all`]), or one per
//! `#[test]` ([`contract_tests!`](crate::contract_tests)).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::Harness;

/// What a case returns: `Err` when the store (or the harness) returned an
/// error the case did not expect. A broken assertion panics instead, with a
/// message that names what was expected and what came back.
pub type CaseResult = entelix_core::Result<()>;

/// The future of one case run against a harness borrowed for `'a`.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;

/// One case of the suite: its name (the name of its function in
/// [`mod@crate::cases`], unique across the suite) and how to run it.
pub struct Case<H> {
    /// The case's function name, e.g. `"list_prefixes_are_literal"`.
    pub name: &'static str,
    /// Runs the case against a harness.
    pub run: for<'a> fn(&'a H) -> CaseFuture<'a>,
}

impl<H> Clone for Case<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Case<H> {}

impl<H> fmt::Debug for Case<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

/// Every case of the suite, in the order [`run_all`] runs them.
pub fn all_cases<H: Harness>() -> Vec<Case<H>> {
    crate::__with_cases! { __case_list!() }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __case_list {
    (() $($module:ident :: $case:ident,)*) => {
        ::std::vec![$(
            $crate::Case {
                name: stringify!($case),
                run: |h| ::std::boxed::Box::pin($crate::cases::$module::$case(h)),
            },
        )*]
    };
}

/// How long [`run_all`] waits for one case before it records a failure and
/// moves on: generous, since the slowest case sleeps well under a second on
/// real time; a store that hangs (a server that never answers) must not hang
/// the run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a case failed.
#[derive(Debug)]
pub enum Failure {
    /// The store or the harness returned an error.
    Error(entelix_core::Error),
    /// The case panicked: a broken assertion (the message names both sides),
    /// or a panic inside the store.
    Panicked(String),
    /// The case did not finish in time.
    TimedOut(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => write!(f, "the store returned an error: {e}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::TimedOut(after) => write!(f, "did not finish within {after:?}"),
        }
    }
}

/// The result of one case in a [`Report`].
#[derive(Debug)]
pub struct Outcome {
    /// The case's name.
    pub case: &'static str,
    /// `Ok` if the case passed.
    pub result: Result<(), Failure>,
}

/// What [`run_all`] found: one [`Outcome`] per case, in suite order.
///
/// `Display` prints one line per case (`PASS name` or `FAIL name: why`).
#[derive(Debug)]
pub struct Report {
    outcomes: Vec<Outcome>,
}

impl Report {
    /// Every case's outcome, in suite order.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// The names of the cases that failed, in suite order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.names(false)
    }

    /// The names of the cases that passed, in suite order.
    pub fn passed(&self) -> Vec<&'static str> {
        self.names(true)
    }

    fn names(&self, passed: bool) -> Vec<&'static str> {
        self.outcomes
            .iter()
            .filter(|o| o.result.is_ok() == passed)
            .map(|o| o.case)
            .collect()
    }

    /// Panics unless exactly the cases named in `expected` failed (in any
    /// order), with a message that lists each unexpected failure and why, and
    /// each expected failure that passed. Also panics if `expected` names a
    /// case the suite does not have, so a renamed case cannot slip out of an
    /// expected-failure list.
    #[track_caller]
    pub fn assert_failures(&self, expected: &[&str]) {
        let mut problems = Vec::new();
        for name in expected {
            if !self.outcomes.iter().any(|o| o.case == *name) {
                problems.push(format!("  no case is named {name:?}"));
            }
        }
        for o in &self.outcomes {
            let listed = expected.contains(&o.case);
            match (&o.result, listed) {
                (Err(why), false) => {
                    problems.push(format!("  unexpected failure {}: {why}", o.case))
                }
                (Ok(()), true) => {
                    problems.push(format!("  expected to fail but passed: {}", o.case))
                }
                _ => {}
            }
        }
        assert!(
            problems.is_empty(),
            "the contract suite's failures differ from the expected set:\n{}\nfull report:\n{self}",
            problems.join("\n")
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.outcomes {
            match &o.result {
                Ok(()) => writeln!(f, "PASS {}", o.case)?,
                Err(why) => writeln!(f, "FAIL {}: {why}", o.case)?,
            }
        }
        Ok(())
    }
}

/// Runs every case against `harness`, one after another, each in its own
/// tokio task, and reports which passed.
///
/// A case that panics (a broken assertion, or a store that panics on some
/// input) or does not finish within a minute is recorded as a failure of that
/// case; the run goes on. Must be called inside a tokio runtime whose time
/// driver is on (`#[tokio::test]` is).
pub async fn run_all<H: Harness>(harness: H) -> Report {
    let harness = Arc::new(harness);
    let mut outcomes = Vec::new();
    for case in all_cases::<H>() {
        let result = run_isolated(Arc::clone(&harness), case).await;
        outcomes.push(Outcome {
            case: case.name,
            result,
        });
    }
    Report { outcomes }
}

async fn run_isolated<H: Harness>(harness: Arc<H>, case: Case<H>) -> Result<(), Failure> {
    let task = tokio::spawn(async move { (case.run)(&harness).await });
    let abort = task.abort_handle();
    match tokio::time::timeout(CASE_TIMEOUT, task).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(Failure::Error(e)),
        Ok(Err(join)) if join.is_panic() => {
            Err(Failure::Panicked(panic_message(join.into_panic().as_ref())))
        }
        Ok(Err(join)) => Err(Failure::Panicked(format!("the case's task ended: {join}"))),
        Err(_elapsed) => {
            abort.abort();
            Err(Failure::TimedOut(CASE_TIMEOUT))
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Runs one case on a fresh current-thread runtime; the body of each test
/// that [`contract_tests!`](crate::contract_tests) generates. A panic in the
/// case propagates as is (so the test shows the assertion's own message and
/// location); an error fails the test with the error.
#[doc(hidden)]
pub fn run_test<H, M>(make: M, name: &'static str, run: for<'a> fn(&'a H) -> CaseFuture<'a>)
where
    H: Harness,
    M: Future<Output = H>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("contract case {name}: cannot start a tokio runtime: {e}"));
    runtime.block_on(async {
        let harness = make.await;
        if let Err(e) = run(&harness).await {
            panic!("contract case {name}: the store returned an error: {e}");
        }
    });
}
