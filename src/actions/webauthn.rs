//! Security keys as steps the pages and the JSON API share: adding one
//! (the password confirmed first), removing one (the password confirmed),
//! and passing the sign-in with one, which is a guess like a code: limited
//! by the same lockout, and a new session id once it passes.

use std::sync::Arc;

use super::{guard, release, require_confirmation, user, Refusal, Released};
use crate::factors::{Passed, Registered};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::session::Found;

const KEY: guard::Secret = guard::Secret {
    failed_event: "challenge_failed",
    lockout_detail: "wrong security key answers",
};

/// The creation options for a new key named `name`; the password must have
/// been confirmed in this session.
pub async fn begin_registration(gw: &Arc<Gateway>, found: &Found, name: &str) -> Result<serde_json::Value, Refusal> {
    require_confirmation(gw, found).await?;
    let user = user(gw, found).await?;
    gw.factors
        .begin_registration(&user.id, &user.email, name, found.token_hash)
        .await
        .map_err(Refusal::from)
}

/// Adds the key the browser made for this session's registration.
pub async fn finish_registration(
    gw: &Arc<Gateway>,
    found: &Found,
    credential: &str,
    client: Option<&str>,
) -> Result<Registered, Refusal> {
    let user_id = found.session.user_id.to_string();
    let made = gw
        .factors
        .finish_registration(&user_id, found.token_hash, credential)
        .await
        .map_err(Refusal::from)?;
    gw.directory.set_kinds(&user_id, made.kinds);
    Metrics::inc(&gw.metrics.enrollments);
    gw.audit(
        "webauthn_added",
        Some(&user_id),
        client.map(str::to_string),
        made.name.clone(),
    );
    Ok(made)
}

/// Removes a key; the password must have been confirmed just before.
pub async fn remove(gw: &Arc<Gateway>, found: &Found, id: &str, client: Option<&str>) -> Result<(), Refusal> {
    let user_id = found.session.user_id.to_string();
    let (name, kinds) = gw.factors.remove_key(&user_id, id).await.map_err(Refusal::from)?;
    gw.directory.set_kinds(&user_id, kinds);
    gw.audit("webauthn_removed", Some(&user_id), client.map(str::to_string), name);
    Ok(())
}

/// The request options for the user's keys, to pass the second factor.
pub async fn begin_sign_in(gw: &Arc<Gateway>, found: &Found) -> Result<serde_json::Value, Refusal> {
    let user_id = found.session.user_id.to_string();
    gw.factors
        .begin_sign_in(&user_id, found.token_hash)
        .await
        .map_err(Refusal::from)
}

/// Checks the key's signed answer; a right one releases the held session.
pub async fn finish_sign_in(
    gw: &Arc<Gateway>,
    found: &Found,
    credential: &str,
    remember: bool,
    client: Option<&str>,
) -> Result<Released, Refusal> {
    let user_id = found.session.user_id.to_string();
    let guess = guard::start(gw, &user_id, client, KEY).await?;
    let passed = gw
        .factors
        .finish_sign_in(&user_id, found.token_hash, credential)
        .await
        .map_err(Refusal::from)?;
    let Some(passed @ Passed::Webauthn) = passed else {
        let after = guess.wrong().await;
        Metrics::inc(&gw.metrics.challenges_failed);
        let wrong = Refusal::new(401, "key_refused", "That security key was not accepted.");
        return Err(guard::refusal(&after, wrong));
    };
    guess.right().await;
    release(gw, found, passed, remember, client.map(str::to_string)).await
}
