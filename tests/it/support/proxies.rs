//! Real reverse proxies in front of plexgate for the e2e suites: nginx and Caddy (Debian
//! packages), run on loopback ports as plain child processes with the configs the repo ships in
//! `deploy/`. Only ports, certificate paths and the upstream address are substituted, and each
//! substitution must find its text, so a deploy file that drifts fails here rather than being
//! silently untested. TLS uses a self-signed certificate made with openssl at test time.
//!
//! Include with `#[path = "support/proxies.rs"] mod proxies;` (support/mod.rs is shared).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repo root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Panics with an install hint when `tool` is not on PATH.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is required for the e2e suites: apt-get install {package} (.ci/run installs it)"
    );
}

/// A free loopback port (bound and released; the window for a collision is tiny).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A throwaway certificate authority and a server certificate it signed for `127.0.0.1` and
/// `localhost` (a real chain: verifiers refuse a CA certificate used as the server's own).
pub struct Tls {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// The server certificate followed by the CA (what the proxy serves).
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Tls {
    /// Makes the CA and the server certificate in `dir` with openssl.
    pub fn new(dir: &Path) -> Tls {
        require("openssl", "openssl");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=plexgate test CA",
        ];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(&ca, dir);
        let mut csr = vec!["req", "-new", "-subj", "/CN=127.0.0.1"];
        csr.extend(ec);
        csr.extend(["-keyout", "key.pem", "-out", "server.csr"]);
        openssl(&csr, dir);
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "leaf.pem",
            ],
            dir,
        );
        let chain = [
            std::fs::read(dir.join("leaf.pem")).unwrap(),
            std::fs::read(dir.join("ca.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(dir.join("cert.pem"), chain).unwrap();
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// An HTTPS client that trusts only this CA (real verification, no shortcuts).
    pub fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(&self.ca).expect("read CA");
        let ca = reqwest::Certificate::from_pem(&pem).expect("parse cert");
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only([ca])
            .build()
            .expect("https client")
    }
}

/// Which of the two server blocks of a deploy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Its own host name, plexgate at `/` (`server.base_path = ""`).
    Root,
    /// Under `/plexgate/` (`server.base_path = "/plexgate"`).
    Subpath,
}

/// A running proxy; killed when dropped.
pub struct Proxy {
    pub name: &'static str,
    child: Child,
    root_port: u16,
    sub_port: u16,
    log: PathBuf,
}

impl Proxy {
    /// The origin the browser uses for `variant`, base path included.
    pub fn origin(&self, variant: Variant) -> String {
        match variant {
            Variant::Root => format!("https://127.0.0.1:{}", self.root_port),
            Variant::Subpath => format!("https://127.0.0.1:{}/plexgate", self.sub_port),
        }
    }

    /// What the proxy wrote to its logs so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(mut self) -> Proxy {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let up = [self.root_port, self.sub_port].iter().all(|p| {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], *p)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if up {
                return self;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) at start:\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen in 15 s:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces every `from` in `text`, which must contain it.
fn substitute(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(
        text.contains(from),
        "{file} no longer contains {from:?}: update tests/support/proxies.rs with it"
    );
    text.replace(from, to)
}

/// `deploy/nginx.conf` in front of `upstream`, both variants, in `dir`.
pub fn nginx(upstream: SocketAddr, tls: &Tls, dir: &Path) -> Proxy {
    require("nginx", "nginx");
    let (root_port, sub_port) = (free_port(), free_port());
    let file = "deploy/nginx.conf";
    let mut site = std::fs::read_to_string(repo().join(file)).expect("read deploy/nginx.conf");
    for (from, to) in [
        (
            "listen 443 ssl http2;  # variant A".to_string(),
            format!("listen 127.0.0.1:{root_port} ssl http2;"),
        ),
        (
            "listen 443 ssl http2;  # variant B".to_string(),
            format!("listen 127.0.0.1:{sub_port} ssl http2;"),
        ),
        (
            "server 127.0.0.1:3001;".to_string(),
            format!("server {upstream};"),
        ),
        (
            "/etc/ssl/plexgate/fullchain.pem".to_string(),
            tls.cert.display().to_string(),
        ),
        (
            "/etc/ssl/plexgate/privkey.pem".to_string(),
            tls.key.display().to_string(),
        ),
    ] {
        site = substitute(&site, &from, &to, file);
    }
    std::fs::write(dir.join("site.conf"), site).unwrap();
    // The main configuration a distribution would provide, kept inside `dir`. One process
    // (no master/worker split), so killing the child leaves no orphaned workers behind.
    let d = dir.display();
    let main = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n\
         proxy_temp_path {d}/proxy_temp;\n  fastcgi_temp_path {d}/fastcgi_temp;\n\
         uwsgi_temp_path {d}/uwsgi_temp;\n  scgi_temp_path {d}/scgi_temp;\n\
         default_type application/octet-stream;\n  include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let log = dir.join("error.log");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(format!("{d}/"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("start nginx");
    Proxy {
        name: "nginx",
        child,
        root_port,
        sub_port,
        log,
    }
    .wait_ready()
}

/// `deploy/Caddyfile` in front of `upstream`, both variants, in `dir`.
pub fn caddy(upstream: SocketAddr, tls: &Tls, dir: &Path) -> Proxy {
    require("caddy", "caddy");
    let (root_port, sub_port) = (free_port(), free_port());
    let file = "deploy/Caddyfile";
    let mut sites = std::fs::read_to_string(repo().join(file)).expect("read deploy/Caddyfile");
    for (from, to) in [
        (
            "\nplexgate.example.com {".to_string(),
            format!("\nhttps://127.0.0.1:{root_port} {{"),
        ),
        (
            "\nwww.example.com {".to_string(),
            format!("\nhttps://127.0.0.1:{sub_port} {{"),
        ),
        (
            "# tls /etc/ssl/plexgate/fullchain.pem /etc/ssl/plexgate/privkey.pem  # your own certificate"
                .to_string(),
            format!("tls {} {}", tls.cert.display(), tls.key.display()),
        ),
        ("127.0.0.1:3001".to_string(), upstream.to_string()),
    ] {
        sites = substitute(&sites, &from, &to, file);
    }
    // Global options for a throwaway instance: no admin endpoint, no ACME, private storage.
    let storage = dir.join("storage");
    let config = format!(
        "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {}\n\tservers {{\n\t\tprotocols h1 h2\n\t}}\n}}\n\n{sites}",
        storage.display()
    );
    let path = dir.join("Caddyfile");
    std::fs::write(&path, config).unwrap();
    let log = dir.join("caddy.log");
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("caddy.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start caddy");
    Proxy {
        name: "caddy",
        child,
        root_port,
        sub_port,
        log,
    }
    .wait_ready()
}
