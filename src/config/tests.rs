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

#[test]
fn trusted_proxies_are_read_as_networks_and_nobody_is_trusted_by_default() {
    let none = Config::parse(MINIMAL, "t.toml").unwrap();
    let peer = "127.0.0.1".parse().unwrap();
    assert_eq!(none.trusted_proxies.client(peer, ["192.0.2.1"].into_iter()), peer);
    let text = MINIMAL.replace(
        "data_dir = \"/tmp/x\"",
        "data_dir = \"/tmp/x\"\ntrusted_proxies = [\"127.0.0.0/8\", \"::1\"]\nclient_address_header = \"Forwarded\"",
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    let client = c.trusted_proxies.client(peer, ["for=192.0.2.1"].into_iter());
    assert_eq!(client, "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(c.sign_ins_per_minute, 30);
}

#[test]
fn a_trusted_proxy_that_is_not_a_network_or_trusts_everyone_is_refused() {
    for bad in ["\"10.0.0.0/33\"", "\"proxy.internal\"", "\"0.0.0.0/0\""] {
        let text = MINIMAL.replace(
            "data_dir = \"/tmp/x\"",
            &format!("data_dir = \"/tmp/x\"\ntrusted_proxies = [{bad}]"),
        );
        let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("gateway.trusted_proxies"), "{bad}: {err}");
    }
    let text = MINIMAL.replace(
        "data_dir = \"/tmp/x\"",
        "data_dir = \"/tmp/x\"\nclient_address_header = \"x-real-ip\"",
    );
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("gateway.client_address_header"), "{err}");
}

#[test]
fn signing_in_again_names_the_way_back_unless_the_dashboard_reads_none() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.upstream.sign_in_again, "/login?next=/_2fa/settings");
    let section = "\n[upstream.login]\npath = \"/signin\"\nreturn_param = ";
    let text = MINIMAL.replace(
        "\n[second_factor]",
        &format!("{section}\"return_to\"\n\n[second_factor]"),
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.upstream.sign_in_again, "/signin?return_to=/_2fa/settings");
    let text = MINIMAL.replace("\n[second_factor]", &format!("{section}\"\"\n\n[second_factor]"));
    assert_eq!(
        Config::parse(&text, "t.toml").unwrap().upstream.sign_in_again,
        "/signin"
    );
    let text = MINIMAL.replace("\n[second_factor]", &format!("{section}\"a&b=c\"\n\n[second_factor]"));
    let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("upstream.login.return_param"), "{err}");
}
