//! One conformance suite for both store backends: the embedded sled store
//! and PostgreSQL (a throwaway cluster, see tests/common/pg.rs). Every case
//! runs against each through the same public `Store` API the gateway uses:
//! what a record reads back as, which conditional writes win, that two
//! writers racing for one code never both win, that the audit trail pages
//! newest first (batches in their order), and that what was committed survives reopening the store.

mod common;

use std::sync::Arc;

use std::time::Duration;
use tfa_gateway::identity::{Identity, Membership, Role};

use tfa_gateway::store::{
    AuditEvent, Change, FactorsRecord, SessionChange, SessionRecord, Store, StoreError, Table, TotpFactor,
};

use common::pg::Postgres;

/// Opens a second handle on the same data, as another replica (or, for
/// sled, a restarted gateway) would.
type Reopen = Box<dyn Fn() -> Store + Send + Sync>;

fn bob() -> Identity {
    Identity {
        user_id: "u-bob".into(),
        email: "bob@acme.test".into(),
        accounts: vec![Membership {
            account_id: "acme".into(),
            account_name: "Acme".into(),
            role: Role::Member,
        }],
        has_password: true,
    }
}

fn session(n: u8, user: &str) -> SessionRecord {
    SessionRecord {
        token_hash: [n; 32],
        user_id: user.into(),
        upstream_cookie_hash: [n.wrapping_add(1); 32],
        created: 100,
        last_seen: 100,
        sealed_upstream_cookie: Some(vec![n; 40]),
        ..Default::default()
    }
}

fn event(at: u64, kind: &str, user: &str) -> AuditEvent {
    AuditEvent {
        at,
        kind: kind.into(),
        user_id: Some(user.into()),
        account_id: None,
        client: None,
        detail: String::new(),
    }
}

/// The backend's calls on one table. Run on the users and factors tables
/// too, since sled keeps those two in one entry per user (store/pair.rs).
async fn raw_conditional_writes(s: &Store, t: Table) {
    let b = s.backend();
    assert_eq!(b.get(t, b"k").await.unwrap(), None);
    assert!(
        !b.swap(t, b"k", Some(b"v0".to_vec()), Some(b"v1".to_vec()), None)
            .await
            .unwrap(),
        "a change needs a record"
    );
    assert_eq!(b.get(t, b"k").await.unwrap(), None, "a refused swap writes nothing");
    assert!(
        b.swap(t, b"k", None, Some(b"v1".to_vec()), None).await.unwrap(),
        "insert if absent"
    );
    assert!(
        !b.swap(t, b"k", None, Some(b"v2".to_vec()), None).await.unwrap(),
        "present now"
    );
    assert!(
        !b.swap(t, b"k", Some(b"v0".to_vec()), Some(b"v2".to_vec()), None)
            .await
            .unwrap(),
        "stale old value"
    );
    assert!(b
        .swap(t, b"k", Some(b"v1".to_vec()), Some(b"v2".to_vec()), None)
        .await
        .unwrap());
    assert_eq!(b.get(t, b"k").await.unwrap(), Some(b"v2".to_vec()));
    assert!(b
        .swap(t, b"k", Some(b"v2".to_vec()), Some(b"v3".to_vec()), None)
        .await
        .unwrap());
    assert!(
        !b.swap(t, b"k", Some(b"v2".to_vec()), None, None).await.unwrap(),
        "stale delete"
    );
    assert!(b.swap(t, b"k", Some(b"v3".to_vec()), None, None).await.unwrap());
    assert!(b.swap(t, b"k", None, None, None).await.unwrap(), "absent, as expected");
    b.put_many(t, vec![(b"b".to_vec(), b"2".to_vec()), (b"a".to_vec(), b"1".to_vec())])
        .await
        .unwrap();
    b.put(t, b"c", b"3".to_vec()).await.unwrap();
    assert_eq!(
        b.keys(t).await.unwrap(),
        [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
        "key order"
    );
    let page = |after: Option<&[u8]>, limit| b.scan_page(t, after.map(<[u8]>::to_vec), limit);
    let keys = |entries: Vec<(Vec<u8>, Vec<u8>)>| entries.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(keys(page(None, 2).await.unwrap()), [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(page(Some(b"b"), 2).await.unwrap(), [(b"c".to_vec(), b"3".to_vec())]);
    assert!(page(Some(b"c"), 2).await.unwrap().is_empty(), "nothing after the last");
    b.delete(t, vec![b"a".to_vec(), b"c".to_vec(), b"absent".to_vec()], Vec::new())
        .await
        .unwrap();
    assert_eq!(b.scan(t).await.unwrap(), [(b"b".to_vec(), b"2".to_vec())]);
    b.delete(t, vec![b"b".to_vec()], Vec::new()).await.unwrap();
}

/// A user's record and their factors change apart: neither a write nor a
/// removal of one touches the other, also when both change at once.
async fn a_user_and_their_factors_are_apart(s: &Store) {
    let b = s.backend();
    let (users, factors) = (Table::Users, Table::Factors);
    b.put(users, b"u-1", b"\x01user one".to_vec()).await.unwrap();
    b.put(factors, b"u-2", b"\x01factors two".to_vec()).await.unwrap();
    b.put(factors, b"u-1", b"\x01factors one".to_vec()).await.unwrap();
    assert_eq!(b.get(users, b"u-1").await.unwrap(), Some(b"\x01user one".to_vec()));
    assert_eq!(b.get(users, b"u-2").await.unwrap(), None, "factors alone make no user");
    assert_eq!(b.keys(users).await.unwrap(), [b"u-1".to_vec()]);
    assert_eq!(b.keys(factors).await.unwrap(), [b"u-1".to_vec(), b"u-2".to_vec()]);
    assert_eq!(
        b.present(users, vec![b"u-1".to_vec(), b"u-2".to_vec()]).await.unwrap(),
        [b"u-1".to_vec()]
    );
    assert!(
        !b.swap(users, b"u-2", Some(b"\x01no".to_vec()), None, None)
            .await
            .unwrap(),
        "no user u-2 to remove"
    );
    assert_eq!(
        b.scan_page(users, None, 5).await.unwrap().len(),
        1,
        "a page holds users only"
    );

    b.delete(users, vec![b"u-1".to_vec()], Vec::new()).await.unwrap();
    assert_eq!(b.get(factors, b"u-1").await.unwrap(), Some(b"\x01factors one".to_vec()));
    assert!(b
        .swap(users, b"u-1", None, Some(b"\x01user again".to_vec()), None)
        .await
        .unwrap());
    assert!(
        !b.swap(factors, b"u-1", None, Some(b"\x01x".to_vec()), None)
            .await
            .unwrap(),
        "the factors are there: a swap from absent fails"
    );
    b.delete(factors, vec![b"u-1".to_vec(), b"u-2".to_vec()], Vec::new())
        .await
        .unwrap();
    assert_eq!(b.get(users, b"u-1").await.unwrap(), Some(b"\x01user again".to_vec()));
    assert!(b.keys(factors).await.unwrap().is_empty());

    // Both halves of one entry changed at once, each through swaps that
    // retry on a stale read: every change lands, none undoes the other.
    const ROUNDS: u32 = 50;
    let bump = |table: Table| {
        let b = s.backend().clone();
        async move {
            for _ in 0..ROUNDS {
                loop {
                    let old = b.get(table, b"u-1").await.unwrap();
                    let n = old
                        .as_ref()
                        .map_or(0, |v| u32::from_le_bytes(v[1..5].try_into().unwrap()));
                    let mut new = vec![1];
                    new.extend_from_slice(&(n + 1).to_le_bytes());
                    if b.swap(table, b"u-1", old, Some(new), None).await.unwrap() {
                        break;
                    }
                }
            }
        }
    };
    b.put(users, b"u-1", [1, 0, 0, 0, 0].to_vec()).await.unwrap();
    let (u, f) = tokio::join!(tokio::spawn(bump(users)), tokio::spawn(bump(factors)));
    u.unwrap();
    f.unwrap();
    let count = |v: Option<Vec<u8>>| u32::from_le_bytes(v.unwrap()[1..5].try_into().unwrap());
    assert_eq!(count(b.get(users, b"u-1").await.unwrap()), ROUNDS);
    assert_eq!(count(b.get(factors, b"u-1").await.unwrap()), ROUNDS);
    b.delete(users, vec![b"u-1".to_vec()], Vec::new()).await.unwrap();
    b.delete(factors, vec![b"u-1".to_vec()], Vec::new()).await.unwrap();
    assert!(b.scan(users).await.unwrap().is_empty() && b.scan(factors).await.unwrap().is_empty());
}

async fn users_accounts_and_sessions(s: &Store) {
    s.remember_user(&bob(), 100).await.unwrap();
    let again = s.remember_user(&bob(), 200).await.unwrap();
    assert_eq!((again.first_seen, again.last_login), (100, 200));
    let refreshed = s.refresh_user(&bob(), 300).await.unwrap();
    assert_eq!(refreshed.last_login, 200, "a refresh is not a sign-in");
    assert_eq!(s.account("acme").await.unwrap().unwrap().name, "Acme");
    assert_eq!(s.users().await.unwrap().len(), 1);

    s.put_session(&session(1, "u-bob")).await.unwrap();
    s.put_session(&session(2, "u-bob")).await.unwrap();
    assert!(s.update_session(&[1; 32], SessionChange::Activity(150)).await.unwrap());
    // Changes are merged into the record as stored, never written over it:
    // a replica's older activity or confirmation undoes nothing, and its
    // activity leaves the dashboard session another replica followed.
    assert!(s.update_session(&[1; 32], SessionChange::Confirmed(120)).await.unwrap());
    let rebound = SessionChange::Rebound {
        upstream_cookie_hash: [7; 32],
        sealed_upstream_cookie: Some(b"sealed".to_vec()),
    };
    assert!(s.update_session(&[1; 32], rebound).await.unwrap());
    assert!(s.update_session(&[1; 32], SessionChange::Activity(140)).await.unwrap());
    assert!(s.update_session(&[1; 32], SessionChange::Confirmed(110)).await.unwrap());
    let mut touched = session(1, "u-bob");
    touched.last_seen = 150;
    touched.confirmed_at = 120;
    touched.upstream_cookie_hash = [7; 32];
    touched.sealed_upstream_cookie = Some(b"sealed".to_vec());
    s.delete_sessions(&[[2; 32]]).await.unwrap();
    assert!(
        !s.update_session(&[2; 32], SessionChange::Activity(160)).await.unwrap(),
        "an ended session is not updated"
    );
    let (sessions, bad) = s.sessions().await.unwrap();
    assert!(bad.is_empty());
    assert_eq!(
        sessions,
        [touched],
        "activity saved late does not bring an ended session back"
    );

    s.backend()
        .put(Table::Sessions, &[9; 32], b"\x01{not json".to_vec())
        .await
        .unwrap();
    let (sessions, bad) = s.sessions().await.unwrap();
    assert_eq!(
        (sessions.len(), bad.len()),
        (1, 1),
        "an unreadable record is reported, not fatal"
    );
    s.delete_sessions(&[[9; 32]]).await.unwrap();
}

async fn audit_pages_newest_first(s: &Store) {
    // More than one page (256), so the paging itself is exercised.
    for i in 0..600u64 {
        let user = if i % 3 == 0 { "u-carol" } else { "u-dave" };
        s.audit(&event(1_000 + i / 10, &format!("e{i}"), user)).await.unwrap();
    }
    let newest = s.audit_query(3, |_| true).await.unwrap();
    let kinds: Vec<_> = newest.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["e599", "e598", "e597"]);
    let carol = s
        .audit_query(1_000, |e| e.user_id.as_deref() == Some("u-carol"))
        .await
        .unwrap();
    assert_eq!(carol.len(), 200);
    assert_eq!(carol.last().unwrap().kind, "e0");
}

/// Events appended in one batch (as `store copy` writes them) come after
/// every earlier one and keep the order given, also within one second.
async fn audit_batch_keeps_its_order(s: &Store) {
    let b = s.backend();
    let newest = |n| async move {
        let page = b.audit_page(None, n).await.unwrap();
        page.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    };
    let mut batch = newest(5).await;
    batch.reverse();
    b.append_audit_many(batch.iter().map(|v| (9_000, v.clone())).collect())
        .await
        .unwrap();
    b.append_audit_many(Vec::new()).await.unwrap();
    let mut expected: Vec<_> = batch.iter().rev().cloned().collect();
    expected.extend(batch.into_iter().rev());
    assert_eq!(newest(10).await, expected);
}

/// Two writers (two replicas, or two tasks) race to accept one TOTP step:
/// in every round exactly one wins.
async fn one_code_one_winner(a: Store, b: Store) {
    let user = "u-race";
    a.update_factors::<_, StoreError>(user, |f| {
        f.put(Some(TotpFactor {
            sealed_secret: vec![1; 40],
            enabled_at: 1,
            last_step: Some(0),
        }));
        Ok(())
    })
    .await
    .unwrap();
    for step in 1..=40u64 {
        let accept = |s: Store| async move {
            s.update_factors(user, |f: &mut FactorsRecord| {
                let t = f.get_mut::<TotpFactor>().expect("enrolled");
                if t.last_step >= Some(step) {
                    return Err(StoreError::Encode("replayed".into()));
                }
                t.last_step = Some(step);
                Ok(())
            })
            .await
            .is_ok()
        };
        let (x, y) = tokio::join!(tokio::spawn(accept(a.clone())), tokio::spawn(accept(b.clone())));
        let winners = usize::from(x.unwrap()) + usize::from(y.unwrap());
        assert_eq!(winners, 1, "step {step} accepted {winners} times");
    }
    assert_eq!(
        b.factors(user).await.unwrap().get::<TotpFactor>().unwrap().last_step,
        Some(40)
    );
}

/// An operator's activation and a sign-in's account-name refresh, made at
/// once through two handles, both survive: neither overwrites the other.
async fn account_changes_do_not_overwrite_each_other(a: Store, b: Store) {
    for round in 0..20 {
        let id = format!("acct-{round}");
        let (x, y) = tokio::join!(
            a.update_account::<StoreError>(&id, &id, |acc| {
                acc.active = Some(true);
                Ok(())
            }),
            b.update_account::<StoreError>(&id, &id, |acc| {
                acc.name = "Renamed".into();
                Ok(())
            }),
        );
        x.unwrap();
        y.unwrap();
        let acc = a.account(&id).await.unwrap().unwrap();
        assert_eq!(
            (acc.active, acc.name.as_str()),
            (Some(true), "Renamed"),
            "round {round}"
        );
    }
}

/// Of two replicas releasing one pending sign-in, exactly one takes it.
async fn one_release_per_pending_sign_in(a: Store, b: Store) {
    for n in 0..30u8 {
        let pending = SessionRecord {
            sealed_held: Some(vec![n; 48]),
            ..session(100 + n, "u-held")
        };
        a.put_session(&pending).await.unwrap();
        let h = pending.token_hash;
        let (x, y) = tokio::join!(a.take_session(&h), b.take_session(&h));
        let takers = usize::from(x.unwrap()) + usize::from(y.unwrap());
        assert_eq!(takers, 1, "round {n}: taken {takers} times");
        assert!(a.sessions_present(&[h]).await.unwrap().is_empty());
    }
}

async fn committed_survives_reopening(s: &Store, reopen: &Reopen) {
    s.update_factors::<_, StoreError>("u-kept", |f| {
        f.put(Some(TotpFactor {
            sealed_secret: vec![7; 40],
            enabled_at: 5,
            last_step: Some(9),
        }));
        Ok(())
    })
    .await
    .unwrap();
    s.put_session(&session(5, "u-kept")).await.unwrap();
    let other = reopen();
    assert_eq!(
        other
            .factors("u-kept")
            .await
            .unwrap()
            .get::<TotpFactor>()
            .unwrap()
            .last_step,
        Some(9)
    );
    assert!(other.sessions().await.unwrap().0.contains(&session(5, "u-kept")));
}

async fn suite(store: Store, second: Store, reopen: Reopen) {
    for table in [Table::Throttle, Table::Users, Table::Factors] {
        raw_conditional_writes(&store, table).await;
    }
    a_user_and_their_factors_are_apart(&store).await;
    users_accounts_and_sessions(&store).await;
    audit_pages_newest_first(&store).await;
    audit_batch_keeps_its_order(&store).await;
    one_code_one_winner(store.clone(), second.clone()).await;
    account_changes_do_not_overwrite_each_other(store.clone(), second.clone()).await;
    one_release_per_pending_sign_in(store.clone(), second).await;
    committed_survives_reopening(&store, &reopen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_conforms() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let store = Store::open(dir.path()).unwrap();
    // sled allows one handle per folder: a clone is the second writer, and
    // "reopening" reads through a clone too (tests/crash_safety.rs kills
    // a real gateway to show what sled keeps).
    let again = store.clone();
    suite(store.clone(), store, Box::new(move || again.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let url = pg.url("tfa");
    let (a, b, u) = (url.clone(), url.clone(), url.clone());
    let (store, second) =
        tokio::task::spawn_blocking(move || (Store::connect(&a).unwrap(), Store::connect(&b).unwrap()))
            .await
            .unwrap();
    // Each reopening is a new pool on new connections: another replica.
    suite(store, second, Box::new(move || Store::connect(&u).unwrap())).await;
    drop(pg);
}

/// A change made through one replica reaches another's subscription: the
/// session ended, the user's factors, the account's flags. (The embedded
/// store has one process and announces nothing.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_announces_changes_to_every_replica() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let url = pg.url("tfa");
    let (a, b) = tokio::task::spawn_blocking(move || (Store::connect(&url).unwrap(), Store::connect(&url).unwrap()))
        .await
        .unwrap();
    let mut heard = b.subscribe();
    // Each store's listener connects in the background: wait until both
    // have run their LISTEN (a connection's query is empty before its first).
    let listening = "SELECT count(*) FROM pg_stat_activity \
        WHERE application_name = 'tfa-gateway listener' AND query <> ''";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg.psql("tfa", listening) != "2" {
        assert!(std::time::Instant::now() < deadline, "the listeners never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.put_session(&session(1, "u-bob")).await.unwrap();
    a.delete_sessions(&[[1; 32]]).await.unwrap();
    a.update_factors::<_, StoreError>("u-bob", |_| Ok(())).await.unwrap();
    a.update_account::<StoreError>("acme", "Acme", |acc| {
        acc.require_2fa = true;
        Ok(())
    })
    .await
    .unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let change = tokio::time::timeout(Duration::from_secs(10), heard.recv())
            .await
            .expect("announced within ten seconds")
            .unwrap();
        got.push(change);
    }
    assert_eq!(
        got,
        [
            Change::SessionEnded([1; 32]),
            Change::UserChanged("u-bob".into()),
            Change::AccountChanged("acme".into()),
        ]
    );
    // A delete that removed nothing announces nothing, nor does an update
    // that changed nothing (an identity refresh that learned nothing new).
    a.delete_sessions(&[[1; 32]]).await.unwrap();
    a.update_account::<StoreError>("acme", "Acme", |acc| {
        acc.require_2fa = true;
        Ok(())
    })
    .await
    .unwrap();
    a.remember_user(&bob(), 7).await.unwrap();
    a.refresh_user(&bob(), 8).await.unwrap();
    while let Ok(Ok(change)) = tokio::time::timeout(Duration::from_millis(300), heard.recv()).await {
        assert_eq!(
            change,
            Change::UserChanged("u-bob".into()),
            "only the sign-in's own write"
        );
    }
    assert!(tokio::time::timeout(Duration::from_millis(500), heard.recv())
        .await
        .is_err());
}

#[test]
fn postgres_schema_is_migrated_once_and_a_newer_one_is_refused() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let url = pg.url("tfa");
    drop(Store::connect(&url).unwrap());
    drop(Store::connect(&url).unwrap());
    assert_eq!(
        pg.psql(
            "tfa",
            "SELECT count(*) = max(version) AND min(version) = 1 FROM tfa_schema"
        ),
        "t",
        "each migration applied once, in order"
    );
    pg.psql("tfa", "INSERT INTO tfa_schema (version) VALUES (99)");
    let err = Store::connect(&url)
        .err()
        .expect("a newer schema is refused")
        .to_string();
    assert!(err.contains("newer than this gateway knows"), "{err}");
}

#[test]
fn postgres_unreachable_or_malformed_is_a_clear_error_without_the_password() {
    let port = common::free_addr().port();
    let err = Store::connect(&format!("postgres://tfa:hunter2@127.0.0.1:{port}/tfa"))
        .err()
        .expect("nobody listens there")
        .to_string();
    assert!(
        err.contains("PostgreSQL store") && err.contains(&format!("127.0.0.1:{port}/tfa")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    let err = Store::connect("postgres://tfa@127.0.0.1:notaport/tfa")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a PostgreSQL connection string"), "{err}");
}
