use super::*;

const FRAME: Frame<'static> = Frame {
    dashboard: "Acme Console",
    prefix: "/_2fa",
    csrf: "tok",
    failed: None,
};

fn challenge_with(error: Option<(CodeField, &str)>) -> String {
    let view = ChallengeView {
        next: "/",
        error,
        flash: None,
        totp: true,
        sms: None,
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
