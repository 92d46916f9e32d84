//! Second-factor pages: the challenge, enrolment and management, and the notice after a
//! recovery code was used.

use maud::html;

use super::layout::{Page, card, notice, page};

pub fn challenge(error: Option<&str>, attempts_left: i64) -> Page {
    page(
        "Two-factor sign-in",
        "mfa-challenge",
        card(
            "Two-factor sign-in",
            html! {
                @if let Some(e) = error {
                    (notice("error", &format!("{e} {attempts_left} attempt{} left.", if attempts_left == 1 { "" } else { "s" })))
                }
                p.lead { "Enter the 6-digit code from your authenticator app, or one of your recovery codes." }
                form.stack method="post" action="/mfa/challenge/verify" {
                    label { span { "Code" }
                        input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" maxlength="32" required autofocus;
                    }
                    button.primary type="submit" { "Verify" }
                }
                p.hint { "Lost your phone? A recovery code (" code.nowrap { "xxxx-xxxx-xxxx" } ") works here once." }
            },
        ),
    )
}

pub fn recovery_used(left: i64, redirect: &str) -> Page {
    page(
        "Recovery code used",
        "recovery-used",
        card(
            "Signed in with a recovery code",
            html! {
                (notice(if left <= 2 { "warn" } else { "info" }, &format!("That code is now used up. You have {left} recovery code{} left.", if left == 1 { "" } else { "s" })))
                p { "If you lost your authenticator, set up a new one and get fresh recovery codes." }
                div.actions {
                    a.button.primary href=(redirect) { "Continue" }
                    a.button.secondary href="/mfa/enroll" { "Manage two-factor sign-in" }
                }
            },
        ),
    )
}

pub struct EnrollPage {
    pub enrolled: bool,
    /// Enrolling on the way in (MFA enforced): no session yet.
    pub pending: bool,
    pub enforced: bool,
    /// A second factor was proved in the last 10 minutes: no code needed to change it.
    pub recent: bool,
    pub recovery_codes_left: i64,
}

/// Enrolment and management. The dynamic parts (QR code, recovery codes) are filled in
/// by login.js from the JSON routes, so the secret is shown only on request.
pub fn enroll(p: &EnrollPage) -> Page {
    let needs_code = p.enrolled && !p.recent;
    page(
        "Two-factor sign-in",
        "mfa-enroll",
        card(
            "Two-factor sign-in",
            html! {
                @if p.pending {
                    (notice("warn", "Your account needs two-factor sign-in. Set it up to continue."))
                }
                div #mfa data-enrolled=(p.enrolled) data-pending=(p.pending) {
                    @if p.enrolled {
                        p.lead { "Two-factor sign-in is on. " (p.recovery_codes_left) " recovery codes left." }
                        @if needs_code {
                            label { span { "Current code (to make changes)" }
                                input #mfa-current type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="32";
                            }
                        }
                        div.actions {
                            button.secondary #mfa-new-codes type="button" { "New recovery codes" }
                            button.secondary #mfa-start type="button" { "Use a new authenticator" }
                            @if !p.enforced { button.secondary #mfa-disable type="button" { "Turn off" } }
                        }
                    } @else {
                        p.lead { "Protect your account with an authenticator app (Aegis, 2FAS, Google Authenticator, 1Password…)." }
                        div.actions #mfa-intro { button.primary #mfa-start type="button" { "Set up" } }
                    }
                    div #mfa-setup hidden {
                        p { "Scan this code with your authenticator app, then enter the 6-digit code it shows." }
                        img #mfa-qr .qr alt="QR code for your authenticator app" width="220" height="220";
                        // On a phone the QR code cannot be scanned by the phone showing it:
                        // the otpauth:// link opens the authenticator app there instead.
                        p.otpauth { a.button.secondary #mfa-otpauth href="#" { "Open in your authenticator app" } }
                        p.hint { "Or enter this key by hand:" }
                        // Filled in as groups of four, each kept on one line.
                        div.key-row {
                            code #mfa-secret .key {}
                            button.secondary.small #mfa-copy type="button" { "Copy key" }
                        }
                        form.stack #mfa-verify {
                            label { span { "Code from the app" }
                                input #mfa-code type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required;
                            }
                            button.primary type="submit" { "Confirm" }
                        }
                    }
                    div #mfa-codes hidden {
                        (notice("warn", "Save these recovery codes now: each works once if you lose your phone, and they will not be shown again."))
                        ul #mfa-code-list .codes {}
                        div.actions {
                            a.button.secondary #mfa-download download="authportal-recovery-codes.txt" href="#" { "Download" }
                            a.button.primary #mfa-continue href="/home" { "Continue" }
                        }
                    }
                    p #mfa-status .status aria-live="polite" {}
                }
                @if !p.pending { p.hint { a href="/home" { "Back" } } }
            },
        ),
    )
}
