//! TLS for the directory: the rustls server configuration read from LDAP_TLS_CERT and
//! LDAP_TLS_KEY (PEM), used both for LDAPS and for StartTLS on the same port.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Reads the certificate chain and key; the error names the file and says what is wrong.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("LDAP_TLS_CERT: cannot read {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "LDAP_TLS_CERT: no certificate in {}",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "LDAP_TLS_KEY: cannot read a private key from {}: {e}",
            key.display()
        )
    })?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("LDAP TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("LDAP_TLS_CERT/LDAP_TLS_KEY: {e}"))?;
    Ok(Arc::new(config))
}
