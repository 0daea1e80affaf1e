//! The OpenAPI 3.1 documents of the JSON API (`GET {prefix}/api/openapi.json`,
//! anyone) and of the admin API (`GET /admin/openapi.json`, bearer token),
//! kept as JSON beside this file. The tests below hold them to the routes
//! the gateway answers: every documented operation is one the policy finds,
//! and every JSON route is documented.

use serde_json::{json, Value};

const JSON_API: &str = include_str!("json-api.json");
const ADMIN_API: &str = include_str!("admin-api.json");

/// The JSON API's document, its server the configured path prefix.
pub fn json_api(prefix: &str) -> Value {
    let mut doc: Value = serde_json::from_str(JSON_API).expect("json-api.json is JSON (tested)");
    doc["servers"] = json!([{ "url": prefix }]);
    doc
}

/// The admin API's document.
pub fn admin_api() -> Value {
    serde_json::from_str(ADMIN_API).expect("admin-api.json is JSON (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factors::{Kind, Verb};
    use crate::policy::OwnRoute;
    use http::Method;

    /// (method, path) of every operation in `doc`, with `{id}` filled in.
    fn operations(doc: &Value) -> Vec<(Method, String)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "post", "put", "delete", "patch"] {
                if item.get(method).is_some() {
                    let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                    let filled = path.replace("{id}", "x1").replace("{user}", "u-bob");
                    out.push((m, filled));
                }
            }
        }
        out
    }

    #[test]
    fn every_documented_operation_is_a_json_route_the_gateway_answers() {
        let doc = json_api("/_2fa");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "/_2fa");
        for (method, path) in operations(&doc) {
            let route = OwnRoute::find(&method, &path);
            assert!(
                route.is_api() && !matches!(route, OwnRoute::WrongMethod { .. }),
                "{method} {path} is documented, but the gateway finds {route:?}"
            );
        }
    }

    #[test]
    fn every_json_route_is_documented() {
        let doc = json_api("/_2fa");
        let documented = operations(&doc);
        let mut routes: Vec<(Method, String)> = [
            (Method::GET, "/health"),
            (Method::GET, "/verify"),
            (Method::GET, "/api/openapi.json"),
            (Method::GET, "/api/status"),
            (Method::POST, "/api/challenge"),
            (Method::PUT, "/api/accounts/x1/require"),
            (Method::GET, "/api/devices"),
            (Method::DELETE, "/api/devices/x1"),
            (Method::GET, "/api/sessions"),
            (Method::DELETE, "/api/sessions/x1"),
            (Method::POST, "/api/sessions/revoke-others"),
        ]
        .into_iter()
        .map(|(m, p)| (m, p.to_string()))
        .collect();
        for kind in Kind::ALL {
            for e in kind.endpoints().iter().filter(|e| e.action.api) {
                let method = match e.verb {
                    Verb::Get => Method::GET,
                    Verb::Post => Method::POST,
                    Verb::Delete => Method::DELETE,
                };
                let path = if e.item {
                    format!("{}x1", e.path)
                } else {
                    e.path.to_string()
                };
                routes.push((method, path));
            }
        }
        for (method, path) in &routes {
            let route = OwnRoute::find(method, path);
            assert!(
                route.is_api() && !matches!(route, OwnRoute::WrongMethod { .. }),
                "{method} {path} is listed here as a JSON route, but the gateway does not find one"
            );
            assert!(
                documented.contains(&(method.clone(), path.clone())),
                "{method} {path} is not documented"
            );
        }
        assert_eq!(documented.len(), routes.len(), "documented: {documented:?}");
    }

    #[test]
    fn the_admin_document_names_every_admin_endpoint() {
        let doc = admin_api();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented = operations(&doc);
        for (method, path) in [
            (Method::PUT, "/admin/accounts/x1/activation"),
            (Method::GET, "/admin/accounts/x1"),
            (Method::DELETE, "/admin/users/u-bob/2fa"),
            (Method::DELETE, "/admin/users/u-bob/sessions"),
            (Method::GET, "/admin/audit"),
            (Method::POST, "/admin/backup"),
            (Method::GET, "/metrics"),
            (Method::GET, "/admin/openapi.json"),
        ] {
            assert!(
                documented.contains(&(method.clone(), path.to_string())),
                "{method} {path}"
            );
        }
        assert_eq!(documented.len(), 8, "{documented:?}");
    }
}
