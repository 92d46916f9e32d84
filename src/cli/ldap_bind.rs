//! `ldap-bind create|list|delete`: the service accounts applications bind to the LDAP
//! directory as.

use authportal::App;
use authportal::ldap::accounts;

use super::{CliError, flags, print_json};

const LDAP_BIND_USAGE: &str = "usage: authportal ldap-bind create --name NAME
       authportal ldap-bind list | delete NAME";

pub fn run(app: &App, args: &[String]) -> Result<(), CliError> {
    let sub = args.first().map(String::as_str).unwrap_or("");
    let f = flags(
        args.get(1..).unwrap_or(&[]),
        LDAP_BIND_USAGE,
        &[],
        &["name"],
    )?;
    match sub {
        "create" => {
            let name = f.one("name").ok_or_else(|| {
                CliError::Usage(format!("--name is required\n\n{LDAP_BIND_USAGE}"))
            })?;
            let layout = authportal::ldap::directory::Layout::of(app);
            let made = app
                .db
                .with_tx(|tx| accounts::create_service(tx, &layout, &name, app.clock.now()))?;
            print_json(&serde_json::json!(made));
        }
        "list" => print_json(&serde_json::json!(accounts::services(app)?)),
        "delete" => {
            let name = f.positional.first().ok_or_else(|| {
                CliError::Usage(format!(
                    "ldap-bind delete needs a NAME\n\n{LDAP_BIND_USAGE}"
                ))
            })?;
            app.db
                .with_tx(|tx| accounts::delete_service(tx, name))
                .map_err(|e| match e {
                    authportal::error::AppError::NotFound => {
                        CliError::Failed(format!("no service account {name:?}"))
                    }
                    e => e.into(),
                })?;
            println!("deleted {name}");
        }
        _ => return Err(CliError::Usage(LDAP_BIND_USAGE.to_string())),
    }
    Ok(())
}
