//! The local REST API the `source-rest` tests read: `fixtures/rest_api.py`
//! (Python's standard library), started on 127.0.0.1 with a certificate
//! from a CA the test makes, killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::TestCa;

/// A running fixture server.
pub struct RestServer {
    child: Child,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RestServer {
    /// Starts the server over HTTPS with a certificate from `ca` for
    /// `localhost` and `127.0.0.1`, with extra command-line `args`
    /// (`--records 250`, `--bearer T`, ...). Every request is logged.
    pub fn start(ca: &TestCa, args: &[&str]) -> RestServer {
        Self::launch(Some((ca, &["localhost", "127.0.0.1"])), args)
    }

    /// The same server with a certificate from `ca` for `names` only.
    pub fn start_for_names(ca: &TestCa, names: &[&str], args: &[&str]) -> RestServer {
        Self::launch(Some((ca, names)), args)
    }

    /// The same server over plain HTTP.
    pub fn start_plain(args: &[&str]) -> RestServer {
        Self::launch(None, args)
    }

    fn launch(ca: Option<(&TestCa, &[&str])>, args: &[&str]) -> RestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/rest_api.py");
        let port_file = dir.path().join("port");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match ca {
            Some((ca, names)) => {
                let cert = ca.issue(names);
                let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
                std::fs::write(&c, cert.cert_pem).expect("cert");
                std::fs::write(&k, cert.key_pem).expect("key");
                cmd.arg("--cert").arg(c).arg("--key").arg(k);
            }
            None => {
                cmd.arg("--plain");
            }
        }
        let mut child = cmd.spawn().expect("python3 runs the REST fixture");
        let started = Instant::now();
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break p;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the REST fixture exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the REST fixture did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        RestServer { child, dir, port }
    }

    /// The requests it answered so far, one JSON object each (`method`,
    /// `path`, `query`, `status`, `auth`).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
