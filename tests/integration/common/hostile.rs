//! Hostile XML input and a watch on the server's memory, shared by the `hostile_xml`
//! integration tests and the `hostile_xml` benchmark.
//!
//! The attack (hardening issue, "XML memory is bounded by what was received"): one huge
//! namespace URI declared on the stream header, then one stanza with tens of thousands of
//! tiny children in that namespace (`<p:a/>`, 6 bytes each). A parser that copies the URI
//! into every element turns 500 KB of input into gigabytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;

use super::{Client, SASL_NS, STREAM_NS, STREAMS_NS, Server, StreamEvent, status_kib};

/// Bytes of the namespace URI of the attack (250 KB).
pub const URI_BYTES: usize = 250_000;
/// Children of the attack stanza.
pub const CHILDREN: usize = 40_000;

/// A namespace URI of `len` bytes.
pub fn uri(len: usize) -> String {
    let head = "urn:x:";
    format!("{head}{}", "a".repeat(len.saturating_sub(head.len())))
}

/// A client stream header for `domain` that also binds prefix `p` to `uri`.
pub fn header_with_ns(domain: &str, uri: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='{STREAM_NS}' xmlns:p='{uri}' to='{domain}' version='1.0'>"
    )
}

/// A message to `to` with `children` empty `<p:a/>` children.
pub fn stanza(to: &str, children: usize) -> String {
    format!("<message to='{to}'>{}</message>", "<p:a/>".repeat(children))
}

/// What became of an attack.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server closed the stream with this stream error condition.
    StreamError(String),
    /// The stream ended (EOF, reset or 10 s of silence) without a stream error: the
    /// server died, hung, or accepted everything.
    NoError,
}

impl Client {
    /// Sends `header`; when the server answers with its features, sends `stanza`. Reads
    /// until a stream error or the end of the stream.
    pub async fn attack(&mut self, header: &str, stanza: &str) -> Outcome {
        self.send(header).await;
        let mut sent = false;
        loop {
            match self.next_event().await {
                Some(StreamEvent::Element(e)) if e.is("error", STREAM_NS) => {
                    let cond = e
                        .children()
                        .find(|c| c.ns() == STREAMS_NS && c.name() != "text")
                        .map(|c| c.name().to_owned())
                        .unwrap_or_default();
                    return Outcome::StreamError(cond);
                }
                Some(StreamEvent::Element(e)) if e.is("features", STREAM_NS) && !sent => {
                    sent = true;
                    self.send(stanza).await;
                }
                Some(StreamEvent::StreamOpen(_) | StreamEvent::Element(_)) => {}
                Some(StreamEvent::StreamClose) | None => return Outcome::NoError,
            }
        }
    }

    /// SASL PLAIN over TLS without the stream restart: the next header is the caller's
    /// (e.g. [`header_with_ns`]). Panics unless the server answers `<success/>`.
    pub async fn auth_plain_no_restart(&mut self, user: &str, password: &str) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send(&format!(
            "<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{b64}</auth>"
        ))
        .await;
        let r = self.recv().await;
        assert!(r.is("success", SASL_NS), "PLAIN login failed: {r:?}");
        self.parser.reset();
    }
}

/// The server's memory while an attack runs: `VmRSS` at the start, the peak (`VmHWM`,
/// reset to the current RSS at the start through `/proc/PID/clear_refs` when allowed,
/// and `VmRSS` sampled every 2 ms besides). Kills the server with SIGKILL when its RSS
/// passes `kill_above_kib`, so a regression cannot exhaust the machine's memory.
pub struct MemoryWatch {
    pid: u32,
    pub start_kib: u64,
    hwm_start_kib: u64,
    max_seen: Arc<AtomicU64>,
    killed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemoryWatch {
    pub fn start(server: &Server, kill_above_kib: u64) -> MemoryWatch {
        let pid = server.pid().expect("server running");
        // "5": reset the peak RSS to the current RSS (proc(5), Linux 4.0).
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        let start_kib = status_kib(pid, "VmRSS");
        let hwm_start_kib = status_kib(pid, "VmHWM");
        let max_seen = Arc::new(AtomicU64::new(start_kib));
        let killed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (max_seen, killed, stop) = (max_seen.clone(), killed.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let rss = status_kib(pid, "VmRSS");
                    max_seen.fetch_max(rss, Ordering::Relaxed);
                    if rss > kill_above_kib && !killed.swap(true, Ordering::Relaxed) {
                        let _ = std::process::Command::new("kill")
                            .arg("-KILL")
                            .arg(pid.to_string())
                            .status();
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        MemoryWatch {
            pid,
            start_kib,
            hwm_start_kib,
            max_seen,
            killed,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak RSS since the start, in KiB: `VmHWM` if it moved (it then is the true
    /// peak), else the highest sampled `VmRSS`.
    pub fn peak_kib(&self) -> u64 {
        let hwm = status_kib(self.pid, "VmHWM");
        let seen = self.max_seen.load(Ordering::Relaxed);
        if hwm > self.hwm_start_kib {
            hwm.max(seen)
        } else {
            seen
        }
    }

    /// The current RSS in KiB.
    pub fn now_kib(&self) -> u64 {
        status_kib(self.pid, "VmRSS")
    }

    /// Whether the watch had to kill the server.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
