//! Configuration errors an operator would make, and what they are told.
use super::*;

const MINIMAL: &str = r#"
[gateway]
listen = [{ address = "127.0.0.1:8080" }]
data_dir = "/tmp/x"

[upstream]
address = "127.0.0.1:3000"

[second_factor]
key_env = "TFA_KEY"
"#;

#[test]
fn minimal_file_gets_the_demo_dashboard_defaults() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.upstream.session_cookie, "dash_session");
    assert_eq!(
        c.upstream.login,
        Route {
            method: Method::POST,
            path: "/login".into()
        }
    );
    assert_eq!(c.prefix, "/_2fa");
    assert!(!c.cookie.secure, "no TLS listener, so auto means not Secure");
}

#[test]
fn misspelled_key_is_named_in_the_error() {
    let text = MINIMAL.replace("data_dir", "data_dri");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("data_dri"), "{err}");
    assert!(err.starts_with("t.toml"), "{err}");
}

#[test]
fn bad_upstream_address_names_the_key() {
    let text = MINIMAL.replace("127.0.0.1:3000", "nowhere");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("upstream.address"), "{err}");
}

#[test]
fn gateway_cookie_may_not_shadow_the_upstream_cookie() {
    let text = format!("{MINIMAL}\n[cookie]\nname = \"dash_session\"\n");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("cookie.name"), "{err}");
}

#[test]
fn failure_limit_above_100_is_refused() {
    let text = format!("{MINIMAL}max_failures_per_user = 101\n");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("second_factor.max_failures_per_user"), "{err}");
}

#[test]
fn a_key_source_is_required() {
    let text = MINIMAL.replace("key_env = \"TFA_KEY\"", "");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("second_factor.key_file"), "{err}");
}

#[test]
fn missing_tls_certificate_is_refused() {
    let text = MINIMAL.replace(
        "{ address = \"127.0.0.1:8080\" }",
        "{ address = \"127.0.0.1:8443\", tls = { certificate = \"/nonexistent.pem\", key = \"/nonexistent.key\" } }",
    );
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("gateway.listen.tls.certificate"), "{err}");
}

#[test]
fn sms_provider_without_its_section_is_refused() {
    let text = format!("{MINIMAL}\n[sms]\nenabled = true\nprovider = \"twilio\"\n");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("sms.twilio"), "{err}");
    let text = format!("{MINIMAL}\n[sms]\nenabled = true\nprovider = \"pigeon\"\n");
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("sms.provider") && err.contains("pigeon"), "{err}");
}

#[test]
fn sms_is_off_unless_enabled() {
    assert!(Config::parse(MINIMAL, "t.toml").unwrap().sms.provider.is_none());
}
