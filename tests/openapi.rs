//! The OpenAPI documents as a client gets them: the JSON API's from
//! anyone, with the configured prefix as its server; the admin API's with
//! the bearer token only. (src/openapi holds them to the routes.)

mod common;

use common::{admin_of, start_dashboard, Browser, Gateway};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn both_documents_are_served_and_the_admin_one_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut anyone = Browser::new(gw.addr);
    let doc = anyone.get("/_2fa/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK, "{}", doc.text());
    assert_eq!(doc.header("content-type"), Some("application/json"));
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/_2fa");
    assert!(doc["paths"]["/api/status"]["get"].is_object());

    let (admin, token) = admin_of(&gw.config);
    let mut operator = Browser::new(admin);
    let refused = operator.get("/admin/openapi.json").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let doc = operator
        .get_with("/admin/openapi.json", &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json()["paths"]["/admin/backup"]["post"].is_object());
}
