//! A throwaway TLS certificate for the tests.
//!
//! Shared by the integration tests (as `common::tls_certificate`) and by the crate's unit tests
//! (`src/net/tests/tls.rs` includes this file with `#[path]`, as they cannot use `tests/common`).

use tokio_native_tls::{native_tls, TlsAcceptor, TlsConnector};

/// The name the test certificate is issued for, and that clients verify.
pub(crate) const SERVER_NAME: &str = "localhost";

/// A server acceptor with a fresh self-signed certificate for [`SERVER_NAME`], and a client
/// connector that trusts exactly that certificate (certificate verification stays on).
pub(crate) fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()]).unwrap();
    let cert_pem = cert.pem();
    // rcgen writes the private key as PKCS#8, which is what `from_pkcs8` reads.
    let key_pem = signing_key.serialize_pem();
    let identity =
        native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let acceptor = native_tls::TlsAcceptor::new(identity).unwrap();
    let trusted = native_tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(trusted)
        .build()
        .unwrap();
    (acceptor.into(), connector.into())
}
