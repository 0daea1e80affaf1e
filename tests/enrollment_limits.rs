//! Every endpoint that takes a guess at a secret is limited like the
//! challenge: wrong SMS and TOTP enrollment codes, by API and by form, count
//! towards the user's lockout (ten wrong, then 429 even for the right code),
//! and a burst of concurrent wrong passwords checks no more than the limit.

mod common;

use bytes::Bytes;
use common::api::try_begin_totp;
use common::tools::{csrf_token, last_code, oathtool};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

/// Where an enrollment code is typed.
#[derive(Clone, Copy, Debug)]
enum Verify {
    SmsApi,
    SmsForm,
    TotpApi,
    TotpForm,
}

async fn type_code(b: &mut Browser, at: Verify, csrf: &str, code: &str) -> StatusCode {
    let form = format!("csrf_token={csrf}&code={code}");
    match at {
        Verify::SmsApi => {
            b.send_json(Method::POST, "/_2fa/api/sms/verify", json!({ "code": code }))
                .await
        }
        Verify::TotpApi => {
            b.send_json(Method::POST, "/_2fa/api/totp/verify", json!({ "code": code }))
                .await
        }
        Verify::SmsForm => b.post_form("/_2fa/settings/sms/verify", &form).await,
        Verify::TotpForm => b.post_form("/_2fa/settings/totp/verify", &form).await,
    }
    .status
}

/// Six digits that are not any of `right`.
fn wrong_code(i: u32, right: &[String]) -> String {
    (i..)
        .map(|n| format!("{:06}", n % 1_000_000))
        .find(|c| !right.contains(c))
        .unwrap()
}

/// One user's enrollment: who, from which address, where the code is typed,
/// and for SMS the last digit of their number.
struct Case {
    email: &'static str,
    source: &'static str,
    at: Verify,
    digit: u8,
}

/// Signs the case's user in from its own address (so one user's failures
/// do not add up to another's address limit) and starts the enrollment;
/// returns the browser, the form's CSRF token and the codes that are right.
async fn enrolling(gw: &Gateway, outbox: &std::path::Path, case: &Case) -> (Browser, String, Vec<String>) {
    let password = format!("{}-password", case.email.split('@').next().unwrap());
    let mut b = Browser::from_ip(gw.addr, case.source);
    assert_eq!(b.login(case.email, &password).await.status, StatusCode::SEE_OTHER);
    let phone = format!("07400+12345{}", case.digit);
    let e164 = format!("+44740012345{}", case.digit);
    let at = case.at;
    let (csrf, right) = match at {
        Verify::SmsApi => {
            let body = json!({ "password": password, "country": "GB", "phone": phone.replace('+', " ") });
            let r = b.send_json(Method::POST, "/_2fa/api/sms/enroll", body).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            (String::new(), vec![last_code(outbox, &e164)])
        }
        Verify::SmsForm => {
            let page = b.get("/_2fa/settings").await.text();
            let form = format!(
                "csrf_token={}&password={password}&country=GB&phone={phone}",
                csrf_token(&page)
            );
            assert_eq!(
                b.post_form("/_2fa/settings/sms/enable", &form).await.status,
                StatusCode::SEE_OTHER
            );
            let setup = b.get("/_2fa/settings/sms/setup").await.text();
            (csrf_token(&setup), vec![last_code(outbox, &e164)])
        }
        Verify::TotpApi => {
            let secret = try_begin_totp(&mut b, &password).await.expect("up");
            (String::new(), [-30, 0, 30].map(|s| oathtool(&secret, s)).to_vec())
        }
        Verify::TotpForm => {
            let page = b.get("/_2fa/settings").await.text();
            let form = format!("csrf_token={}&password={password}", csrf_token(&page));
            assert_eq!(
                b.post_form("/_2fa/settings/totp/enable", &form).await.status,
                StatusCode::SEE_OTHER
            );
            let setup = b.get("/_2fa/settings/totp/setup").await.text();
            let key = common::tools::between(&setup, "aria-labelledby=\"secret-label\">", "</code>");
            let secret = key.expect("the key on the page");
            let secret: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
            (csrf_token(&setup), [-30, 0, 30].map(|s| oathtool(&secret, s)).to_vec())
        }
    };
    (b, csrf, right)
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_enrollment_codes_lock_the_user_out_at_every_verify_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &[("max_failures_per_user", "10")]).await;
    let outbox = dir.path().join("data").join("sms-outbox.jsonl");
    let case = |email, source, at, digit| Case {
        email,
        source,
        at,
        digit,
    };
    let cases = [
        case("dave@globex.test", "127.0.0.11", Verify::SmsApi, 6),
        case("carol@globex.test", "127.0.0.12", Verify::SmsForm, 7),
        case("alice@acme.test", "127.0.0.13", Verify::TotpApi, 0),
        case("bob@acme.test", "127.0.0.14", Verify::TotpForm, 0),
    ];
    for c in &cases {
        let (mut b, csrf, right) = enrolling(&gw, &outbox, c).await;
        let (name, at) = (c.email, c.at);
        for i in 0..10 {
            let expected = if i >= 9 {
                StatusCode::TOO_MANY_REQUESTS
            } else if matches!(at, Verify::SmsApi | Verify::TotpApi) {
                StatusCode::FORBIDDEN
            } else {
                // The form is shown again, with what went wrong.
                StatusCode::BAD_REQUEST
            };
            let status = type_code(&mut b, at, &csrf, &wrong_code(i * 7, &right)).await;
            assert_eq!(status, expected, "{name} at {at:?}: wrong code {}", i + 1);
        }
        let status = type_code(&mut b, at, &csrf, &right[right.len() / 2]).await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "{name} at {at:?}: locked, even for the right code"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_passwords_checks_no_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &[("max_failures_per_user", "10")]).await;
    let carol = common::signed_in_as(gw.addr, "carol@globex.test").await;
    let burst: Vec<_> = (0..60)
        .map(|i| {
            let mut b = carol.clone();
            tokio::spawn(async move {
                let body = Bytes::from(json!({ "password": format!("guess-{i}") }).to_string());
                let headers = [("content-type", "application/json"), ("accept", "application/json")];
                b.send(Method::POST, "/_2fa/api/totp/enroll", &headers, body)
                    .await
                    .status
            })
        })
        .collect();
    let mut checked = 0;
    for t in burst {
        match t.await.unwrap() {
            StatusCode::FORBIDDEN => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected answer to a wrong password: {other}"),
        }
    }
    assert!(
        checked < 10,
        "{checked} wrong passwords were answered as checked; the 10th locks"
    );
}
