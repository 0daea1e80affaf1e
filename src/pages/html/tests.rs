use super::*;

const FRAME: Frame<'static> = Frame {
    dashboard: "Acme Console",
    prefix: "/_2fa",
    csrf: "tok",
    failed: None,
    dashboard_reachable: true,
    confirm: ConfirmBy::Password,
};

fn challenge_with(error: Option<(CodeField, &str)>) -> String {
    let view = ChallengeView {
        next: "/",
        error,
        totp: true,
        sms: None,
        sms_sent: false,
        recovery: true,
        keys: false,
        remember_days: 0,
        step_up: false,
    };
    challenge(&FRAME, &view).into_string()
}

/// The part of `page` from `start` up to (not including) `end`.
fn between<'p>(page: &'p str, start: &str, end: &str) -> &'p str {
    let from = page.find(start).unwrap_or_else(|| panic!("{start} in {page}"));
    let to = from + page[from..].find(end).unwrap_or_else(|| panic!("{end} after {start}"));
    &page[from..to]
}

#[test]
fn a_refused_recovery_code_is_said_beside_the_recovery_field_with_its_details_open() {
    let page = challenge_with(Some((CodeField::Recovery, "That code is not right.")));
    let recovery = between(&page, "<details open>", "</details>");
    let field_to_button = between(recovery, r#"id="recovery-code""#, "<button");
    assert!(
        field_to_button
            .contains(r#"<p class="error" id="recovery-code-error" role="alert">That code is not right.</p>"#),
        "{field_to_button}"
    );
    assert!(field_to_button.contains(r#"aria-describedby="recovery-code-error""#));
    assert!(
        field_to_button.contains("autofocus"),
        "the focus goes to the field to retype"
    );
    let app_form = between(&page, "<form", "</form>");
    assert!(!app_form.contains("error"), "nothing said at the app code: {app_form}");
    assert!(!app_form.contains("autofocus"), "one autofocus on the page: {app_form}");
}

#[test]
fn a_refused_app_code_is_said_beside_the_app_field_and_the_recovery_details_stay_closed() {
    let page = challenge_with(Some((CodeField::App, "That code is not right.")));
    let app_form = between(&page, "<form", "</form>");
    assert!(app_form.contains(r#"id="code-error""#), "{app_form}");
    assert!(app_form.contains("autofocus"));
    let recovery = between(&page, "<details>", "</details>");
    assert!(
        !recovery.contains("error") && !recovery.contains("autofocus"),
        "{recovery}"
    );
}

#[test]
fn the_recovery_form_says_which_field_it_posts() {
    let page = challenge_with(None);
    let recovery = between(&page, "<details>", "</details>");
    assert!(
        recovery.contains(r#"<input type="hidden" name="factor" value="recovery">"#),
        "{recovery}"
    );
    assert_eq!(CodeField::of_form(Some(CodeField::RECOVERY)), CodeField::Recovery);
    assert_eq!(CodeField::of_form(Some("anything else")), CodeField::App);
    assert_eq!(CodeField::of_form(None), CodeField::App);
}

fn challenge_of(totp: bool, sms: Option<&str>, sms_sent: bool, recovery: bool) -> String {
    let view = ChallengeView {
        next: "/",
        error: None,
        totp,
        sms,
        sms_sent,
        recovery,
        keys: false,
        remember_days: 0,
        step_up: false,
    };
    challenge(&FRAME, &view).into_string()
}

#[test]
fn an_sms_only_user_is_asked_to_send_a_code_first_and_offered_no_recovery_code() {
    let page = challenge_of(false, Some("+44••56"), false, false);
    assert!(
        !page.contains("Use a recovery code") && !page.contains(r#"name="factor""#),
        "{page}"
    );
    let send = page.find("Send a code by SMS").unwrap();
    let field = page.find("Code from the message").unwrap();
    assert!(send < field, "the button comes first: {page}");
    assert!(!page.contains("autofocus"), "the focus stays on the way down the page");
}

#[test]
fn after_a_message_is_sent_the_page_asks_for_its_code() {
    let page = challenge_of(true, Some("+44••56"), true, true);
    assert!(
        page.contains("We sent a code by SMS to <strong>+44••56</strong>"),
        "{page}"
    );
    assert!(page.contains("Code from the message") && !page.contains("Code from your app"));
    assert!(page.contains("A code from your authenticator app works too."));
    assert!(page.contains("Send another code to +44••56"));
}

#[test]
fn the_main_code_field_holds_a_pasted_recovery_code_whole() {
    let page = challenge_of(true, None, false, true);
    let field = between(&page, r#"id="code""#, ">");
    assert!(field.contains(r#"maxlength="32""#), "{field}");
}

#[test]
fn a_page_that_cannot_lead_back_to_the_dashboard_offers_the_ways_out() {
    let frame = Frame {
        dashboard_reachable: false,
        ..FRAME
    };
    let view = ChallengeView {
        next: "/",
        error: None,
        totp: true,
        sms: None,
        sms_sent: false,
        recovery: true,
        keys: false,
        remember_days: 0,
        step_up: false,
    };
    let page = challenge(&frame, &view).into_string();
    assert!(!page.contains("Back to Acme Console"), "{page}");
    let out = between(&page, r#"<div class="ways-out">"#, "</footer>");
    assert!(out.contains(r#"action="/_2fa/sign-out""#) && out.contains(r#"action="/_2fa/switch-user""#));
    assert_eq!(out.matches(r#"name="csrf_token" value="tok""#).count(), 2, "{out}");
}

#[test]
fn a_user_without_a_password_is_never_asked_for_one() {
    let recent = Frame {
        confirm: ConfirmBy::RecentSignIn,
        ..FRAME
    };
    let page = password_form(&recent, "/settings/totp/enable", "Enable", false).into_string();
    assert!(!page.contains("type=\"password\""), "{page}");
    assert!(page.contains("no password is needed"), "{page}");
    let stale = Frame {
        confirm: ConfirmBy::SignInAgain("/login"),
        ..FRAME
    };
    let page = password_form(&stale, "/settings/totp/enable", "Enable", false).into_string();
    assert!(!page.contains("type=\"password\""), "{page}");
    assert!(page.contains(r#"<a href="/login">sign in again</a>"#), "{page}");
}
