//! The access-rules page (`/admin/access`): the default policy, the rules as an ordered
//! list of forms with every field explained, and the tester. admin.js turns the forms
//! into the "access" section's JSON and saves it through the settings API.

use maud::{Markup, html};

use super::{Frame, console, status_line};
use crate::access::{AccessSpec, MediaProvider, NetworkMode, Policy, RuleSpec};
use crate::views::layout::notice;

pub struct AccessPage<'a> {
    pub version: i64,
    pub spec: &'a AccessSpec,
    /// What the saved rules do that their owner may not expect.
    pub warnings: &'a [String],
    /// The groups to offer as checkboxes (groups::known).
    pub groups: &'a [String],
    pub can_write: bool,
}

const POLICIES: &[(Policy, &str, &str)] = &[
    (
        Policy::SignedIn,
        "signed_in",
        "Signed in: anyone with access to the media server",
    ),
    (
        Policy::TwoFactor,
        "two_factor",
        "Two-factor: signed in and passed a second factor",
    ),
    (Policy::Bypass, "bypass", "Bypass: anyone, signed in or not"),
    (Policy::Deny, "deny", "Deny: no one"),
];

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn policy_select(field: &str, current: Policy, w: bool) -> Markup {
    html! {
        select data-f=(field) disabled[!w] {
            @for (p, value, text) in POLICIES {
                option value=(value) selected[*p == current] { (text) }
            }
        }
    }
}

/// Partial: a field with its label and what it does.
fn field(label: &str, hint: &str, control: Markup) -> Markup {
    html! {
        label.field { span.label { (label) } (control) small.hint { (hint) } }
    }
}

fn check(f: &str, on: bool, w: bool, text: &str) -> Markup {
    html! {
        label.check { input type="checkbox" data-f=(f) checked[on] disabled[!w]; (text) }
    }
}

fn lines(list: &[String]) -> String {
    list.join("\n")
}

/// Partial: one rule's form. `index` None: the empty rule admin.js clones for "Add rule".
fn rule_card(r: &RuleSpec, index: Option<usize>, groups: &[String], w: bool) -> Markup {
    let no = index.map_or(String::new(), |i| (i + 1).to_string());
    let mut offered: Vec<&str> = groups.iter().map(String::as_str).collect();
    for g in &r.groups {
        if !offered.contains(&g.as_str()) {
            offered.push(g);
        }
    }
    let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let lc = r.login_cookie.as_ref();
    let lc_form: Vec<String> = lc
        .map(|l| l.form.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    let gives = !r.headers.is_empty() || r.sends_media_token() || lc.is_some();
    let native = r.native_apps.media_token || r.native_apps.trusted_ip_hours > 0;
    let provider = |p: Option<MediaProvider>| r.media_provider == p;
    html! {
        li.rule-card data-rule {
            div.rule-head {
                h3 { "Rule " span data-no { (no) } }
                (check("enabled", r.enabled, w, "Enabled"))
                @if w {
                    div.row-actions {
                        button.secondary.small type="button" data-move="up" { "Move up" }
                        button.secondary.small type="button" data-move="down" { "Move down" }
                        button.secondary.small type="button" data-remove-rule { "Delete" }
                    }
                }
            }
            p.notice.error data-rule-error role="alert" hidden {}
            div.rule-fields {
                (field("Name", "Shown in the tester, the history and error messages, e.g. \"sonarr admins\".",
                    html! { input type="text" data-f="name" maxlength="100" readonly[!w] value=(r.name); }))
                fieldset.rule-part {
                    legend { "Which requests" }
                    (field("Hosts", "One per line: an exact host (sonarr.example.com) or *.example.com for every subdomain (not example.com itself). Compared lowercase, without port or trailing dot. Empty: every host.",
                        html! { textarea data-f="hosts" rows="2" spellcheck="false" autocapitalize="none" readonly[!w] { (lines(&r.hosts)) } }))
                    (field("Paths", "One prefix per line, starting with /: /admin covers /admin, /admin/x and /administrator; /admin/ covers /admin and what is under it. Compared after decoding and resolving dot segments; case-sensitive; the query never counts. Empty: every path.",
                        html! { textarea data-f="paths" rows="2" spellcheck="false" autocapitalize="none" readonly[!w] { (lines(&r.paths)) } }))
                    (field("Path regex", "A regular expression the path must match as well, e.g. ^/api/v[0-9]+/. Empty: none.",
                        html! { input type="text" data-f="path_regex" spellcheck="false" autocapitalize="none" readonly[!w] value=(r.path_regex.as_deref().unwrap_or("")); }))
                    (field("Methods", "Comma-separated, e.g. GET, HEAD. Empty: every method.",
                        html! { input type="text" data-f="methods" list="access-methods" autocapitalize="characters" readonly[!w] value=(r.methods.join(", ")); }))
                    (check("allow_encoded_slash", r.allow_encoded_slash, w, "The app needs encoded slashes (%2F, %5C) in paths: keep them on this rule's hosts instead of refusing the request"))
                }
                fieldset.rule-part {
                    legend { "Who may pass" }
                    (field("Policy", "What a matching request needs.", policy_select("policy", r.policy, w)))
                    (field("Users", "Usernames or user UUIDs, one per line. With groups, belonging to either lets a person in; both empty: anyone the policy lets in.",
                        html! { textarea data-f="users" rows="2" spellcheck="false" autocapitalize="none" readonly[!w] { (lines(&r.users)) } }))
                    fieldset.checks data-groups {
                        legend { "Groups" }
                        @for g in &offered {
                            label.check { input type="checkbox" data-group value=(g) checked[r.groups.iter().any(|x| x == g)] disabled[!w]; (g) }
                        }
                        label.field { span.label { "Other groups" } input type="text" data-f="groups_other" placeholder="comma-separated" readonly[!w]; }
                        p.hint { "Members of any ticked group pass. Provider groups (plex-friend, jellyfin-user...) are set at each sign-in; others are assigned on a user's page." }
                    }
                    (field("Networks", "Client addresses, one per line: an IP or a CIDR (192.168.1.0/24, fd00::/8). The address is the one your trusted proxy reports.",
                        html! { textarea data-f="networks" rows="2" spellcheck="false" readonly[!w] { (lines(&r.networks)) } }))
                    (field("Network mode", "What the networks mean.", html! {
                        select data-f="network_mode" disabled[!w] {
                            option value="bypass" selected[r.network_mode == NetworkMode::Bypass] { "Bypass: clients in these networks pass without signing in" }
                            option value="require" selected[r.network_mode == NetworkMode::Require] { "Require: only clients in these networks may pass at all" }
                        }
                    }))
                }
                details.rule-part open[gives] {
                    summary { "What the app gets" }
                    (field("Injected headers", "One per line as Name: template, e.g. Remote-User: {user}. Placeholders: {user}, {email}, {name}, {groups}, {uid}. Host, Content-Length, Set-Cookie and the like cannot be set.",
                        html! { textarea data-f="headers" rows="2" spellcheck="false" autocapitalize="none" readonly[!w] { (lines(&headers)) } }))
                    (check("inject_media_token", r.inject_media_token, w, "Send the person's own media-server token (X-Plex-Token or X-Emby-Token)"))
                    (field("Whose media token", "Required when the rule sends a token (here or as {media_token} below): a Plex app must never get a Jellyfin token.", html! {
                        select data-f="media_provider" disabled[!w] {
                            option value="" selected[provider(None)] { "not set" }
                            option value="plex" selected[provider(Some(MediaProvider::Plex))] { "Plex" }
                            option value="jellyfin" selected[provider(Some(MediaProvider::Jellyfin))] { "Jellyfin" }
                            option value="emby" selected[provider(Some(MediaProvider::Emby))] { "Emby" }
                        }
                    }))
                    (check("media_token_required", r.media_token_required, w, "Refuse (403) someone without an account on that server instead of passing them without a token"))
                    fieldset.rule-part.inner {
                        legend { "Login cookie" }
                        p.hint { "For an app with its own sign-in (Tautulli): the portal posts a form to the app and hands its session cookie to the person. Leave the address empty for none." }
                        (field("Sign-in address", "Where the app signs people in, e.g. http://tautulli:8181/auth/signin.",
                            html! { input type="url" data-f="login_cookie.url" placeholder="http://" readonly[!w] value=(lc.map_or("", |l| l.url.as_str())); }))
                        (field("Form fields", "One per line as field=template: {user}, {email}, {uid}, {media_token}.",
                            html! { textarea data-f="login_cookie.form" rows="2" spellcheck="false" autocapitalize="none" readonly[!w] { (lines(&lc_form)) } }))
                        (field("Reuse the cookie for (seconds)", "When the app does not say how long its cookie lasts.",
                            html! { input type="number" data-f="login_cookie.ttl_secs" min="0" readonly[!w] value=(lc.map_or(3600, |l| l.ttl_secs)); }))
                    }
                }
                details.rule-part open[native] {
                    summary { "Native apps (TV and phone apps that cannot sign in)" }
                    (check("native_apps.media_token", r.native_apps.media_token, w, "Let a request carrying a media-server token the portal can check pass as its owner (Plex and Jellyfin tokens)"))
                    (field("Trust a sign-in address for (hours)", "A request from an address where an allowed person signed in within this many hours passes, as no one (0: off).",
                        html! { input type="number" data-f="native_apps.trusted_ip_hours" min="0" max="8760" readonly[!w] value=(r.native_apps.trusted_ip_hours); }))
                }
            }
        }
    }
}

pub fn access(f: &Frame, p: &AccessPage) -> Markup {
    let w = p.can_write;
    console(
        "Access rules",
        "admin-access",
        f,
        html! {
            h1 { "Access rules" }
            p.lead { "Which signed-in people may reach which apps behind your reverse proxy (forward auth, /auth/verify). Rules are tried top to bottom; the first whose hosts, paths and methods match decides. A request no rule matches gets the default policy." }
            p.meta {
                "Version " strong #access-version { (p.version) } " · "
                a href="/admin/settings/access" { "Advanced: edit as JSON, history" }
                " · " a href="/admin/roles" { "Console roles" }
            }
            @for w in p.warnings { (notice("warn", w)) }
            datalist #access-methods { @for m in METHODS { option value=(m) {} } }
            form #access-form .stack data-version=(p.version) novalidate {
                (field("Default policy", "What a request needs when no rule matches.", policy_select("default_policy", p.spec.default_policy, w)))
                ol #access-rules .rules {
                    @for (i, r) in p.spec.rules.iter().enumerate() { (rule_card(r, Some(i), p.groups, w)) }
                }
                p.hint #access-empty hidden[!p.spec.rules.is_empty()] { "No rules: every request gets the default policy." }
                @if w {
                    template #access-rule-template { (rule_card(&RuleSpec::default(), None, p.groups, w)) }
                    div.actions { button.secondary type="button" #access-add { "Add rule" } }
                    p.hint { "A new rule starts disabled: tick Enabled when it is ready." }
                    p #access-error .notice.error role="alert" hidden {}
                    label for="access-reason" { "Reason for the change (optional, kept in the history)" }
                    input #access-reason type="text" maxlength="500" autocomplete="off";
                    div.actions { button.primary type="submit" #access-save { "Save rules" } }
                } @else {
                    p.hint { "Your role may read the rules but not change them." }
                }
            }
            (status_line("access-status"))
            section.panel #access-tester {
                h2 { "Test a request" }
                p.hint { "How /auth/verify would answer, under the saved rules. Nothing is changed or logged." }
                form #access-test-form .stack {
                    label { "User (username or UUID; empty: nobody signed in)" input #test-user type="text" autocomplete="off" autocapitalize="none"; }
                    label { "URL" input #test-url type="url" required placeholder="https://app.example.com/path"; }
                    label { "Method" select #test-method { @for m in METHODS { option value=(m) { (m) } } } }
                    label { "Client IP" input #test-ip type="text" required value="192.168.1.5"; }
                    div.actions { button.primary type="submit" #test-run { "Test" } }
                }
                (status_line("test-status"))
                dl #test-result .test-result hidden {
                    dt { "Decision" } dd #test-decision {}
                    dt { "Rule" } dd #test-rule {}
                    dt { "Headers" } dd #test-headers {}
                    dt #test-message-label hidden { "Message" } dd #test-message hidden {}
                }
            }
        },
    )
}
