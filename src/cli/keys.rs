//! `keys rotate`: a new OpenID Connect signing key (the old one stays published).

use authportal::App;

use super::{CliError, flags};

const KEYS_USAGE: &str = "usage: authportal keys rotate [--bits 2048|3072|4096]";

pub fn run(app: &App, args: &[String]) -> Result<(), CliError> {
    if args.first().map(String::as_str) != Some("rotate") {
        return Err(CliError::Usage(KEYS_USAGE.into()));
    }
    let f = flags(&args[1..], KEYS_USAGE, &[], &["bits"])?;
    if app.config.oidc_signing_key_pem.is_some() || app.config.oidc_signing_key_path.is_some() {
        return Err(
            "the signing key is pinned by OIDC_SIGNING_KEY(_PATH); replace that key instead".into(),
        );
    }
    let bits = match f.one("bits").as_deref() {
        None => 2048,
        Some(b @ ("2048" | "3072" | "4096")) => b.parse().expect("listed"),
        Some(other) => {
            return Err(CliError::Usage(format!(
                "--bits must be 2048, 3072 or 4096, not {other}\n\n{KEYS_USAGE}"
            )));
        }
    };
    let kid = authportal::oidc::keys::rotate(&app.db, &app.sealer, bits, app.clock.now())?;
    println!(
        "new signing key {kid}; running portals pick it up at once, and the previous key stays in the JWKS until its ID tokens expire"
    );
    Ok(())
}
