//! Fills a gateway data folder with enrolled users and live sessions, for
//! the load harness (`benches/load/run.sh`): `N` users `u-user{i}` (email
//! `user{i}@bench.test`, member of `acct-{i mod 1000}`) each with a sealed
//! TOTP secret and a set of recovery code hashes, and `M` signed-in
//! sessions spread over them. Also writes the key and admin token a config
//! made from `config/demo.toml` points at. Run it before the gateway starts
//! (sled locks the folder); records go in with one batch per tree per chunk.
//!
//! `cargo run --release --example seed_store -- --data-dir DIR --users 1000000 --sessions 100000`

use std::path::PathBuf;
use std::time::Instant;

use tfa_gateway::env::Env;
use tfa_gateway::identity::{Membership, Role};
use tfa_gateway::secretbox::SecretKey;
use tfa_gateway::store::{
    AccountRecord, FactorsRecord, Import, RecoveryCode, SessionRecord, Store, TotpFactor, UserRecord,
};
use tfa_gateway::totp::Secret;

const CHUNK: usize = 50_000;
const ACCOUNTS: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data_dir: Option<PathBuf> = None;
    let (mut users, mut sessions) = (10usize, 10usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value)),
            "--users" => users = value.parse()?,
            "--sessions" => sessions = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let data_dir = data_dir.ok_or("give --data-dir DIR")?;
    if sessions > 0 && users == 0 {
        return Err("sessions need at least one user".into());
    }
    let env = Env::real();
    let key_file = tfa_gateway::demo::ensure_key(&data_dir, &env)?;
    tfa_gateway::demo::ensure_admin_token(&data_dir, &env)?;
    let key = SecretKey::parse(&std::fs::read_to_string(key_file)?)?;
    let store = Store::open(&data_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let now = env.now();

    // One set of recovery code hashes (argon2 is slow on purpose), shared:
    // the records have their real size, and nobody will type these codes.
    let codes = tfa_gateway::recovery::generate(&env);
    let recovery: Vec<RecoveryCode> = tfa_gateway::recovery::hash_set(&env, &codes)?
        .into_iter()
        .map(|hash| RecoveryCode { hash, used_at: None })
        .collect();

    runtime.block_on(
        store.import(&Import {
            accounts: (0..ACCOUNTS.min(users.max(1)))
                .map(|a| AccountRecord::new(&format!("acct-{a}"), &format!("acct-{a}")))
                .collect(),
            ..Import::default()
        }),
    )?;
    for start in (0..users).step_by(CHUNK) {
        let mut import = Import::default();
        for i in start..(start + CHUNK).min(users) {
            let id = format!("u-user{i}");
            let account = format!("acct-{}", i % ACCOUNTS);
            import.users.push(UserRecord {
                id: id.clone(),
                email: format!("user{i}@bench.test"),
                accounts: vec![Membership {
                    account_id: account.clone(),
                    account_name: account,
                    role: Role::Member,
                }],
                first_seen: now,
                last_login: now,
            });
            let secret = Secret::generate(&env);
            let mut factors = FactorsRecord::default();
            factors.put(Some(TotpFactor {
                sealed_secret: key.seal(&env, secret.as_bytes(), id.as_bytes())?,
                enabled_at: now,
                last_step: None,
            }));
            factors.set_recovery(recovery.clone());
            import.factors.push((id, factors));
        }
        runtime.block_on(store.import(&import))?;
        eprintln!("seed: {} users", (start + CHUNK).min(users));
    }
    for start in (0..sessions).step_by(CHUNK) {
        let mut import = Import::default();
        for i in start..(start + CHUNK).min(sessions) {
            let mut token_hash = [0u8; 32];
            let mut upstream_cookie_hash = [0u8; 32];
            env.random.fill(&mut token_hash);
            env.random.fill(&mut upstream_cookie_hash);
            import.sessions.push(SessionRecord {
                token_hash,
                user_id: format!("u-user{}", i % users),
                upstream_cookie_hash,
                created: now,
                last_seen: now,
                ..Default::default()
            });
        }
        runtime.block_on(store.import(&import))?;
        eprintln!("seed: {} sessions", (start + CHUNK).min(sessions));
    }
    // Closed the way a stopped gateway leaves it (server::serve).
    drop(store);
    Store::settle(&data_dir, std::time::Duration::from_secs(10))?;
    println!(
        "seeded {users} users and {sessions} sessions in {} in {:.1} s",
        data_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
