//! Memory and start-up grow with live sessions, not with enrolled users: a
//! gateway on a store of twenty thousand enrolled users reads the accounts
//! and the live sessions at start-up, holds no user in memory until one
//! signs in, and lets go of a user some minutes after their last session;
//! a clean stop leaves the embedded store with nothing to read back.

mod common;

use common::cluster::{cluster, Cluster};
use common::{signed_in_as, start_dashboard, Browser, Gateway};
use tfa_gateway::identity::{Membership, Role};
use tfa_gateway::store::{AccountRecord, FactorsRecord, Import, Store, TotpFactor, UserRecord};

const ENROLLED: usize = 20_000;

async fn metric(c: &Cluster, name: &str) -> u64 {
    common::metric(&c.replicas[0].config, name).await
}

fn enrolled_users() -> Import {
    let mut import = Import {
        accounts: vec![AccountRecord::new("big", "Big Corp")],
        ..Import::default()
    };
    for i in 0..ENROLLED {
        let id = format!("u-seeded{i}");
        import.users.push(UserRecord {
            id: id.clone(),
            email: format!("seeded{i}@big.test"),
            accounts: vec![Membership {
                account_id: "big".into(),
                account_name: "Big Corp".into(),
                role: Role::Member,
            }],
            first_seen: 1,
            last_login: 1,
        });
        let mut factors = FactorsRecord::default();
        factors.put(Some(TotpFactor {
            sealed_secret: vec![7; 48],
            enabled_at: 1,
            last_step: None,
        }));
        import.factors.push((id, factors));
    }
    import
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_reads_and_memory_do_not_grow_with_enrolled_users() {
    let mut c = cluster(1).await;
    let url = c.pg.url("tfa");
    let store = tokio::task::spawn_blocking(move || Store::connect(&url).unwrap())
        .await
        .unwrap();
    store.import(&enrolled_users()).await.unwrap();
    drop(store);

    c.restart(0).await;
    assert_eq!(metric(&c, "tfa_users_held").await, 0, "no user loaded at start-up");
    let reads = metric(&c, "tfa_store_reads_total").await;
    assert!(
        reads <= 3,
        "{reads} store reads at start-up with {ENROLLED} enrolled users"
    );

    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    assert_eq!(bob.get("/").await.status, http::StatusCode::OK);
    assert_eq!(metric(&c, "tfa_users_held").await, 1, "the one who signed in");

    // After a restart, the users of the sessions that came back, only.
    c.restart(0).await;
    assert_eq!(metric(&c, "tfa_users_held").await, 1);
    c.at(&mut bob, 0);
    assert!(bob.get("/").await.text().contains("Signed in as bob@acme.test"));
}

/// The position in sled's log its newest snapshot covers (the snapshot
/// file is named after it).
fn snapshot_covers(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("data/store"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let lsn = name.strip_prefix("snap.")?;
            u64::from_str_radix(lsn.trim_end_matches(".generating"), 16).ok()
        })
        .max()
        .unwrap_or(0)
}

/// sled reads back at start-up what was written since its last snapshot
/// (a second for a million enrolled users, BENCHMARKS.md); a gateway that
/// stops on SIGTERM writes a snapshot after its last write, so the next
/// start has nothing to read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_the_embedded_store_quick_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let config = gw.config.clone();
    let sign_in = |addr, who: &'static str| async move {
        let mut b = Browser::new(addr);
        b.login(who, &format!("{}-password", who.split('@').next().unwrap()))
            .await;
        assert!(b.jar.contains_key("dash_session"), "{who} signed in");
    };
    sign_in(gw.addr, "alice@acme.test").await;
    let addr = gw.addr;
    assert!(gw.stop().success());

    // sled writes a snapshot as it opens; what this run writes comes after.
    let gw = Gateway::start_with(addr, config).await;
    let at_start = snapshot_covers(dir.path());
    sign_in(gw.addr, "bob@acme.test").await;
    sign_in(gw.addr, "carol@globex.test").await;
    assert!(gw.stop().success());
    let at_stop = snapshot_covers(dir.path());
    assert!(
        at_stop > at_start,
        "the snapshot at stop ({at_stop:#x}) covers the sign-ins written after the start ({at_start:#x})"
    );
}
