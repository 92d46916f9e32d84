//! The re-validation panel: whether asking the media servers again about access
//! works, shown on the overview to those who may read events.

use maud::{Markup, html};

/// Partial: whether re-validation of server access reaches the media servers.
pub fn revalidation(tz: chrono_tz::Tz, status: Option<&serde_json::Value>) -> Markup {
    let at = |v: &serde_json::Value| v.as_i64().map(|t| crate::views::when(tz, t));
    html! {
        section.panel #revalidation {
            h2 { "Server access re-validation" }
            @match status {
                None => { p.hint { "No pass has run yet." } }
                Some(s) => {
                    @if s["failing"].as_bool() == Some(true) {
                        p.status.bad role="alert" {
                            "Re-validation is failing: the media server could not be asked. Access is kept for the grace period after the last success."
                        }
                    } @else {
                        p.status.ok { "Re-validation is working." }
                    }
                    @if let Some(why) = s["behind"].as_str() {
                        p.status.bad role="status" { "Re-validation cannot keep up: " (why) "." }
                    }
                    dl {
                        dt { "Last pass" } dd { (at(&s["last_run"]).unwrap_or_default()) }
                        dt { "Last success" } dd { (at(&s["last_success"]).unwrap_or_else(|| "never".into())) }
                        @if let Some(e) = s["last_error"].as_str() {
                            dt { "Last error" } dd { (at(&s["last_error_at"]).unwrap_or_default()) ": " (e) }
                        }
                        dt { "Last pass checked" } dd { (s["checked"]) " accounts, revoked " (s["revoked"]) ", kept in grace " (s["kept_in_grace"]) }
                    }
                }
            }
        }
    }
}
