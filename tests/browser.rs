//! Real-browser end-to-end tests: headless Chromium, driven over WebDriver
//! (chromedriver) by fantoccini, walks every 2FA flow as a person would,
//! against `tfa-gateway demo` started exactly as a user starts it. Each step
//! leaves a screenshot in `target/e2e-screenshots/<flow>/` (printed when the
//! flow starts, so a failing test's output names it) and every gateway page
//! seen is checked with axe-core; serious or critical violations fail.
//!
//! Needs `chromium`, `chromium-driver` (Debian) and `npm ci --prefix
//! tests/browser` (axe-core); `.ci/run` installs them. The ignored test
//! `readme_screenshots_are_regenerated` rewrites `docs/screenshots/`
//! (`docs/screenshots.sh`).

mod common;

#[path = "browser/authenticator.rs"]
mod authenticator;
#[path = "browser/axe.rs"]
mod axe;
#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/person.rs"]
mod person;
#[path = "browser/steps.rs"]
mod steps;

use authenticator::Authenticator;
use common::tools::{last_code, oathtool};
use driver::{DESKTOP, PHONE};
use person::finish;
use steps::{disable_totp, enable_sms, enable_totp, recovery_codes_shown, Stage};

#[tokio::test(flavor = "multi_thread")]
async fn alice_turns_on_an_authenticator_app_signs_in_with_it_and_with_a_recovery_code() {
    let stage = Stage::start("totp").await;
    let alice = stage.person("alice", DESKTOP).await;
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Dashboard").await;
    alice.shot("dashboard").await;
    alice.visit("/_2fa/settings").await;
    alice.expect_heading("Security settings").await;
    alice.expect_text("Off: no authenticator app is set up.").await;
    alice.shot("settings").await;

    let (secret, codes) = enable_totp(&alice, "alice-password", "Enable two-factor authentication").await;
    alice.press("I have stored them: back to settings").await;
    alice.expect_heading("Security settings").await;
    alice.expect_text("On: an authenticator app code is needed").await;
    alice.shot("settings-on").await;
    alice.sign_out().await;

    // A code from the app.
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Two-factor authentication").await;
    assert!(
        alice.path().await.starts_with("/_2fa/challenge"),
        "{}",
        alice.path().await
    );
    alice.shot("challenge").await;
    alice.fill("Continue", "Code from your app", "123456").await;
    alice.press("Continue").await;
    alice.expect_heading("Two-factor authentication").await;
    alice.expect_text("not right").await;
    alice.shot("challenge-wrong-code").await;
    // Letters are no code: said so, and not counted as a wrong one.
    alice.fill("Continue", "Code from your app", "abcdef").await;
    alice.press("Continue").await;
    alice.expect_heading("Two-factor authentication").await;
    let error = alice.error_beside("Continue", "Code from your app").await;
    assert!(
        error.as_deref().is_some_and(|e| e.starts_with("That is not a code")),
        "{error:?}"
    );
    alice.shot("challenge-not-a-code").await;
    // Enrollment used the current time step; the app's next code is fresh.
    alice
        .fill("Continue", "Code from your app", &oathtool(&secret, 30))
        .await;
    alice.press("Continue").await;
    alice.expect_heading("Dashboard").await;
    alice.expect_text("Signed in as alice@acme.test").await;
    alice.shot("dashboard-after-code").await;
    alice.sign_out().await;

    // A recovery code, behind "Lost your device?".
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Two-factor authentication").await;
    alice.press("Lost your device? Use a recovery code").await;
    alice.fill("Use recovery code", "Recovery code", "aaaa-bbbb-cccc").await;
    alice.press("Use recovery code").await;
    alice.expect_heading("Two-factor authentication").await;
    let error = alice.error_beside("Use recovery code", "Recovery code").await;
    assert!(
        error.as_deref().is_some_and(|e| e.contains("not right")),
        "the refusal is beside the recovery code: {error:?}"
    );
    assert_eq!(alice.error_beside("Continue", "Code from your app").await, None);
    alice.shot("challenge-wrong-recovery-code").await;
    // Still open: the field is there to type the right code into.
    alice.fill("Use recovery code", "Recovery code", &codes[0]).await;
    alice.shot("challenge-recovery-code").await;
    alice.press("Use recovery code").await;
    alice.expect_heading("Dashboard").await;
    alice.shot("dashboard-after-recovery-code").await;
    alice.sign_out().await;

    // A recovery code pasted into the first field is taken whole.
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Two-factor authentication").await;
    alice.fill("Continue", "Code from your app", &codes[1]).await;
    let typed = alice
        .field("Continue", "Code from your app")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some(codes[1].as_str()), "the field cut the code");
    alice.press("Continue").await;
    alice.expect_heading("Dashboard").await;
    alice.sign_out().await;

    // Someone else at this browser: the challenge lets them in.
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Two-factor authentication").await;
    assert!(!alice.sees("Back to Demo Dashboard").await, "a link back would loop");
    alice.press("Sign in as someone else").await;
    alice.expect_heading("Sign in").await;
    assert_eq!(alice.path().await, "/login");
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Two-factor authentication").await;
    alice.press("Sign out").await;
    alice.expect_heading("Sign in").await;
    alice.visit("/_2fa/challenge").await;
    alice.expect_heading("Sign in").await;
    alice.sign_in("alice@acme.test", "alice-password").await;
    // The click only starts the sign-in: wait for the page it leads to,
    // or the field is looked for on the sign-in page still loading.
    alice.expect_heading("Two-factor authentication").await;
    // The app's next code was used above; a recovery code does not wait.
    alice.fill("Continue", "Code from your app", &codes[2]).await;
    alice.press("Continue").await;
    alice.expect_heading("Dashboard").await;

    // Turning it off again takes the password.
    alice.visit("/_2fa/settings").await;
    alice.expect_heading("Security settings").await;
    alice.expect_text("7 recovery codes left").await;
    disable_totp(&alice, "alice-password").await;
    alice.shot("settings-off-again").await;
    alice.sign_out().await;
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Dashboard").await;

    // An error page wears the same header as every page, and its shot runs
    // axe-core on it like on the others.
    alice.visit("/_2fa/no-such-page").await;
    alice.expect_heading("Not found").await;
    let title = alice.client.title().await.expect("the page title");
    assert_eq!(title, "Not found · Demo Dashboard");
    alice.expect_text("Demo Dashboard · Sign-in security").await;
    assert!(alice.sees("Back to Demo Dashboard").await, "a way back");
    alice.shot("not-found").await;
    alice.check_the_checker().await;
    finish("totp", &stage.record);
}

#[tokio::test(flavor = "multi_thread")]
async fn dave_turns_on_sms_codes_and_signs_in_with_a_code_from_a_message() {
    let stage = Stage::start("sms").await;
    let outbox = stage.data.path().join("sms-outbox.jsonl");
    let dave = stage.person("dave", DESKTOP).await;
    dave.prefer_dark().await;
    dave.sign_in("dave@globex.test", "dave-password").await;
    dave.expect_heading("Dashboard").await;
    dave.visit("/_2fa/settings").await;
    dave.expect_heading("Security settings").await;
    dave.shot("settings-dark").await;

    // Signing out and in elsewhere leaves this tab's form stale.
    let settings_tab = dave.open_tab().await;
    dave.sign_out().await;
    dave.sign_in("dave@globex.test", "dave-password").await;
    dave.expect_heading("Dashboard").await;
    dave.close_tab_for(settings_tab).await;
    dave.choose("Send a code", "Country", "United Kingdom").await;
    dave.fill("Send a code", "Mobile phone number", "07400 123456").await;
    dave.fill("Send a code", "Confirm your password", "dave-password").await;
    dave.press("Send a code").await;
    dave.expect_text("The form expired. Please try again.").await;
    dave.shot("stale-form").await;

    // A landline cannot receive the code, and a number of the wrong length
    // is none: each is said beside the number, which stays as typed, in
    // the country chosen.
    for (country, number, said) in [
        ("Germany", "030 123456", "That number cannot receive text messages"),
        (
            "United Kingdom",
            "+44 20 7946 0958",
            "That number cannot receive text messages",
        ),
        ("United Kingdom", "07400 12", "That is not a valid phone number"),
    ] {
        dave.choose("Send a code", "Country", country).await;
        dave.fill("Send a code", "Mobile phone number", number).await;
        dave.fill("Send a code", "Confirm your password", "dave-password").await;
        dave.press("Send a code").await;
        dave.expect_heading("Security settings").await;
        let error = dave.error_beside("Send a code", "Mobile phone number").await;
        assert!(
            error.as_deref().is_some_and(|e| e.starts_with(said)),
            "{number}: {error:?}"
        );
        assert_eq!(dave.error_beside("Send a code", "Confirm your password").await, None);
        let kept = dave.field("Send a code", "Mobile phone number").await;
        let kept = kept.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(kept, number, "the number typed is kept");
        let chosen = dave.field("Send a code", "Country").await;
        let chosen = chosen.find(fantoccini::Locator::Css("option:checked")).await.unwrap();
        assert_eq!(chosen.text().await.unwrap(), country, "the country chosen is kept");
        dave.shot("sms-number-refused").await;
    }

    dave.choose("Send a code", "Country", "United Kingdom").await;
    dave.fill("Send a code", "Mobile phone number", "07400 123456").await;
    dave.fill("Send a code", "Confirm your password", "dave-password").await;
    dave.press("Send a code").await;
    dave.expect_heading("Confirm your phone number").await;
    dave.expect_text("+44••••••••56").await;
    dave.shot("sms-setup").await;
    dave.fill("Verify and turn on", "Code from the message", "000000").await;
    dave.press("Verify and turn on").await;
    dave.expect_heading("Confirm your phone number").await;
    dave.expect_text("That code is not right").await;
    dave.shot("sms-setup-wrong-code").await;
    let code = last_code(&outbox, "+447400123456");
    dave.fill("Verify and turn on", "Code from the message", &code).await;
    dave.press("Verify and turn on").await;
    dave.expect_heading("Security settings").await;
    dave.expect_text("On: codes are sent to +44••••••••56").await;
    dave.shot("settings-sms-on").await;
    dave.sign_out().await;

    dave.sign_in("dave@globex.test", "dave-password").await;
    dave.expect_heading("Two-factor authentication").await;
    dave.expect_text("We will send a code by SMS to +44••••••••56").await;
    assert!(
        !dave.sees("Lost your device?").await,
        "an SMS-only user has no recovery codes to offer"
    );
    assert!(!dave.sees("authenticator app").await, "dave has no app");
    dave.shot("challenge").await;
    dave.press("Send a code by SMS to +44••••••••56").await;
    dave.expect_heading("Two-factor authentication").await;
    dave.expect_text("We sent a code by SMS to +44••••••••56").await;
    dave.shot("challenge-code-sent").await;
    let code = last_code(&outbox, "+447400123456");
    dave.fill("Continue", "Code from the message", &code).await;
    dave.press("Continue").await;
    dave.expect_heading("Dashboard").await;
    dave.expect_text("Signed in as dave@globex.test").await;
    dave.shot("dashboard").await;

    // With an app as well, the page asks for the app's code until a
    // message is sent, then for the message's.
    dave.visit("/_2fa/settings").await;
    enable_totp(&dave, "dave-password", "Enable two-factor authentication").await;
    dave.sign_out().await;
    dave.sign_in("dave@globex.test", "dave-password").await;
    dave.expect_heading("Two-factor authentication").await;
    dave.expect_text("Enter the 6-digit code from your authenticator app.")
        .await;
    dave.press("Send a code by SMS to +44••••••••56").await;
    dave.expect_heading("Two-factor authentication").await;
    dave.expect_text("We sent a code by SMS to +44••••••••56").await;
    assert!(
        !dave.sees("Enter the 6-digit code from your authenticator app").await,
        "the page still asks for the app's code"
    );
    dave.shot("challenge-code-sent-with-app").await;
    let code = last_code(&outbox, "+447400123456");
    dave.fill("Continue", "Code from the message", &code).await;
    dave.press("Continue").await;
    dave.expect_heading("Dashboard").await;

    dave.visit("/_2fa/settings").await;
    dave.fill("Disable SMS codes", "Confirm your password", "dave-password")
        .await;
    dave.press("Disable SMS codes").await;
    dave.expect_heading("Security settings").await;
    dave.expect_text("SMS codes are off.").await;
    assert!(dave.sees("Send a code").await, "SMS can be turned on again");
    dave.shot("settings-sms-off").await;
    finish("sms", &stage.record);
}

#[tokio::test(flavor = "multi_thread")]
async fn alice_requires_2fa_for_acme_so_bob_must_set_it_up_and_once_she_lifts_it_bob_goes_without() {
    let stage = Stage::start("require").await;
    // Bob uses his phone.
    let bob = stage.person("bob", PHONE).await;
    bob.sign_in("bob@acme.test", "bob-password").await;
    bob.expect_heading("Dashboard").await;
    bob.shot("dashboard").await;

    let alice = stage.person("alice", DESKTOP).await;
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Dashboard").await;
    alice.visit("/_2fa/settings").await;
    alice.expect_heading("Security settings").await;
    alice.expect_text("You need two-factor authentication yourself").await;
    alice.shot("settings-owner").await;
    // SMS codes are a second factor too: the note goes, and the toggle saves.
    let outbox = stage.data.path().join("sms-outbox.jsonl");
    enable_sms(&alice, &outbox, "alice-password", "07400 123450", "+447400123450").await;
    assert!(
        !alice.sees("You need two-factor authentication yourself").await,
        "SMS counts"
    );
    alice
        .tick("Save", "Require two-factor authentication for all account users", true)
        .await;
    alice.press("Save").await;
    alice.expect_text("Saved.").await;
    let toggle = alice.field("Save", "Require two-factor authentication").await;
    assert!(toggle.is_selected().await.unwrap(), "the requirement is saved");
    alice.shot("settings-required").await;
    alice
        .expect_text("If you turn this off, you will be asked to set it up again")
        .await;

    // Bob's very next page load.
    bob.visit("/").await;
    bob.expect_heading("Two-factor authentication required").await;
    assert!(bob.path().await.starts_with("/_2fa/enroll"), "{}", bob.path().await);
    bob.expect_text("Acme Inc. requires two-factor authentication").await;
    assert!(!bob.sees("Back to Demo Dashboard").await, "a link back would loop");
    bob.shot("enroll").await;
    // Not now, and not as bob: he signs out, and back in.
    bob.press("Sign out").await;
    bob.expect_heading("Sign in").await;
    bob.sign_in("bob@acme.test", "bob-password").await;
    bob.expect_heading("Two-factor authentication required").await;
    enable_totp(&bob, "bob-password", "Set up two-factor authentication").await;
    // On to where he was going, not to the settings.
    bob.press("I have stored them: continue").await;
    bob.expect_heading("Dashboard").await;
    assert_eq!(bob.path().await, "/");
    bob.expect_text("Signed in as bob@acme.test").await;
    bob.shot("dashboard-after-enrolling").await;
    bob.visit("/_2fa/settings").await;
    assert!(!bob.sees("Require two-factor").await, "members have no toggle");
    bob.shot("settings-member").await;

    // Bob turns his app off again: he is told first what follows, and
    // while acme requires it, his next page is the enroll page once more.
    bob.expect_text(
        "Acme Inc. requires two-factor authentication. If you turn this off, you will be asked to set it up again",
    )
    .await;
    disable_totp(&bob, "bob-password").await;
    assert!(!bob.sees("Back to Demo Dashboard").await, "a link back would loop");
    bob.visit("/").await;
    bob.expect_heading("Two-factor authentication required").await;
    assert!(bob.path().await.starts_with("/_2fa/enroll"), "{}", bob.path().await);
    bob.shot("enroll-again").await;

    // This time by SMS, from the settings the enroll page points to: the
    // number form works while enrollment is due.
    bob.press("SMS codes in your security settings").await;
    bob.expect_heading("Security settings").await;
    enable_sms(&bob, &outbox, "bob-password", "07400 123451", "+447400123451").await;
    bob.shot("settings-sms-on").await;
    bob.visit("/").await;
    bob.expect_heading("Dashboard").await;
    bob.visit("/_2fa/settings").await;
    bob.expect_text("If you turn this off, you will be asked to set it up again")
        .await;
    bob.fill("Disable SMS codes", "Confirm your password", "bob-password")
        .await;
    bob.press("Disable SMS codes").await;
    bob.expect_text("SMS codes are off.").await;

    alice.visit("/_2fa/settings").await;
    alice
        .tick("Save", "Require two-factor authentication for all account users", false)
        .await;
    alice.press("Save").await;
    alice.expect_text("Saved.").await;
    let toggle = alice.field("Save", "Require two-factor authentication").await;
    assert!(!toggle.is_selected().await.unwrap(), "the requirement is removed");
    alice.shot("settings-not-required").await;

    // Bob, still without 2FA, now reaches the dashboard itself.
    bob.visit("/").await;
    bob.expect_heading("Dashboard").await;
    assert_eq!(bob.path().await, "/", "not sent to enroll");
    bob.expect_text("Signed in as bob@acme.test").await;
    bob.shot("dashboard-not-required").await;
    finish("require", &stage.record);
}

/// `TFA_SCREENSHOTS=DIR` (default `docs/screenshots`): the README's pictures.
#[tokio::test(flavor = "multi_thread")]
async fn carol_adds_two_security_keys_signs_in_with_each_and_removes_them() {
    let stage = Stage::start("webauthn").await;
    let carol = stage.person_at_localhost("carol", DESKTOP).await;
    let usb = Authenticator::plug_in(&carol.client, "usb").await;
    carol.sign_in("carol@globex.test", "carol-password").await;
    carol.expect_heading("Dashboard").await;
    carol.visit("/_2fa/settings").await;
    carol.expect_heading("Security settings").await;
    carol.expect_text("Security keys and passkeys").await;
    carol.shot("settings").await;

    // A wrong password is said beside its field; no key is asked for.
    carol.fill("Add security key", "Name of the new key", "YubiKey 5").await;
    carol
        .fill("Add security key", "Confirm your password", "not-her-password")
        .await;
    carol.press("Add security key").await;
    carol.expect_text("password is not right").await;
    carol.shot("add-key-wrong-password").await;
    assert_eq!(usb.credentials(&carol.client).await, 0);

    // Her first factor: the key, and recovery codes with it.
    carol
        .fill("Add security key", "Confirm your password", "carol-password")
        .await;
    carol.press("Add security key").await;
    let codes = recovery_codes_shown(&carol).await;
    carol.shot("recovery-codes").await;
    assert_eq!(usb.credentials(&carol.client).await, 1);
    carol.press("I have stored them: back to settings").await;
    carol.expect_text("YubiKey 5").await;
    carol.expect_text("On: a security key can be used at sign-in.").await;
    carol.shot("settings-one-key").await;

    // The same key again: the browser knows it is registered.
    carol.fill("Add security key", "Name of the new key", "Same key").await;
    carol
        .fill("Add security key", "Confirm your password", "carol-password")
        .await;
    carol.press("Add security key").await;
    carol.expect_text("This security key is already registered.").await;
    assert_eq!(usb.credentials(&carol.client).await, 1);

    // Signing in asks for the key, and the key lets her in.
    carol.sign_out().await;
    carol.sign_in("carol@globex.test", "carol-password").await;
    carol.expect_heading("Two-factor authentication").await;
    carol.expect_text("Use your security key to continue.").await;
    carol.shot("challenge").await;
    carol.press("Use security key").await;
    carol.expect_heading("Dashboard").await;
    carol.shot("dashboard-after-key").await;

    // The JSON API describes the key, never its credential.
    carol.visit("/_2fa/api/status").await;
    let status: serde_json::Value = serde_json::from_str(&carol.page_text().await).expect("JSON status");
    let keys = status["factors"]
        .as_array()
        .and_then(|f| f.iter().find(|k| k["kind"] == "webauthn"))
        .expect("a webauthn entry")["keys"]
        .clone();
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(keys[0]["name"], "YubiKey 5");
    assert!(keys[0]["last_used"].is_u64(), "the sign-in is recorded: {status}");
    assert!(!status.to_string().contains("credential"), "{status}");

    // A second key: a passkey on her laptop, the USB key unplugged.
    usb.unplug(&carol.client).await;
    let laptop = Authenticator::plug_in(&carol.client, "internal").await;
    carol.visit("/_2fa/settings").await;
    carol
        .fill("Add security key", "Name of the new key", "Laptop passkey")
        .await;
    carol
        .fill("Add security key", "Confirm your password", "carol-password")
        .await;
    carol.press("Add security key").await;
    carol.expect_text("Security key added.").await;
    carol.expect_text("Laptop passkey").await;
    carol.shot("settings-two-keys").await;
    carol.sign_out().await;
    carol.sign_in("carol@globex.test", "carol-password").await;
    carol.expect_heading("Two-factor authentication").await;
    carol.press("Use security key").await;
    carol.expect_heading("Dashboard").await;
    assert_eq!(laptop.credentials(&carol.client).await, 1);

    // Removing one needs the password; the other stays.
    carol.visit("/_2fa/settings").await;
    carol.press("Remove a key").await;
    carol.choose("Remove key", "Key", "YubiKey 5").await;
    carol
        .fill("Remove key", "Confirm your password", "carol-password")
        .await;
    carol.press("Remove key").await;
    carol.expect_text("Security key removed.").await;
    assert!(!carol.sees("YubiKey 5").await, "the removed key is no longer listed");
    carol.expect_text("Laptop passkey").await;

    // A recovery code still works in place of the key.
    carol.sign_out().await;
    carol.sign_in("carol@globex.test", "carol-password").await;
    carol.expect_heading("Two-factor authentication").await;
    carol.press("Lost your device? Use a recovery code").await;
    carol.fill("Use recovery code", "Recovery code", &codes[0]).await;
    carol.press("Use recovery code").await;
    carol.expect_heading("Dashboard").await;

    // Without keys, 2FA is off and the codes go with it.
    carol.visit("/_2fa/settings").await;
    carol.press("Remove a key").await;
    carol
        .fill("Remove key", "Confirm your password", "carol-password")
        .await;
    carol.press("Remove key").await;
    carol.expect_text("Security key removed.").await;
    carol.sign_out().await;
    carol.sign_in("carol@globex.test", "carol-password").await;
    carol.expect_heading("Dashboard").await;
    finish("webauthn", &stage.record);
}

#[tokio::test(flavor = "multi_thread")]
async fn bob_remembers_his_laptop_steps_up_for_billing_and_signs_his_phone_out() {
    let stage = Stage::start("sessions").await;
    let laptop = stage.person("bob-laptop", DESKTOP).await;
    let phone = stage.person("bob-phone", PHONE).await;
    laptop.sign_in("bob@acme.test", "bob-password").await;
    laptop.expect_heading("Dashboard").await;
    laptop.visit("/_2fa/settings").await;
    let (_, codes) = enable_totp(&laptop, "bob-password", "Enable two-factor authentication").await;
    laptop.press("I have stored them: back to settings").await;

    // 2FA turned on in this session: the billing page asks for it again.
    laptop.visit("/").await;
    laptop.press("Billing").await;
    laptop.expect_heading("Two-factor authentication").await;
    laptop
        .expect_text("The page you opened needs your second factor again.")
        .await;
    laptop.shot("step-up").await;
    laptop.fill("Continue", "Code from your app", &codes[0]).await;
    laptop.press("Continue").await;
    laptop.expect_heading("Billing").await;
    laptop.shot("billing").await;

    // A sign-in that remembers the laptop.
    laptop.sign_out().await;
    laptop.sign_in("bob@acme.test", "bob-password").await;
    laptop.expect_heading("Two-factor authentication").await;
    laptop.fill("Continue", "Code from your app", &codes[1]).await;
    laptop.tick("Continue", "Remember this device for 30 days", true).await;
    laptop.shot("challenge-remember").await;
    laptop.press("Continue").await;
    laptop.expect_heading("Dashboard").await;
    laptop.sign_out().await;
    laptop.sign_in("bob@acme.test", "bob-password").await;
    laptop.expect_heading("Dashboard").await;

    // The phone signs in too; the laptop sees both and signs the phone out.
    phone.sign_in("bob@acme.test", "bob-password").await;
    phone.expect_heading("Two-factor authentication").await;
    phone.fill("Continue", "Code from your app", &codes[2]).await;
    phone.press("Continue").await;
    phone.expect_heading("Dashboard").await;
    laptop.visit("/_2fa/settings").await;
    laptop.expect_text("Where you are signed in").await;
    laptop.expect_text("This session").await;
    laptop.expect_text("Remembered devices").await;
    laptop.shot("settings-sessions-devices").await;
    laptop.press("Sign out everywhere else").await;
    laptop.expect_text("Signed out there, and at the dashboard too.").await;
    phone.visit("/").await;
    phone.expect_heading("Sign in").await;

    // Forgetting the laptop: its next sign-in asks again.
    laptop.press("Forget").await;
    laptop.expect_text("Device forgotten").await;
    laptop.sign_out().await;
    laptop.sign_in("bob@acme.test", "bob-password").await;
    laptop.expect_heading("Two-factor authentication").await;
    finish("sessions", &stage.record);
}

/// erin has no password: she signs in through the dashboard's single
/// sign-on, turns the app on without typing one (she just signed in), and
/// later signs in again through the same button and the app's code. The
/// "sign in again" address (shown once the five-minute window has passed;
/// that wait is tests/single_sign_on.rs's) leads through it and back.
#[tokio::test(flavor = "multi_thread")]
async fn erin_signs_in_with_single_sign_on_and_confirms_changes_by_a_fresh_sign_in() {
    let stage = Stage::start("sso").await;
    let erin = stage.person("erin", DESKTOP).await;
    erin.sign_in_with_sso("/login", "erin@acme.test").await;
    erin.expect_heading("Dashboard").await;
    erin.expect_text("Signed in as erin@acme.test").await;
    erin.visit("/_2fa/settings").await;
    erin.expect_heading("Security settings").await;
    erin.expect_text("You signed in a moment ago, so no password is needed.")
        .await;
    erin.shot("settings-no-password").await;

    erin.press("Enable two-factor authentication").await;
    erin.expect_heading("Set up your authenticator app").await;
    let secret = steps::secret_shown(&erin).await;
    erin.fill("Verify and turn on", "Code from the app", &oathtool(&secret, 0))
        .await;
    erin.press("Verify and turn on").await;
    let codes = recovery_codes_shown(&erin).await;
    erin.press("I have stored them: back to settings").await;
    erin.expect_text("On: an authenticator app code is needed").await;
    erin.sign_out().await;

    // Back through single sign-on: the code first, then the dashboard.
    erin.sign_in_with_sso("/login", "erin@acme.test").await;
    erin.expect_heading("Two-factor authentication").await;
    erin.shot("challenge-after-sso").await;
    erin.fill("Continue", "Code from your app", &oathtool(&secret, 30))
        .await;
    erin.press("Continue").await;
    erin.expect_heading("Dashboard").await;

    // Signing in again from the address the settings link to comes back
    // to the settings, where turning it off needs no password.
    erin.sign_in_with_sso("/login?next=/_2fa/settings", "erin@acme.test")
        .await;
    erin.expect_heading("Two-factor authentication").await;
    erin.fill("Continue", "Code from your app", &codes[0]).await;
    erin.press("Continue").await;
    erin.expect_heading("Security settings").await;
    erin.expect_text("no password is needed").await;
    erin.press("Disable two-factor authentication").await;
    erin.expect_text("Off: no authenticator app is set up.").await;
    erin.shot("settings-off").await;
    finish("sso", &stage.record);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "rewrites docs/screenshots; run by docs/screenshots.sh"]
async fn readme_screenshots_are_regenerated() {
    let out = std::path::PathBuf::from(std::env::var("TFA_SCREENSHOTS").unwrap_or_else(|_| "docs/screenshots".into()));
    std::fs::create_dir_all(&out).expect("the screenshot folder");
    let stage = Stage::start("readme").await;
    let alice = stage.person("alice", DESKTOP).await;
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Dashboard").await;
    alice.visit("/_2fa/settings").await;
    alice.expect_heading("Security settings").await;
    alice.save_screenshot(&out.join("settings.png")).await;
    alice
        .fill(
            "Enable two-factor authentication",
            "Confirm your password",
            "alice-password",
        )
        .await;
    alice.press("Enable two-factor authentication").await;
    alice.expect_heading("Set up your authenticator app").await;
    alice.save_screenshot(&out.join("setup.png")).await;
    let secret = steps::secret_shown(&alice).await;
    alice
        .fill("Verify and turn on", "Code from the app", &oathtool(&secret, 0))
        .await;
    alice.press("Verify and turn on").await;
    alice.expect_heading("Your recovery codes").await;
    alice.save_screenshot(&out.join("recovery-codes.png")).await;
    alice.press("I have stored them: back to settings").await;
    alice
        .tick("Save", "Require two-factor authentication for all account users", true)
        .await;
    alice.press("Save").await;
    alice.expect_text("Saved.").await;
    alice.save_screenshot(&out.join("settings-on.png")).await;
    alice.sign_out().await;
    alice.sign_in("alice@acme.test", "alice-password").await;
    alice.expect_heading("Two-factor authentication").await;
    alice.save_screenshot(&out.join("challenge.png")).await;

    let bob = stage.person("bob", DESKTOP).await;
    bob.sign_in("bob@acme.test", "bob-password").await;
    bob.expect_heading("Two-factor authentication required").await;
    bob.save_screenshot(&out.join("enroll.png")).await;

    let phone = stage.person("bob-phone", PHONE).await;
    phone.sign_in("bob@acme.test", "bob-password").await;
    phone.expect_heading("Two-factor authentication required").await;
    phone.save_screenshot(&out.join("enroll-phone.png")).await;
    phone
        .fill(
            "Set up two-factor authentication",
            "Confirm your password",
            "bob-password",
        )
        .await;
    phone.press("Set up two-factor authentication").await;
    phone.expect_heading("Set up your authenticator app").await;
    phone.save_screenshot(&out.join("setup-phone.png")).await;
    println!("README screenshots in {}", out.display());
}
