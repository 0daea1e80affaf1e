//! Security keys through the JSON API, as a single-page dashboard would use
//! them, answered by a software key (`common::soft_key`) that signs like a
//! real one: registration and sign-in, every answer that must be refused
//! (another session's, another site's, a spent ceremony, an unknown or
//! cloned key), and a ceremony begun on one replica and finished on another.

mod common;

use bytes::Bytes;
use common::soft_key::SoftKey;
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "/_2fa/api/webauthn/register/start";
const FINISH: &str = "/_2fa/api/webauthn/register/finish";
const CHALLENGE_START: &str = "/_2fa/api/webauthn/challenge/start";
const CHALLENGE_FINISH: &str = "/_2fa/api/webauthn/challenge/finish";

async fn post(b: &mut Browser, path: &str, body: Value) -> common::Response {
    b.send_json(Method::POST, path, body).await
}

async fn start(b: &mut Browser, name: &str) -> Value {
    let r = post(b, START, json!({ "password": "carol-password", "name": name })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn webauthn_entry(status: &Value) -> Option<Value> {
    status["factors"]
        .as_array()?
        .iter()
        .find(|f| f["kind"] == "webauthn")
        .cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_registers_and_signs_in_by_api_and_every_wrong_answer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let origin = format!("http://localhost:{}", gw.addr.port());
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;

    // A form post cannot start a ceremony (the JSON API's CSRF defence).
    let form = carol
        .send(
            Method::POST,
            START,
            &[("content-type", "text/plain")],
            Bytes::from("{}"),
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let nameless = post(&mut carol, START, json!({ "password": "carol-password", "name": "  " })).await;
    assert_eq!(nameless.status, StatusCode::BAD_REQUEST);
    assert_eq!(nameless.json()["error"], "invalid_name");
    let wrong = post(&mut carol, START, json!({ "password": "nope", "name": "Key" })).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.json()["error"], "wrong_password");

    // The options a browser can use: this site, no option Chrome refuses.
    let options = start(&mut carol, "Work key").await;
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{options}");
    assert_eq!(pk["user"]["name"], "carol@globex.test");
    let text = options.to_string();
    assert!(
        !text.contains("credentialProtectionPolicy") && !text.contains("hints"),
        "{text}"
    );

    // Another session of hers cannot finish this session's ceremony.
    let mut key = SoftKey::new(&origin);
    let mut other = Browser::new(gw.addr);
    other.login("carol@globex.test", "carol-password").await;
    let stolen = post(&mut other, FINISH, key.register(&options)).await;
    assert_eq!(stolen.status, StatusCode::CONFLICT, "{}", stolen.text());
    assert_eq!(stolen.json()["error"], "no_ceremony");
    // Not a key's answer at all: malformed, and the ceremony is kept.
    let junk = post(&mut carol, FINISH, json!({ "id": "x" })).await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    assert_eq!(junk.json()["error"], "bad_request");
    // Shaped like an answer, but no key wrote it: refused, ceremony kept.
    let garbled = json!({
        "id": "x", "rawId": "x", "type": "public-key",
        "response": { "attestationObject": "!", "clientDataJSON": "!" },
    });
    let garbled = post(&mut carol, FINISH, garbled).await;
    assert_eq!(garbled.status, StatusCode::FORBIDDEN, "{}", garbled.text());
    assert_eq!(garbled.json()["error"], "key_refused");
    // A key answering for another site: refused, and the ceremony is spent.
    let mut phished = SoftKey::new("http://localhost:1");
    let elsewhere = post(&mut carol, FINISH, phished.register(&options)).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{}", elsewhere.text());
    assert_eq!(elsewhere.json()["error"], "key_refused");
    let late = post(&mut carol, FINISH, key.register(&options)).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "a ceremony is finished once");

    // Registered, named, with her first recovery codes.
    let options = start(&mut carol, "Work key").await;
    let made = post(&mut carol, FINISH, key.register(&options)).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text());
    let made = made.json();
    assert_eq!(
        (made["id"].as_str(), made["name"].as_str()),
        (Some(key.id().as_str()), Some("Work key"))
    );
    assert_eq!(made["recovery_codes"].as_array().map(Vec::len), Some(10));
    let status = carol.get("/_2fa/api/status").await.json();
    let entry = webauthn_entry(&status).expect("a webauthn entry");
    assert_eq!(entry["keys"][0]["id"], key.id().as_str());
    assert_eq!(entry["keys"][0]["last_used"], Value::Null);
    // The same key twice is refused by the library's exclude list.
    let options = start(&mut carol, "Again").await;
    let ids: Vec<_> = options["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [key.id()]);
    let twice = post(&mut carol, FINISH, key.register(&options)).await;
    assert_eq!(twice.status, StatusCode::FORBIDDEN, "{}", twice.text());

    // Signing in now needs the key.
    let mut b = Browser::new(gw.addr);
    b.login("carol@globex.test", "carol-password").await;
    let held = b.get_with("/_2fa/api/status", &[("accept", "application/json")]).await;
    assert_eq!(held.status, StatusCode::UNAUTHORIZED);
    let options = post(&mut b, CHALLENGE_START, json!({})).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.text());
    let options = options.json();
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    // A key she never registered: a wrong answer, counted like a wrong code.
    let failed_before = common::metric(&gw.config, "tfa_challenges_failed_total").await;
    let mut stranger = SoftKey::new(&origin);
    let refused = post(&mut b, CHALLENGE_FINISH, stranger.sign_in(&options)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text());
    assert_eq!(refused.json()["error"], "key_refused");
    assert_eq!(
        common::metric(&gw.config, "tfa_challenges_failed_total").await,
        failed_before + 1
    );
    let spent = post(&mut b, CHALLENGE_FINISH, key.sign_in(&options)).await;
    assert_eq!(spent.status, StatusCode::CONFLICT, "the refused ceremony is spent");
    let options = post(&mut b, CHALLENGE_START, json!({})).await.json();
    let token_before = b.cookie_header();
    let passed = post(&mut b, CHALLENGE_FINISH, key.sign_in(&options)).await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    assert_ne!(b.cookie_header(), token_before, "a new session id once passed");
    assert_eq!(b.get("/api/me").await.status, StatusCode::OK);
    let entry = webauthn_entry(&b.get("/_2fa/api/status").await.json()).unwrap();
    assert!(entry["keys"][0]["last_used"].is_u64(), "{entry}");

    // A copy of the key whose counter fell behind the key's: refused.
    let mut c = Browser::new(gw.addr);
    c.login("carol@globex.test", "carol-password").await;
    let options = post(&mut c, CHALLENGE_START, json!({})).await.json();
    key.set_counter(0);
    let clone = post(&mut c, CHALLENGE_FINISH, key.sign_in(&options)).await;
    assert_eq!(clone.status, StatusCode::UNAUTHORIZED, "{}", clone.text());

    // Removing it takes the password; then 2FA is off, codes and all.
    let path = format!("/_2fa/api/webauthn/{}", key.id());
    let no = carol
        .send_json(Method::DELETE, &path, json!({ "password": "nope" }))
        .await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);
    let unknown = carol
        .send_json(
            Method::DELETE,
            "/_2fa/api/webauthn/nope",
            json!({ "password": "carol-password" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let gone = carol
        .send_json(Method::DELETE, &path, json!({ "password": "carol-password" }))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text());
    let status = carol.get("/_2fa/api/status").await.json();
    assert_eq!(webauthn_entry(&status), None, "{status}");
    assert_eq!(status["recovery_codes_left"], 0);
    let mut d = Browser::new(gw.addr);
    d.login("carol@globex.test", "carol-password").await;
    assert_eq!(d.get("/api/me").await.status, StatusCode::OK, "no challenge any more");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ceremony_begun_on_one_replica_finishes_on_another() {
    let c = common::cluster::cluster(2).await;
    let mut carol = Browser::new(c.addr(0));
    carol.login("carol@globex.test", "carol-password").await;
    let mut key = SoftKey::new(common::cluster::ORIGIN);

    let options = start(&mut carol, "Key").await;
    c.at(&mut carol, 1);
    let made = post(&mut carol, FINISH, key.register(&options)).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text());
    // Spent on replica 1: replica 0 cannot finish it again.
    c.at(&mut carol, 0);
    let again = post(&mut carol, FINISH, key.register(&options)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let mut b = Browser::new(c.addr(1));
    b.login("carol@globex.test", "carol-password").await;
    let options = post(&mut b, CHALLENGE_START, json!({})).await.json();
    c.at(&mut b, 0);
    let passed = post(&mut b, CHALLENGE_FINISH, key.sign_in(&options)).await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    c.at(&mut b, 1);
    assert_eq!(b.get("/api/me").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_attestation_required_a_key_that_proves_no_maker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = common::tools::self_signed_cert(dir.path());
    let addr = common::free_addr();
    let text = common::config_text(addr, start_dashboard(), &dir.path().join("data")).replace(
        "attestation = \"none\"",
        &format!(
            "attestation = \"required\"\nattestation_roots = [\"{}\"]",
            root.display()
        ),
    );
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, text).unwrap();
    common::write_secrets(&dir.path().join("data"));
    let gw = Gateway::start_with(addr, config).await;
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;
    let options = start(&mut carol, "Key").await;
    assert_eq!(options["publicKey"]["attestation"], "direct", "{options}");
    let mut key = SoftKey::new(&format!("http://localhost:{}", gw.addr.port()));
    let refused = post(&mut carol, FINISH, key.register(&options)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(refused.json()["error"], "key_refused");
    let status = carol.get("/_2fa/api/status").await.json();
    assert_eq!(webauthn_entry(&status), None, "{status}");
}
