//! The data both stores are filled with: namespaces, keys and values shaped
//! like an agent host's, and the seeded choices workloads make over them.
//!
//! Namespaces are `tenant-T > agent-A > conv-C` (up to 50 conversations per
//! agent and 10 agents per tenant). Row `r` lives in conversation
//! `r % namespaces` under key `msg-{r / namespaces}`, so every conversation
//! holds about `entries / namespaces` messages. Keys and namespaces are
//! built once, so choosing a row costs a random number and two indexings.

use entelix_core::TenantId;
use entelix_memory::{Namespace, NamespacePrefix};
use rand::RngExt;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Zipf};

/// Conversations per agent (at most).
const CONVERSATIONS_PER_AGENT: u64 = 50;
/// Agents per tenant (at most).
const AGENTS_PER_TENANT: u64 = 10;
/// Distinct values cycled through by writers (each 32 bytes long).
const VALUE_POOL: usize = 256;
/// Length of every value, in bytes.
pub const VALUE_LEN: usize = 32;
/// Zipf exponent of the skewed access pattern.
const ZIPF_EXPONENT: f64 = 1.0;
/// Scatters Zipf ranks over the rows (a prime larger than any row count,
/// so `rank * SCATTER mod entries` is a permutation).
const SCATTER: u64 = 2_654_435_761;

/// How many tenants, agents and conversations hold the rows.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Shape {
    /// Rows filled before the read workloads.
    pub entries: u64,
    /// Conversation namespaces.
    pub namespaces: u64,
    /// Tenants.
    pub tenants: u64,
    /// Agents (across all tenants).
    pub agents: u64,
    /// Conversations per agent.
    pub conversations_per_agent: u64,
    /// Agents per tenant.
    pub agents_per_tenant: u64,
    /// Messages in the fullest conversation.
    pub rows_per_namespace: u64,
}

impl Shape {
    /// The shape for `entries` rows over `namespaces` conversations
    /// (`1 <= namespaces <= entries`).
    pub fn new(entries: u64, namespaces: u64) -> Self {
        let conversations_per_agent = CONVERSATIONS_PER_AGENT.min(namespaces);
        let agents = namespaces.div_ceil(conversations_per_agent);
        let agents_per_tenant = AGENTS_PER_TENANT.min(agents);
        Self {
            entries,
            namespaces,
            tenants: agents.div_ceil(agents_per_tenant),
            agents,
            conversations_per_agent,
            agents_per_tenant,
            rows_per_namespace: entries.div_ceil(namespaces),
        }
    }
}

/// Everything a workload needs to name a row, built once and shared.
pub struct Fixture {
    /// The shape the fixture was built for.
    pub shape: Shape,
    conversations: Vec<Namespace>,
    tenants: Vec<NamespacePrefix>,
    agents: Vec<NamespacePrefix>,
    /// `msg-…` keys: the first `rows_per_namespace` are present (in every
    /// full conversation), the next as many are never written.
    keys: Vec<String>,
    /// Key prefixes each matching up to 10 present keys of a conversation.
    prefixes: Vec<String>,
    values: Vec<String>,
    zipf: Zipf<f64>,
}

impl Fixture {
    /// Builds the namespaces, keys and values for `shape`.
    pub fn new(shape: Shape) -> Result<Self, String> {
        let per_ns = usize::try_from(shape.rows_per_namespace).map_err(|e| e.to_string())?;
        let width = digits(2 * shape.rows_per_namespace).max(6);
        let keys: Vec<String> = (0..2 * per_ns)
            .map(|j| format!("msg-{j:0width$}"))
            .collect();
        let mut prefixes: Vec<String> = keys[..per_ns]
            .iter()
            .map(|k| k[..k.len() - 1].to_owned())
            .collect();
        prefixes.dedup();
        let values = (0..VALUE_POOL)
            .map(|i| format!("{:<VALUE_LEN$}", format!("value-{i:03}-of-an-agent-memory")))
            .map(|v| v[..VALUE_LEN].to_owned())
            .collect();
        let zipf = Zipf::new(shape.entries as f64, ZIPF_EXPONENT).map_err(|e| e.to_string())?;
        Ok(Self {
            conversations: (0..shape.namespaces)
                .map(|c| conversation(&shape, c))
                .collect(),
            tenants: (0..shape.tenants).map(tenant_prefix).collect(),
            agents: (0..shape.agents).map(|a| agent_prefix(&shape, a)).collect(),
            keys,
            prefixes,
            values,
            zipf,
            shape,
        })
    }

    /// The namespace and key of row `row` (`row < entries`).
    pub fn row(&self, row: u64) -> (&Namespace, &str) {
        let n = self.shape.namespaces;
        (
            &self.conversations[(row % n) as usize],
            &self.keys[(row / n) as usize],
        )
    }

    /// A present row, uniformly.
    pub fn uniform_row(&self, rng: &mut SmallRng) -> (&Namespace, &str) {
        self.row(rng.random_range(0..self.shape.entries))
    }

    /// A present row, Zipf-distributed (a few rows take most accesses), the
    /// popular rows scattered over all conversations.
    pub fn zipf_row(&self, rng: &mut SmallRng) -> (&Namespace, &str) {
        let rank = (self.zipf.sample(rng) as u64).saturating_sub(1);
        let row =
            ((u128::from(rank) * u128::from(SCATTER)) % u128::from(self.shape.entries)) as u64;
        self.row(row)
    }

    /// A conversation that exists and a key it does not hold.
    pub fn absent_row(&self, rng: &mut SmallRng) -> (&Namespace, &str) {
        let per_ns = self.shape.rows_per_namespace as usize;
        let key = &self.keys[per_ns + rng.random_range(0..per_ns)];
        (self.any_conversation(rng), key)
    }

    /// A key the fullest conversations hold, uniformly (a cursor for
    /// paginated listings).
    pub fn any_present_key(&self, rng: &mut SmallRng) -> &str {
        &self.keys[rng.random_range(0..self.shape.rows_per_namespace as usize)]
    }

    /// A conversation, uniformly.
    pub fn any_conversation(&self, rng: &mut SmallRng) -> &Namespace {
        &self.conversations[rng.random_range(0..self.conversations.len())]
    }

    /// A key prefix shared by up to 10 messages of a conversation.
    pub fn any_prefix(&self, rng: &mut SmallRng) -> &str {
        &self.prefixes[rng.random_range(0..self.prefixes.len())]
    }

    /// A tenant's prefix, uniformly.
    pub fn any_tenant(&self, rng: &mut SmallRng) -> &NamespacePrefix {
        &self.tenants[rng.random_range(0..self.tenants.len())]
    }

    /// An agent's prefix, uniformly.
    pub fn any_agent(&self, rng: &mut SmallRng) -> &NamespacePrefix {
        &self.agents[rng.random_range(0..self.agents.len())]
    }

    /// A 32-byte value, freshly allocated as a write would.
    pub fn value(&self, rng: &mut SmallRng) -> String {
        self.values[rng.random_range(0..self.values.len())].clone()
    }

    /// The value row `row` is filled with.
    pub fn value_of(&self, row: u64) -> String {
        self.values[(row % self.values.len() as u64) as usize].clone()
    }

    /// Messages conversation `c` holds after a full fill.
    pub fn rows_in(&self, c: u64) -> u64 {
        let n = self.shape.namespaces;
        self.shape.entries / n + u64::from(c < self.shape.entries % n)
    }

    /// Conversation `c`'s namespace.
    pub fn conversation(&self, c: u64) -> &Namespace {
        &self.conversations[c as usize]
    }
}

fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

fn tenant_name(t: u64) -> TenantId {
    TenantId::new(format!("tenant-{t:04}"))
}

fn tenant_prefix(t: u64) -> NamespacePrefix {
    NamespacePrefix::new(tenant_name(t))
}

fn agent_prefix(shape: &Shape, a: u64) -> NamespacePrefix {
    tenant_prefix(a / shape.agents_per_tenant)
        .with_scope(format!("agent-{:03}", a % shape.agents_per_tenant))
}

fn conversation(shape: &Shape, c: u64) -> Namespace {
    let agent = c / shape.conversations_per_agent;
    Namespace::new(tenant_name(agent / shape.agents_per_tenant))
        .with_scope(format!("agent-{:03}", agent % shape.agents_per_tenant))
        .with_scope(format!("conv-{:04}", c % shape.conversations_per_agent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shape_of_the_defaults() {
        let s = Shape::new(200_000, 2_000);
        assert_eq!(
            (s.tenants, s.agents, s.conversations_per_agent),
            (4, 40, 50)
        );
        assert_eq!(s.rows_per_namespace, 100);
        let s = Shape::new(10, 1);
        assert_eq!((s.tenants, s.agents, s.rows_per_namespace), (1, 1, 10));
    }

    #[test]
    fn rows_are_distinct_and_counted() {
        let fx = Fixture::new(Shape::new(1_003, 10)).expect("fixture");
        let mut seen = std::collections::HashSet::new();
        for r in 0..1_003 {
            let (ns, key) = fx.row(r);
            assert!(seen.insert((ns.render(), key.to_owned())));
        }
        assert_eq!((0..10).map(|c| fx.rows_in(c)).sum::<u64>(), 1_003);
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..1_000 {
            let (ns, key) = fx.zipf_row(&mut rng);
            assert!(seen.contains(&(ns.render(), key.to_owned())));
            let (ns, key) = fx.absent_row(&mut rng);
            assert!(!seen.contains(&(ns.render(), key.to_owned())));
        }
        assert!(fx.values.iter().all(|v| v.len() == VALUE_LEN));
    }
}
