//! `admin list|grant|revoke` and `mfa reset`: the way back into a console that is out
//! of reach (authportal::recovery), with the portal stopped or running.

use authportal::App;

use super::{CliError, flags, print_json};

const ADMIN_USAGE: &str = "usage: authportal admin list | grant USERNAME | revoke USERNAME";
const MFA_USAGE: &str = "usage: authportal mfa reset USERNAME";

/// The one USERNAME after the subcommand (and no flags).
fn username(args: &[String], usage: &str) -> Result<String, CliError> {
    let f = flags(args, usage, &[], &[])?;
    match f.positional.as_slice() {
        [name] => Ok(name.clone()),
        _ => Err(CliError::Usage(usage.into())),
    }
}

pub fn admin(app: &App, args: &[String]) -> Result<(), CliError> {
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("list") => {
            flags(rest, ADMIN_USAGE, &[], &[])?;
            let list = authportal::recovery::admins(app)?;
            print_json(&serde_json::json!({ "admins": list }));
        }
        Some("grant") => {
            let name = username(rest, ADMIN_USAGE)?;
            if authportal::recovery::grant(app, &name)? {
                println!("{name} is now an admin (in the admins group)");
            } else {
                println!("{name} was already an admin");
            }
        }
        Some("revoke") => {
            let name = username(rest, ADMIN_USAGE)?;
            if authportal::recovery::revoke(app, &name)? {
                println!("{name} is no longer in the admins group");
            } else {
                println!("{name} was not in the admins group");
            }
        }
        _ => return Err(CliError::Usage(ADMIN_USAGE.into())),
    }
    Ok(())
}

pub fn mfa(app: &App, args: &[String]) -> Result<(), CliError> {
    if args.first().map(String::as_str) != Some("reset") {
        return Err(CliError::Usage(MFA_USAGE.into()));
    }
    let name = username(args.get(1..).unwrap_or(&[]), MFA_USAGE)?;
    if authportal::recovery::mfa_reset(app, &name)? {
        println!(
            "removed the second factors of {name}; they can set one up again after signing in"
        );
    } else {
        println!("{name} had no second factor");
    }
    Ok(())
}
