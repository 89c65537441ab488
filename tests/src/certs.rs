//! Certificate authorities the tests make for themselves with `openssl`
//! (Debian's package): a CA, and server certificates it signs for the
//! names a test connects by.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway certificate authority in a temp directory.
pub struct TestCa {
    dir: tempfile::TempDir,
    /// The CA certificate (PEM).
    pub cert_pem: String,
}

/// A server certificate and its key (PEM).
pub struct ServerCert {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A new CA named `name` (P-256, valid for two days).
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let subject = format!("/CN={name}");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let cert_pem = std::fs::read_to_string(dir.path().join("ca.crt")).expect("ca.crt");
        TestCa { dir, cert_pem }
    }

    /// The CA certificate's file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A server certificate for `names` (DNS names, or IP addresses),
    /// signed by this CA.
    pub fn issue(&self, names: &[&str]) -> ServerCert {
        let d = self.dir.path();
        let san: Vec<String> = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        std::fs::write(
            d.join("ext.cnf"),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
        .expect("ext.cnf");
        let subject = format!("/CN={}", names.first().copied().unwrap_or("server"));
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                &subject,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        ServerCert {
            cert_pem: std::fs::read_to_string(d.join("server.crt")).expect("server.crt"),
            key_pem: std::fs::read_to_string(d.join("server.key")).expect("server.key"),
        }
    }
}
