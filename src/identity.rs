//! Who a signed-in user is, as the upstream says: read from the identity
//! endpoint's JSON answer through the configured JSON pointers. The gateway
//! never decides identity itself; it only remembers what the upstream said.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::IdentitySpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub account_id: String,
    pub account_name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub accounts: Vec<Membership>,
    /// `false` only when the answer says so (`[upstream.identity]
    /// has_password`): such a user cannot type a password to confirm.
    pub has_password: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("identity answer is not JSON")]
    NotJson,
    #[error("identity answer has no usable value at {0}")]
    Missing(String),
}

impl Identity {
    /// Reads an identity from the endpoint's body. Ids may be JSON strings
    /// or numbers; a role other than the configured owner role is a member.
    pub fn from_json(body: &[u8], spec: &IdentitySpec) -> Result<Identity, IdentityError> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| IdentityError::NotJson)?;
        let user_id = scalar(&doc, &spec.user_id)?;
        let email = scalar(&doc, &spec.email)?;
        let list = doc
            .pointer(&spec.accounts)
            .and_then(Value::as_array)
            .ok_or_else(|| IdentityError::Missing(spec.accounts.clone()))?;
        let mut accounts = Vec::with_capacity(list.len());
        for a in list {
            let role = scalar(a, &spec.account_role)?;
            accounts.push(Membership {
                account_id: scalar(a, &spec.account_id)?,
                account_name: scalar(a, &spec.account_name).unwrap_or_default(),
                role: if role == spec.owner_role {
                    Role::Owner
                } else {
                    Role::Member
                },
            });
        }
        // Only an explicit `false` makes a user passwordless: a missing or
        // odd value leaves them asked for a password, the stricter way.
        let has_password = spec
            .has_password
            .as_deref()
            .and_then(|p| doc.pointer(p))
            .is_none_or(|v| v != &Value::Bool(false));
        Ok(Identity {
            user_id,
            email,
            accounts,
            has_password,
        })
    }
}

fn scalar(doc: &Value, pointer: &str) -> Result<String, IdentityError> {
    let missing = || IdentityError::Missing(pointer.to_string());
    match doc.pointer(pointer).ok_or_else(missing)? {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn spec() -> IdentitySpec {
        let text =
            "[gateway]\nlisten=[{address=\"127.0.0.1:1\"}]\ndata_dir=\"x\"\n[upstream]\naddress=\"127.0.0.1:2\"\n[second_factor]\nkey_env=\"K\"\n";
        Config::parse(text, "t").unwrap().upstream.identity
    }

    #[test]
    fn demo_dashboard_answer_gives_user_and_roles() {
        let body = br#"{"id":"u-alice","email":"alice@acme.test","accounts":[{"id":"acme","name":"Acme","role":"owner"},{"id":7,"name":"X","role":"admin"}]}"#;
        let id = Identity::from_json(body, &spec()).unwrap();
        assert_eq!(id.user_id, "u-alice");
        assert_eq!(id.accounts[0].role, Role::Owner);
        assert_eq!(id.accounts[1].account_id, "7");
        assert_eq!(id.accounts[1].role, Role::Member);
    }

    #[test]
    fn only_an_explicit_false_makes_a_user_passwordless() {
        let mut spec = spec();
        let body = br#"{"id":"u-erin","email":"e@x","accounts":[],"has_password":false}"#;
        assert!(
            Identity::from_json(body, &spec).unwrap().has_password,
            "no pointer configured"
        );
        spec.has_password = Some("/has_password".into());
        assert!(!Identity::from_json(body, &spec).unwrap().has_password);
        for other in [r#""false""#, "0", "null"] {
            let body = format!(r#"{{"id":"u","email":"e","accounts":[],"has_password":{other}}}"#);
            assert!(
                Identity::from_json(body.as_bytes(), &spec).unwrap().has_password,
                "{other}"
            );
        }
    }

    #[test]
    fn answer_without_user_id_is_refused() {
        let body = br#"{"email":"a@b","accounts":[]}"#;
        assert_eq!(
            Identity::from_json(body, &spec()),
            Err(IdentityError::Missing("/id".into()))
        );
    }

    #[test]
    fn html_answer_is_not_an_identity() {
        assert_eq!(Identity::from_json(b"<html>", &spec()), Err(IdentityError::NotJson));
    }
}
