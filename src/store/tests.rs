//! The typed store over sled: what records read back as, and what the
//! store counts (tests/store_conformance.rs covers both backends).

use super::*;
use crate::identity::Role;

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

/// Opens the store again after a drop in the same process; sled lets go
/// of its lock from a background thread, a moment after the drop.
pub(super) fn reopen(dir: &Path) -> Store {
    for _ in 0..100 {
        if let Ok(s) = Store::open(dir) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Store::open(dir).unwrap()
}

#[tokio::test]
async fn users_and_sessions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.remember_user(&bob(), 100).await.unwrap();
        s.put_session(&SessionRecord {
            token_hash: [1; 32],
            user_id: "u-bob".into(),
            upstream_cookie_hash: [2; 32],
            created: 100,
            last_seen: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let s = reopen(dir.path());
    assert_eq!(s.user("u-bob").await.unwrap().unwrap().email, "bob@acme.test");
    assert_eq!(s.account("acme").await.unwrap().unwrap().name, "Acme");
    let (sessions, errors) = s.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(errors.is_empty());
}

#[tokio::test]
async fn touching_an_ended_session_does_not_bring_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let r = SessionRecord {
        token_hash: [3; 32],
        user_id: "u".into(),
        upstream_cookie_hash: [0; 32],
        created: 1,
        last_seen: 1,
        ..Default::default()
    };
    s.put_session(&r).await.unwrap();
    s.delete_sessions(&[r.token_hash]).await.unwrap();
    assert!(!s
        .update_session(&r.token_hash, SessionChange::Activity(9))
        .await
        .unwrap());
    assert!(s.sessions().await.unwrap().0.is_empty());
}

#[tokio::test]
async fn second_sign_in_keeps_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.remember_user(&bob(), 100).await.unwrap();
    let again = s.remember_user(&bob(), 200).await.unwrap();
    assert_eq!((again.first_seen, again.last_login), (100, 200));
}

#[tokio::test]
async fn audit_reads_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for (at, kind) in [(1, "login"), (2, "logout")] {
        s.audit(&AuditEvent {
            at,
            kind: kind.into(),
            user_id: None,
            account_id: None,
            client: None,
            detail: String::new(),
        })
        .await
        .unwrap();
    }
    let kinds: Vec<_> = s
        .audit_query(10, |_| true)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["logout", "login"]);
}

#[tokio::test]
async fn reads_are_counted_and_writes_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.update_account::<StoreError>("acme", "Acme", |_| Ok(()))
        .await
        .unwrap();
    let before = s.reads();
    s.account("acme").await.unwrap();
    s.clone().factors("u").await.unwrap();
    assert_eq!(s.reads() - before, 2, "clones share the counter");
}

#[test]
fn unknown_record_version_is_reported_not_panicked() {
    let err = record::decode::<UserRecord>("users", &[9, b'{', b'}']).unwrap_err();
    assert!(err.to_string().contains("unknown record version 9"));
}

/// A store written by an earlier release keeps factors in a tree of their
/// own; it opens with each user's factors moved into the user's entry
/// (one record per user, store/pair.rs), nothing lost, also when an
/// earlier move was cut short by a crash (some entries joined already).
#[tokio::test]
async fn factors_kept_apart_by_an_earlier_release_join_their_users() {
    let dir = tempfile::tempdir().unwrap();
    let user = |i: usize| format!("\x01user {i}").into_bytes();
    let factors = |i: usize| format!("\x01factors {i}").into_bytes();
    {
        let db = ::sled::open(dir.path().join("store")).unwrap();
        let (users, old) = (db.open_tree("users").unwrap(), db.open_tree("factors").unwrap());
        for i in 0..2500 {
            let key = format!("u-{i:04}");
            if i < 100 {
                // Moved before the crash.
                let joined = pair::set(Some(&user(i)), pair::Half::Factors, Some(&factors(i)));
                users.insert(&key, joined.unwrap().unwrap()).unwrap();
                continue;
            }
            users.insert(&key, user(i)).unwrap();
            if i % 2 == 0 {
                old.insert(&key, factors(i)).unwrap();
            }
        }
        old.insert("u-gone", factors(9999)).unwrap();
        db.flush().unwrap();
    }
    let s = reopen(dir.path());
    let b = s.backend();
    for i in 0..2500 {
        let key = format!("u-{i:04}");
        assert_eq!(
            b.get(Table::Users, key.as_bytes()).await.unwrap(),
            Some(user(i)),
            "{key}"
        );
        let expected = (i < 100 || i % 2 == 0).then(|| factors(i));
        assert_eq!(b.get(Table::Factors, key.as_bytes()).await.unwrap(), expected, "{key}");
    }
    assert_eq!(b.get(Table::Users, b"u-gone").await.unwrap(), None);
    assert_eq!(b.get(Table::Factors, b"u-gone").await.unwrap(), Some(factors(9999)));
    assert_eq!(b.keys(Table::Factors).await.unwrap().len(), 100 + 1200 + 1);
    drop(s);
    let db = (0..100)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            ::sled::open(dir.path().join("store")).ok()
        })
        .expect("the store, let go");
    assert!(!db.tree_names().iter().any(|n| n == b"factors"), "the old tree is gone");
}

/// A graceful upgrade: the old process lets go of the store while it still
/// runs (its `Store` alive), and the new one opens it with what was written.
#[tokio::test(flavor = "multi_thread")]
async fn a_released_store_opens_in_a_successor_while_the_old_handle_lives() {
    let dir = tempfile::tempdir().unwrap();
    let old = Store::open(dir.path()).unwrap();
    old.remember_user(&bob(), 100).await.unwrap();
    let path = dir.path().to_path_buf();
    let locked = tokio::task::spawn_blocking(move || Store::open(&path).is_err());
    assert!(locked.await.unwrap(), "one process at a time");

    old.release(std::time::Duration::from_secs(5)).await.unwrap();
    let path = dir.path().to_path_buf();
    let new = tokio::task::spawn_blocking(move || Store::open_patiently(&path, std::time::Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the successor opens the released store");
    assert_eq!(new.user("u-bob").await.unwrap().unwrap().email, "bob@acme.test");
    let refused = old.user("u-bob").await.unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused}");
}
