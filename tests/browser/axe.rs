//! Accessibility checks with axe-core (installed from npm into
//! tests/browser/node_modules), injected through WebDriver: the pages' CSP
//! allows no such script, but a WebDriver script is the browser's, not the
//! page's, so the policy does not apply to it.

use std::path::PathBuf;

use fantoccini::Client;
use serde::Deserialize;

/// One axe rule that failed on one page.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub target: Vec<serde_json::Value>,
    pub html: String,
    #[serde(rename = "failureSummary")]
    pub summary: Option<String>,
}

impl Violation {
    /// Serious and critical violations fail the tests.
    pub fn blocking(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

fn axe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/axe-core/axe.min.js")
}

/// axe-core's source, installed with `npm ci` (pinned by the lock file)
/// the first time, or a panic that says what failed.
pub fn source() -> String {
    // The flows run in parallel; one of them installs.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let path = axe_path();
    if !path.exists() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "installing axe-core with `npm ci --prefix tests/browser` failed: {status:?}"
        );
    }
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs axe on the page the browser shows and returns its violations
/// (WCAG 2.x A and AA rules plus axe's best practices).
pub async fn run(client: &Client, axe_source: &str) -> Vec<Violation> {
    let loaded = client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .expect("execute a script in the page");
    if loaded != serde_json::Value::Bool(true) {
        let script = format!("{axe_source}\n;return typeof window.axe === 'object';");
        let ok = client.execute(&script, vec![]).await.expect("inject axe-core");
        assert_eq!(ok, serde_json::Value::Bool(true), "axe-core did not load in the page");
    }
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(JSON.stringify(r.violations)))
               .catch(e => done(JSON.stringify({ error: String(e) })));",
            vec![],
        )
        .await
        .expect("run axe-core");
    let text = result.as_str().expect("axe's answer as JSON text");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("axe-core failed ({e}): {text}"))
}

/// One line per violation: impact, rule, what it needs, and the elements.
pub fn describe(page: &str, v: &Violation) -> String {
    let nodes: Vec<String> = v
        .nodes
        .iter()
        .map(|n| {
            let target = n.target.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ");
            format!(
                "    {target}: {}\n      {}",
                n.html,
                n.summary.as_deref().unwrap_or("").replace('\n', "\n      ")
            )
        })
        .collect();
    format!(
        "  [{}] {} on {page}: {} ({})\n{}",
        v.impact.as_deref().unwrap_or("?"),
        v.id,
        v.help,
        v.help_url,
        nodes.join("\n")
    )
}

/// Proves the checker sees something: an unlabelled field added to the page
/// must be reported, so "no violations" elsewhere means something.
pub async fn self_check(client: &Client, axe_source: &str) {
    client
        .execute(
            "const i = document.createElement('input'); i.type = 'text'; document.body.append(i);",
            vec![],
        )
        .await
        .expect("add a field");
    let found = run(client, axe_source).await;
    assert!(
        found.iter().any(|v| v.id == "label" && v.blocking()),
        "axe-core missed an unlabelled field: {found:?}"
    );
}
