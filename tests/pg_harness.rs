//! The throwaway PostgreSQL cluster of `common::pg`: it starts with nothing
//! set up beforehand, keeps what is written, counts transactions, comes back
//! from an outage with its data, and two in one process stay apart.

mod common;

use common::pg::Postgres;

#[test]
fn a_cluster_keeps_its_data_through_an_outage() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    assert_eq!(
        pg.url("tfa"),
        format!("postgres://postgres@127.0.0.1:{}/tfa", pg.port())
    );
    pg.psql("tfa", "CREATE TABLE users (name text PRIMARY KEY, codes int NOT NULL)");
    pg.psql("tfa", "INSERT INTO users VALUES ('alice', 10), ('bob', 8)");
    assert_eq!(
        pg.psql("tfa", "SELECT name, codes FROM users ORDER BY name"),
        "alice|10\nbob|8"
    );

    // Each psql call is a session: its connection's catalog look-ups are a
    // transaction too, so three calls are six.
    let before = pg.transactions("tfa");
    for _ in 0..3 {
        pg.psql("tfa", "UPDATE users SET codes = codes - 1 WHERE name = 'alice'");
    }
    let after = pg.transactions_at_least("tfa", before + 6);
    assert_eq!(after, before + 6, "nothing else runs in the cluster (no autovacuum)");

    pg.stop();
    let down = pg.try_psql("tfa", "SELECT 1").expect_err("the server is stopped");
    assert!(
        down.contains("127.0.0.1"),
        "a connection failure, not a SQL error: {down}"
    );

    pg.start_again();
    assert_eq!(pg.psql("tfa", "SELECT codes FROM users WHERE name = 'alice'"), "7");
    // A fast stop writes the counts out, so an outage does not reset them.
    assert!(pg.transactions("tfa") >= after, "counts survive a clean stop");
}

#[test]
fn two_clusters_at_once_stay_apart() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(Postgres::start);
        let b = s.spawn(Postgres::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    for (pg, name) in [(&a, "a"), (&b, "b")] {
        pg.create_database("tfa");
        pg.psql("tfa", &format!("CREATE TABLE whoami AS SELECT '{name}' AS name"));
    }
    assert_eq!(a.psql("tfa", "SELECT name FROM whoami"), "a");
    assert_eq!(b.psql("tfa", "SELECT name FROM whoami"), "b");
    // One outage does not take the other cluster down.
    a.stop();
    assert_eq!(b.psql("tfa", "SELECT name FROM whoami"), "b");
}
