//! Request bodies and query strings as the gateway's own endpoints read them:
//! `OwnRequest::form` (URL-encoded forms), `OwnRequest::query_param`, and
//! `OwnRequest::json_body` into each body type the JSON API accepts.
//! Checked, besides "no panic": a JSON error answer is itself valid JSON with
//! the promised status, a body without the JSON content type is refused
//! whatever it holds, and a form's `next` still goes through `safe_next`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tfa_gateway::pages::{safe_next, CodeBody, OwnRequest, PasswordBody, Reply};
use tfa_gateway::policy::OwnRoute;

// The same shapes as the private bodies of `pages::api` (`{"require"}`) and
// `pages::sms` (`{"password", "country", "phone"}`).
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct RequireBody {
    require: bool,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct EnrollBody {
    password: String,
    country: String,
    phone: String,
}

fn request(data: &[u8], json: bool) -> OwnRequest {
    OwnRequest {
        route: OwnRoute::ApiChallenge,
        path: "/_2fa/api/challenge".into(),
        query: Some(String::from_utf8_lossy(data).into_owned()),
        json,
        body: Bytes::copy_from_slice(data),
        client: Some("192.0.2.1".into()),
        found: None,
        dashboard_reachable: true,
    }
}

fn assert_json_error(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("the error answer is JSON");
    assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
    assert!(reply.headers.get("content-type").is_some(), "the error answer lost its content type");
}

fn check_json<T: serde::de::DeserializeOwned>(req: &OwnRequest) {
    if let Err(reply) = req.json_body::<T>() {
        assert_json_error(&reply, 400);
    }
}

fuzz_target!(|data: &[u8]| {
    let req = request(data, true);

    let form = req.form();
    assert!(!req.csrf_ok(&form), "a request without a session passed the CSRF check");
    for next in [form.get("next").map(String::as_str), req.query_param("next").as_deref()] {
        assert!(safe_next(next).starts_with('/'));
    }

    check_json::<PasswordBody>(&req);
    check_json::<CodeBody>(&req);
    check_json::<RequireBody>(&req);
    check_json::<EnrollBody>(&req);
    check_json::<serde_json::Value>(&req);

    match request(data, false).json_body::<serde_json::Value>() {
        Ok(_) => panic!("a body without the JSON content type was read as JSON"),
        Err(reply) => assert_json_error(&reply, 415),
    }
});
