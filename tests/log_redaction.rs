//! The redaction layer: a caller that slips a token into a log field or message still does not
//! get it printed; and a JSON line inside a request carries its `request_id`. Own test binary,
//! because it installs the global subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use plexgate::config::{LogConfig, LogFormat};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn slipped_tokens_are_masked_in_json_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    plexgate::logging::init_with_writer(
        &LogConfig {
            format: LogFormat::Json,
            level: "trace".into(),
        },
        move || writer.clone(),
    )
    .unwrap();

    let secret = "S3cr3tT0k3n-abc_123";
    tracing::info!(url = %format!("http://pms:32400/library?X-Plex-Token={secret}&a=1"), "upstream");
    tracing::warn!(token = secret, "caller slipped");
    tracing::error!(plex_token = %secret, "another slip");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-plex-token", secret.parse().unwrap());
    tracing::debug!(?headers, "debug print of a header map");
    tracing::info!("nested url=%2Fthumb%3FX-Plex-Token%3D{secret}%26w%3D1");
    let _ = std::thread::spawn(move || panic!("failed with X-Plex-Token={secret}")).join();
    // Inside a request (the span `http::server` opens), a JSON line names its request id.
    tracing::error_span!("request", request_id = "rid-0123")
        .in_scope(|| tracing::warn!(target: "plexgate::upstream", "inside a request"));

    let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert_eq!(out.lines().count(), 7, "{out}");
    let inside: serde_json::Value = serde_json::from_str(
        out.lines()
            .find(|l| l.contains("inside a request"))
            .expect("the line inside the span"),
    )
    .unwrap();
    assert_eq!(inside["span"]["request_id"], "rid-0123", "{inside}");
    assert!(!out.contains(secret), "secret printed:\n{out}");
    assert!(out.contains("[redacted]"), "{out}");
    assert!(
        out.contains("plexgate::panic"),
        "panics go through the same writer:\n{out}"
    );
}
