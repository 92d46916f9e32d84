//! `oauth-client create|list|delete|rotate-secret`: register and manage the applications
//! that sign in through the portal's OpenID Connect provider.

use authportal::App;

use super::{CliError, USAGE, flags, print_json};

const CREATE_USAGE: &str = "usage: authportal oauth-client create --name NAME --redirect-uri URI [--redirect-uri URI ...]
       [--post-logout-uri URI ...] [--public] [--trusted] [--device] [--scope SCOPE ...] [--grant-type GRANT ...]
       (--device: TVs and apps sign in with a code typed at /device; no redirect URI needed)
       authportal oauth-client list | delete CLIENT_ID | rotate-secret CLIENT_ID";

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
                device: f.has("device"),
                ..Default::default()
            };
            let (client, secret) = app
                .db
                .with_tx(|tx| clients::create(tx, spec, now))
                .map_err(|e| e.public_message())?;
            let mut out = clients::describe(&client);
            out["client_secret"] = serde_json::json!(secret);
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
