//! The access-rule tester: how /auth/verify would judge a request (a URL, a method, an
//! address, and optionally a user), as a dry run of the same `decide`. It changes
//! nothing: no sign-in to an app, no media-server lookup, no event, no rate limit spent.

use std::borrow::Cow;
use std::net::IpAddr;

use super::decide::{self, Decision, Facts, Headers, Subject};
use crate::app::App;
use crate::db::users;
use crate::error::{AppError, Result};

/// The request to judge.
pub struct Probe<'a> {
    /// A username or a user's uuid; None: nobody signed in.
    pub user: Option<&'a str>,
    pub url: &'a str,
    pub method: &'a str,
    pub ip: IpAddr,
}

/// What /auth/verify would answer, in a person's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
    SignIn,
    /// The app needs a second factor this person has not given (or not set up).
    TwoFactor,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::SignIn => "sign_in",
            Outcome::TwoFactor => "two_factor",
        }
    }
}

pub struct Verdict {
    pub outcome: Outcome,
    /// The rule that decided; None: the default policy.
    pub rule: Option<String>,
    /// The headers the app would get (a media token shown as a placeholder).
    pub headers: Headers,
    /// Why it was refused, as the person would be told.
    pub message: Option<Cow<'static, str>>,
}

/// Judges `probe` under the current rules. A URL or method that has no canonical form
/// and an unknown user are a 400 naming what is wrong.
pub fn judge(app: &App, probe: &Probe) -> Result<Verdict> {
    let rules = app.access_rules()?;
    decide::check_method(probe.method).map_err(AppError::bad_request)?;
    let (scheme, authority, uri) = decide::split_url(probe.url).map_err(AppError::bad_request)?;
    let target = rules
        .target(scheme, authority, &uri, probe.method)
        .map_err(|e| AppError::bad_request(format!("the URL has no canonical form: {e}")))?;
    let subject = match probe.user {
        Some(user) => Some(subject(app, user)?),
        None => None,
    };
    let subject = subject.flatten().map(std::sync::Arc::new);
    let session = move || Ok(subject.clone());
    let facts = Facts {
        target: &target,
        ip: probe.ip,
        session: &session,
        header: &|_| None,
        request_id: "access-test",
        live: false,
    };
    let decision = decide::decide(app, &rules, &facts)?;
    let rule = rules.find(&target).map(|r| r.spec.name.clone());
    let (outcome, headers, message) = match decision {
        Decision::Allow { headers, .. } => (Outcome::Allow, headers, None),
        Decision::SignIn { fresh: false } => (Outcome::SignIn, Vec::new(), None),
        Decision::SignIn { fresh: true } => (Outcome::TwoFactor, Vec::new(), None),
        Decision::Forbidden {
            message,
            two_factor,
        } => {
            let outcome = if two_factor {
                Outcome::TwoFactor
            } else {
                Outcome::Deny
            };
            (outcome, Vec::new(), Some(message))
        }
        // A dry run asks no media server, so it is never throttled.
        Decision::Throttled { .. } => (Outcome::Deny, Vec::new(), None),
    };
    Ok(Verdict {
        outcome,
        rule,
        headers,
        message,
    })
}

/// The user by username or uuid, as a session of theirs would present them: None when
/// they exist but no longer have access (such a session signs in again).
fn subject(app: &App, user: &str) -> Result<Option<Subject>> {
    let id = {
        let conn = app.db.conn()?;
        match users::id_by_username(&conn, user)? {
            Some(id) => Some(id),
            None => users::id_by_uuid(&conn, user)?,
        }
    };
    let id = id.ok_or_else(|| AppError::bad_request(format!("no user is named {user:?}")))?;
    Subject::of_user(app, id)
}
