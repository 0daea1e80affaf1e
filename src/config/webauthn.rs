//! The `[webauthn]` section: where security keys and passkeys are offered.
//! A key is bound to its relying party id (the dashboard's host name, or a
//! parent domain of it) and checked against the origin the browser shows,
//! so both come from here, never from a request's `Host` header.

use std::path::PathBuf;

use super::file;

#[derive(Debug, Clone)]
pub struct WebauthnSettings {
    /// The relying party id: a host name, never an IP address (browsers
    /// and the WebAuthn library refuse those).
    pub rp_id: String,
    /// The dashboard's public origin as browsers see it
    /// (`https://dash.example.com`); the port must match.
    pub origin: url::Url,
    /// The name authenticators show beside the key.
    pub rp_name: String,
    /// How long a browser's prompt may wait for the key, and how long the
    /// ceremony is kept.
    pub timeout_secs: u64,
    /// `None`: any authenticator (attestation "none"). Otherwise the PEM
    /// roots an authenticator's attestation must chain to.
    pub attestation_roots: Option<Vec<(PathBuf, Vec<u8>)>>,
}

pub(super) fn validate(
    raw: Option<file::RawWebauthn>,
    dashboard_name: &str,
) -> Result<Option<WebauthnSettings>, (&'static str, String)> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.enabled == Some(false) {
        return Ok(None);
    }
    let origin = url::Url::parse(&raw.origin).map_err(|e| ("webauthn.origin", format!("{:?}: {e}", raw.origin)))?;
    if !matches!(origin.scheme(), "https" | "http") || origin.path() != "/" || origin.query().is_some() {
        return Err((
            "webauthn.origin",
            format!(
                "{:?}: give the scheme, host and port only, such as \"https://dash.example.com\"",
                raw.origin
            ),
        ));
    }
    let Some(host) = origin.domain() else {
        return Err((
            "webauthn.origin",
            format!(
                "{:?}: WebAuthn needs a host name, not an IP address (for a local try, use http://localhost:PORT)",
                raw.origin
            ),
        ));
    };
    let host = host.to_ascii_lowercase();
    if origin.scheme() == "http" && host != "localhost" && !host.ends_with(".localhost") {
        return Err((
            "webauthn.origin",
            format!(
                "{:?}: browsers allow WebAuthn over plain HTTP only on localhost",
                raw.origin
            ),
        ));
    }
    let rp_id = raw.rp_id.unwrap_or_else(|| host.clone()).to_ascii_lowercase();
    if rp_id.parse::<std::net::IpAddr>().is_ok() || rp_id.is_empty() {
        return Err(("webauthn.rp_id", format!("{rp_id:?}: must be a host name")));
    }
    if !(host == rp_id || host.ends_with(&format!(".{rp_id}"))) {
        return Err((
            "webauthn.rp_id",
            format!("{rp_id:?}: must be the origin's host {host:?} or a parent domain of it"),
        ));
    }
    let timeout_secs = super::bounded("webauthn.timeout_seconds", raw.timeout_seconds, 120, 10..=600)?;
    let attestation_roots = match raw.attestation.as_deref() {
        None | Some("none") => {
            if !raw.attestation_roots.is_empty() {
                return Err((
                    "webauthn.attestation_roots",
                    "roots are used only with attestation = \"required\"".into(),
                ));
            }
            None
        }
        Some("required") => {
            if raw.attestation_roots.is_empty() {
                return Err((
                    "webauthn.attestation_roots",
                    "attestation = \"required\" needs at least one root certificate (PEM file)".into(),
                ));
            }
            let mut roots = Vec::new();
            for p in raw.attestation_roots {
                let pem = std::fs::read(&p).map_err(|e| ("webauthn.attestation_roots", format!("{p}: {e}")))?;
                roots.push((PathBuf::from(p), pem));
            }
            Some(roots)
        }
        Some(other) => {
            return Err((
                "webauthn.attestation",
                format!("{other:?}: expected \"none\" or \"required\""),
            ))
        }
    };
    Ok(Some(WebauthnSettings {
        rp_id,
        origin,
        rp_name: raw.rp_name.unwrap_or_else(|| dashboard_name.to_string()),
        timeout_secs,
        attestation_roots,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(origin: &str, rp_id: Option<&str>) -> Option<file::RawWebauthn> {
        Some(file::RawWebauthn {
            origin: origin.into(),
            rp_id: rp_id.map(str::to_string),
            ..Default::default()
        })
    }

    #[test]
    fn the_relying_party_is_the_origins_host_or_a_parent_domain() {
        let s = validate(raw("https://Dash.Example.com", None), "D").unwrap().unwrap();
        assert_eq!(s.rp_id, "dash.example.com");
        assert_eq!(s.rp_name, "D");
        let s = validate(raw("https://dash.example.com", Some("example.com")), "D")
            .unwrap()
            .unwrap();
        assert_eq!(s.rp_id, "example.com");
        let e = validate(raw("https://dash.example.com", Some("other.com")), "D").unwrap_err();
        assert_eq!(e.0, "webauthn.rp_id");
        assert!(
            validate(raw("https://dash.example.com", Some("ample.com")), "D").is_err(),
            "a suffix that is not a parent domain"
        );
    }

    #[test]
    fn an_ip_address_or_plain_http_elsewhere_than_localhost_is_refused_with_a_reason() {
        let e = validate(raw("http://127.0.0.1:8080", None), "D").unwrap_err();
        assert!(e.1.contains("localhost"), "{e:?}");
        let e = validate(raw("http://dash.example.com", None), "D").unwrap_err();
        assert!(e.1.contains("plain HTTP"), "{e:?}");
        assert!(validate(raw("http://localhost:8080", None), "D").unwrap().is_some());
        let e = validate(raw("https://dash.example.com/app", None), "D").unwrap_err();
        assert_eq!(e.0, "webauthn.origin");
    }

    #[test]
    fn attestation_is_none_or_required_with_roots() {
        let mut r = raw("https://d.example", None).unwrap();
        r.attestation = Some("required".into());
        assert_eq!(validate(Some(r), "D").unwrap_err().0, "webauthn.attestation_roots");
        let mut r = raw("https://d.example", None).unwrap();
        r.attestation = Some("maybe".into());
        assert_eq!(validate(Some(r), "D").unwrap_err().0, "webauthn.attestation");
    }
}
