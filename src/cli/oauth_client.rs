//! `oauth-client create|list|delete|rotate-secret`: register and manage the applications
//! that sign in through the portal's OpenID Connect provider.

use authportal::App;

use super::{CliError, USAGE, flags, print_json};

const CREATE_USAGE: &str = "usage: authportal oauth-client create --name NAME --redirect-uri URI [--redirect-uri URI ...]
       [--post-logout-uri URI ...] [--public] [--trusted] [--device] [--scope SCOPE ...] [--grant-type GRANT ...]
       [--auth-method client_secret_basic|client_secret_post|none ...] [--pkce required|optional]
       [--allowed-group GROUP ...] [--preset NAME [--app-url URL]]
       (--device: TVs and apps sign in with a code typed at /device; no redirect URI needed)
       authportal oauth-client list | delete CLIENT_ID | rotate-secret CLIENT_ID";

/// `--pkce required|optional` -> require_pkce.
fn pkce_flag(value: Option<String>) -> Result<Option<bool>, CliError> {
    match value.as_deref() {
        None => Ok(None),
        Some("required") => Ok(Some(true)),
        Some("optional") => Ok(Some(false)),
        Some(other) => Err(CliError::Usage(format!(
            "--pkce must be required or optional, not {other:?}\n\n{CREATE_USAGE}"
        ))),
    }
}

/// `--preset NAME`: a known preset, or a usage error listing them.
fn preset_flag(value: Option<String>) -> Result<Option<String>, CliError> {
    use authportal::oidc::presets;
    match value {
        Some(name) if presets::find(&name).is_none() => Err(CliError::Usage(format!(
            "unknown preset {name:?}; known presets: {}\n\n{CREATE_USAGE}",
            presets::known()
        ))),
        v => Ok(v),
    }
}

pub fn run(app: &App, args: &[String]) -> Result<(), CliError> {
    use authportal::db::oauth;
    use authportal::oidc::clients;
    let now = app.clock.now();
    let sub = args.first().map(String::as_str).unwrap_or("");
    let f = flags(
        args.get(1..).unwrap_or(&[]),
        CREATE_USAGE,
        &["public", "trusted", "device"],
        &[
            "name",
            "redirect-uri",
            "post-logout-uri",
            "scope",
            "grant-type",
            "auth-method",
            "pkce",
            "allowed-group",
            "preset",
            "app-url",
        ],
    )?;
    let id_arg = || {
        f.positional
            .first()
            .cloned()
            .ok_or_else(|| format!("oauth-client {sub} needs a CLIENT_ID"))
    };
    match sub {
        "create" => {
            let list = |name: &str| {
                let v = f.all(name);
                (!v.is_empty()).then_some(v)
            };
            let spec = clients::ClientSpec {
                name: f.one("name").ok_or("--name is required")?,
                redirect_uris: f.all("redirect-uri"),
                post_logout_redirect_uris: f.all("post-logout-uri"),
                public: f.has("public"),
                trusted: f.has("trusted"),
                scopes: list("scope"),
                grant_types: list("grant-type"),
                allowed_groups: list("allowed-group"),
                token_endpoint_auth_methods: list("auth-method"),
                require_pkce: pkce_flag(f.one("pkce"))?,
                preset: preset_flag(f.one("preset"))?,
                app_url: f.one("app-url"),
                device: f.has("device"),
            };
            let (client, secret) = app
                .db
                .with_tx(|tx| clients::create(tx, spec, now))
                .map_err(|e| e.public_message())?;
            let mut out = clients::describe(&client);
            out["client_secret"] = serde_json::json!(secret);
            out["setup"] = clients::setup(&app.config, &client, secret.as_deref());
            print_json(&out);
        }
        "list" => {
            let list = oauth::clients(&*app.db.conn().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            print_json(&serde_json::json!(
                list.iter().map(clients::describe).collect::<Vec<_>>()
            ));
        }
        "delete" => {
            let id = id_arg()?;
            let gone = app
                .db
                .with_tx(|tx| oauth::delete_client(tx, &id))
                .map_err(|e| e.to_string())?;
            if !gone {
                return Err(format!("no client {id:?}").into());
            }
            println!("deleted {id}");
        }
        "rotate-secret" => {
            let id = id_arg()?;
            let secret = app
                .db
                .with_tx(|tx| clients::rotate_secret(tx, &id, now))
                .map_err(|e| e.public_message())?;
            print_json(&serde_json::json!({ "client_id": id, "client_secret": secret }));
        }
        _ => {
            return Err(CliError::Usage(format!(
                "usage: authportal oauth-client create|list|delete|rotate-secret ...\n\n{USAGE}"
            )));
        }
    }
    Ok(())
}
