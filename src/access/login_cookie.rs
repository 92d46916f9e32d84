//! Signing a person in to an app that keeps its own session cookie (a rule's
//! `login_cookie`, the Tautulli case): the app's cookies, cached per user, with one
//! sign-in shared by parallel first requests (access_cache's single-flight lock).

use super::decide::Subject;
use super::{LoginCookie, Rule, render};
use crate::app::App;

/// A cookie the app gave when the portal signed the user in to it. A form that needs
/// the person's media token is never sent without one.
pub fn cookie(
    app: &App,
    request_id: &str,
    rule: &Rule,
    who: &Subject,
    values: &[(&str, &str)],
    media_token: Option<&str>,
) -> Option<String> {
    let lc = rule.spec.login_cookie.as_ref()?;
    if lc.sends_media_token() && media_token.is_none() {
        return None;
    }
    let key = format!("{}|{}", rule.spec.name, lc.url);
    let now_ms = || app.clock.now_ms();
    app.access_cache
        .cookie_or_sign_in(&key, who.user_id, now_ms, || {
            let mut all: Vec<(&str, &str)> = values.to_vec();
            all.push(("media_token", media_token.unwrap_or("")));
            sign_in_to_app(app, request_id, rule, lc, &all)
        })
}

/// Posts the rule's form to the app; the cookies it sets and until when (ms) to use them.
fn sign_in_to_app(
    app: &App,
    request_id: &str,
    rule: &Rule,
    lc: &LoginCookie,
    values: &[(&str, &str)],
) -> Option<(String, i64)> {
    let form: Vec<(String, String)> = lc
        .form
        .iter()
        .map(|(k, v)| (k.clone(), render(v, values)))
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let response = app
        .http
        .post(&lc.url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .send(body);
    let response = match response {
        Ok(r) if r.status().as_u16() < 400 => r,
        Ok(r) => {
            crate::log_warn!(
                "req={request_id} login_cookie for rule {:?}: the app answered {}",
                rule.spec.name,
                r.status()
            );
            return None;
        }
        Err(e) => {
            crate::log_warn!(
                "req={request_id} login_cookie for rule {:?}: {e}",
                rule.spec.name
            );
            return None;
        }
    };
    let mut pairs = Vec::new();
    let mut max_age = lc.ttl_secs as i64;
    for v in response.headers().get_all("set-cookie") {
        let Ok(line) = v.to_str() else { continue };
        let mut parts = line.split(';');
        if let Some(pair) = parts.next().map(str::trim).filter(|p| p.contains('=')) {
            pairs.push(pair.to_string());
        }
        for attr in parts {
            if let Some(age) = attr
                .trim()
                .strip_prefix("Max-Age=")
                .and_then(|a| a.parse::<i64>().ok())
            {
                max_age = max_age.min(age.max(0));
            }
        }
    }
    if pairs.is_empty() {
        crate::log_warn!(
            "req={request_id} login_cookie for rule {:?}: the app set no cookie",
            rule.spec.name
        );
        return None;
    }
    Some((pairs.join("; "), app.clock.now_ms() + max_age * 1000))
}
