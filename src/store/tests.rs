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
            sealed_upstream_cookie: None,
            sealed_held: None,
            confirmed_at: 0,
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
        sealed_upstream_cookie: None,
        sealed_held: None,
        confirmed_at: 0,
    };
    s.put_session(&r).await.unwrap();
    s.delete_sessions(&[r.token_hash]).await.unwrap();
    s.touch_session(&SessionRecord { last_seen: 9, ..r }).await.unwrap();
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
    let err = record::decode::<UserRecord>("users", 1, &[9, b'{', b'}']).unwrap_err();
    assert!(err.to_string().contains("unknown record version 9"));
}
