//! Certificates of a simulated cluster: its own CA (so each cluster has a distinct CA
//! fingerprint, as real clusters do), a serving certificate for 127.0.0.1, and client
//! certificates whose subject names the user (CN) and groups (O), as kubeadm issues them.

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};

/// A client certificate and its key, PEM, with the fingerprint the server knows it by.
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: [u8; 32],
}

pub struct ClusterPki {
    pub ca_pem: String,
    /// SHA-256 of the CA certificate (DER), lowercase hex: `fleetdeck.io/ca-sha256`.
    pub ca_sha256: String,
    issuer: Issuer<'static, KeyPair>,
    server_config: Arc<rustls::ServerConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ClusterPki {
    pub fn generate(cluster: &str) -> Result<Self> {
        let ca_key = KeyPair::generate().wrap_err("generating the CA key")?;
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{cluster}-ca"));
        dn.push(DnType::OrganizationName, "fleetdeck simulated fleet");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).wrap_err("signing the CA certificate")?;
        let ca_der = ca_cert.der().clone();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().wrap_err("generating the serving key")?;
        let mut server_params = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ])
        .wrap_err("serving certificate names")?;
        server_params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer).wrap_err("signing the serving certificate")?;

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der.clone()).wrap_err("trusting the cluster CA")?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .wrap_err("building the client certificate verifier")?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .wrap_err("TLS versions")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server_cert.der().clone(), ca_der.clone()], key)
            .wrap_err("serving certificate")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // The default resumption cache holds 256 sessions; a simulated cluster has few
        // clients, and a thousand clusters would spend 25 MB on empty caches.
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(16);

        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_sha256: hex(&fingerprint(&ca_der)),
            issuer,
            server_config: Arc::new(config),
        })
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }

    /// Issues a client certificate for `user` in `groups`.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<ClientCertificate> {
        let key = KeyPair::generate().wrap_err("generating a client key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params.distinguished_name.push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let cert = params.signed_by(&key, &self.issuer).wrap_err("signing a client certificate")?;
        Ok(ClientCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            fingerprint: fingerprint(cert.der()),
        })
    }
}

/// The fingerprint of the first certificate a client presented, if any.
pub fn peer_fingerprint(certs: Option<&[CertificateDer<'_>]>) -> Option<[u8; 32]> {
    certs.and_then(|c| c.first()).map(|c| fingerprint(c.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_has_its_own_ca() {
        let a = ClusterPki::generate("a").unwrap();
        let b = ClusterPki::generate("b").unwrap();
        assert_ne!(a.ca_sha256, b.ca_sha256);
        assert_eq!(a.ca_sha256.len(), 64);
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let client = a.issue_client("admin", &["system:masters"]).unwrap();
        assert!(client.key_pem.contains("PRIVATE KEY"));
        assert_eq!(a.server_config().alpn_protocols[0], b"h2");
    }
}
