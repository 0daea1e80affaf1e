//! Chromium's virtual authenticator, through WebDriver's WebAuthn extension
//! (W3C WebAuthn, "Automation"): a security key the browser believes is
//! plugged in, which registers and signs like a real one.

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Client;
use serde_json::{json, Value};

/// One WebAuthn extension call: a method and a path below
/// `/session/{id}/webauthn/`, with an optional body.
#[derive(Debug)]
struct Call(http::Method, String, Option<Value>);

impl WebDriverCompatibleCommand for Call {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/webauthn/{}", session.unwrap_or_default(), self.1))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (self.0.clone(), self.2.as_ref().map(Value::to_string))
    }
}

/// A virtual key in `client`'s browser: a USB security key (`transport`
/// "usb") or a platform passkey ("internal"), which always says yes.
pub struct Authenticator {
    id: String,
}

impl Authenticator {
    pub async fn plug_in(client: &Client, transport: &str) -> Authenticator {
        let options = json!({
            "protocol": "ctap2",
            "transport": transport,
            "hasResidentKey": transport == "internal",
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        let id = client
            .issue_cmd(Call(http::Method::POST, "authenticator".into(), Some(options)))
            .await
            .expect("add a virtual authenticator");
        Authenticator {
            id: id.as_str().expect("an authenticator id").to_string(),
        }
    }

    /// How many credentials the key holds.
    pub async fn credentials(&self, client: &Client) -> usize {
        let path = format!("authenticator/{}/credentials", self.id);
        let list = client
            .issue_cmd(Call(http::Method::GET, path, None))
            .await
            .expect("list the key's credentials");
        list.as_array().map_or(0, Vec::len)
    }

    pub async fn unplug(self, client: &Client) {
        let path = format!("authenticator/{}", self.id);
        client
            .issue_cmd(Call(http::Method::DELETE, path, None))
            .await
            .expect("remove the virtual authenticator");
    }
}
