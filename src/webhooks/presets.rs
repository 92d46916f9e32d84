//! Ready-made starting points for the console's webhook form (Pangolin, ntfy, Gotify,
//! Discord, generic JSON): what each fills in, and what the owner must still add. A
//! preset never carries a live destination or credential: the URL and header values
//! are left for the owner, with a hint of their shape.

use serde::Serialize;

/// A header a preset names; its value is the owner's (`hint` shows its shape).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PresetHeader {
    pub name: &'static str,
    pub hint: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Preset {
    /// Stable key the console's buttons name.
    pub id: &'static str,
    pub label: &'static str,
    /// What the preset does and what the owner still has to fill in.
    pub about: &'static str,
    pub events: &'static [&'static str],
    pub method: &'static str,
    /// The shape of the URL (shown as the field's placeholder, never filled in).
    pub url_hint: &'static str,
    pub headers: &'static [PresetHeader],
    pub body_format: &'static str,
    pub body_template: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        id: "pangolin",
        label: "Pangolin: allow the signed-in address",
        about: "Puts a person's sign-in address into their own Pangolin resource rule. Once per person, create the rule in Pangolin (action ACCEPT, match IP, a priority nobody else has) and note its rule id; then give the URL its resource and rule ids, an API key with the resource-rule permissions in Authorization, that person's priority in the body, and their name or UUID under Users. With match CIDR, use {client_cidr} instead of {client_ip}.",
        events: &["signin.success"],
        method: "POST",
        url_hint: "https://pangolin.example.com/v1/resource/RESOURCE_ID/rule/RULE_ID",
        headers: &[PresetHeader {
            name: "Authorization",
            hint: "Bearer <Pangolin API key>",
        }],
        body_format: "json",
        body_template: "{\"value\": \"{client_ip}\", \"priority\": 101, \"enabled\": true}",
    },
    Preset {
        id: "ntfy",
        label: "ntfy",
        about: "A push notification through ntfy, published as JSON to the server's root URL. Put your topic in the body (the topic works like a password: pick one hard to guess); for a protected topic add Authorization: Bearer <access token>.",
        events: &["signin.success"],
        method: "POST",
        url_hint: "https://ntfy.sh/",
        headers: &[],
        body_format: "json",
        body_template: "{\"topic\": \"YOUR-TOPIC\", \"title\": \"Sign-in: {user.username}\", \"message\": \"{user.username} signed in with {provider} from {client_ip}\", \"tags\": [\"key\"]}",
    },
    Preset {
        id: "gotify",
        label: "Gotify",
        about: "A message to your Gotify server. Create an application in Gotify (Apps, Create application) and put its token in X-Gotify-Key; the URL is your server's address followed by /message.",
        events: &["signin.success"],
        method: "POST",
        url_hint: "https://gotify.example.com/message",
        headers: &[PresetHeader {
            name: "X-Gotify-Key",
            hint: "<application token>",
        }],
        body_format: "json",
        body_template: "{\"title\": \"Sign-in: {user.username}\", \"message\": \"{user.username} signed in with {provider} from {client_ip}\", \"priority\": 5}",
    },
    Preset {
        id: "discord",
        label: "Discord",
        about: "A message in a Discord channel. In the channel's settings, Integrations, Webhooks, make a webhook and copy its URL here: the URL itself is the credential, so only those who may change webhooks see it.",
        events: &["signin.success"],
        method: "POST",
        url_hint: "https://discord.com/api/webhooks/WEBHOOK_ID/WEBHOOK_TOKEN",
        headers: &[],
        body_format: "json",
        body_template: "{\"content\": \"{user.username} signed in with {provider} from {client_ip}\"}",
    },
    Preset {
        id: "json",
        label: "Generic JSON",
        about: "The event as a JSON object, for your own receiver. Set a signing secret so the receiver can check that the request came from the portal (see the README's Signature).",
        events: &["signin.success"],
        method: "POST",
        url_hint: "https://hooks.example.com/authportal",
        headers: &[],
        body_format: "json",
        body_template: "{\"event\": \"{event.type}\", \"id\": \"{event.id}\", \"time\": \"{event.time}\", \"result\": \"{event.result}\", \"user\": \"{user.username}\", \"uuid\": \"{user.uuid}\", \"groups\": \"{user.groups}\", \"ip\": \"{client_ip}\", \"user_agent\": \"{user_agent}\"}",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::preview::{Draft, preview};

    /// Every preset, once the owner gives it a URL, passes the checks a save makes: its
    /// events fire, its placeholders exist, its body is JSON once filled in.
    #[test]
    fn presets_are_valid_rules_once_given_a_url() {
        let mut ids = std::collections::HashSet::new();
        for p in PRESETS {
            assert!(ids.insert(p.id), "{} twice", p.id);
            for e in p.events {
                crate::event_type::check_pattern(e).unwrap();
            }
            let url = p.url_hint.replace(['<', '>'], "");
            let draft: Draft = serde_json::from_value(serde_json::json!({
                "name": p.label, "events": p.events, "method": p.method, "url": url,
                "body_format": p.body_format, "body_template": p.body_template,
            }))
            .unwrap();
            let shown = preview(&draft).unwrap_or_else(|e| panic!("{}: {e}", p.id));
            assert!(shown["body"].is_string(), "{}", p.id);
        }
        assert!(ids.contains("pangolin"));
    }
}
