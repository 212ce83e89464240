//! The one accept path: every TCP listener (`c2s`, `c2s_tls`, `http`) and every onion
//! service stream enters here, takes a place under one connection limit and is handed
//! to the server's [`Handler`] with its [`ListenerKind`].
//!
//! - [`Dispatcher::listen`] runs the accept loop of one TCP listener on the server's
//!   `TaskTracker`, until the shutdown token fires.
//! - [`Dispatcher::admit`] takes a place for one more connection and
//!   [`Dispatcher::serve`] serves a connection holding it; the accept loop and the onion
//!   service ([`crate::tor`]) both go through these two.
//! - [`Handler`] is what the server plugs in ([`crate::server::start`]): which kinds it
//!   serves, and the session code or HTTP service for each. This module (like
//!   [`crate::tor`]) knows no protocol and imports neither `c2s` nor `http`.
//!
//! # Security
//! - One limit, `limits.max_connections`, counts every open connection of every
//!   listener, onion service streams included, from acceptance until the connection
//!   ends: bound sessions, HTTP connections and connections still negotiating. The
//!   tighter caps on connections before authentication (`limits.max_preauth_*`,
//!   [`crate::c2s::preauth`]) apply inside it.
//! - At the limit a new TCP connection is accepted and closed at once, so the kernel's
//!   accept queue does not fill up with connections nobody serves; a new onion stream
//!   is refused. Refusals are counted and logged as one warning at most every 10 s.
//! - Accept errors (typically out of file descriptors) back off 100 ms instead of
//!   spinning, and are logged at most every 10 s as well.
//! - Peer addresses are read only to hand them to the handler; nothing here logs them.
//!
//! # Limitations
//! - At the limit nobody is evicted: the newest connection is the one closed. The
//!   pre-authentication caps, with their fair eviction, keep floods of silent
//!   connections below this limit.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Accept failures and refusals at the limit are logged at most this often.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// How long the accept loop waits after an accept error before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A kind of listener: what a TCP listener or an onion service virtual port
/// (`tor.onion_service.ports`) feeds; its names belong to the configuration.
pub use crate::config::ListenerKind;

/// Where a connection comes from. Used for per-source limits only (hashed there), never
/// logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer address.
    Ip(IpAddr),
    /// An onion service stream: the random id of its rendezvous circuit (onion streams
    /// carry no address; streams of one circuit share the id).
    OnionCircuit(u64),
}

/// A byte stream usable as a connection: what an onion service stream is boxed as.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// The byte stream of one accepted connection.
pub enum Stream {
    /// A TCP connection (no delay set).
    Tcp(TcpStream),
    /// Any other byte stream, such as an onion service stream.
    Other(Box<dyn Io>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Other(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Other(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Other(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// One accepted connection: its bytes and where it comes from.
pub struct Conn {
    /// The byte stream.
    pub stream: Stream,
    /// The source, for per-source limits.
    pub peer: Peer,
}

impl Conn {
    /// An onion service stream that arrived on rendezvous circuit `circuit`.
    pub fn onion(stream: impl Io, circuit: u64) -> Conn {
        Conn {
            stream: Stream::Other(Box::new(stream)),
            peer: Peer::OnionCircuit(circuit),
        }
    }

    /// Whether the connection came through the onion service.
    pub fn via_onion(&self) -> bool {
        matches!(self.peer, Peer::OnionCircuit(_))
    }
}

/// What serves accepted connections, by listener kind: given by the server, called by
/// the accept loop and the onion service.
pub trait Handler: Send + Sync + 'static {
    /// Whether connections of `kind` are served. An onion stream to a virtual port of
    /// another kind is refused before it is accepted.
    fn serves(&self, kind: ListenerKind) -> bool;

    /// Serves one connection of `kind` until it ends. Spawned on the server's
    /// `TaskTracker`, so shutdown waits for it: it must end when the shutdown token
    /// fires.
    fn serve(&self, kind: ListenerKind, conn: Conn) -> BoxFuture<'static, ()>;
}

/// A connection's place under `limits.max_connections`, given back when dropped.
#[derive(Debug)]
pub struct Place {
    _permit: OwnedSemaphorePermit,
}

/// Counts events and says when to log them: the first at once, then at most once per
/// [`WARN_EVERY`], each time with the number counted since the last log line.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    count: u64,
}

impl RateLimited {
    /// Counts one event at `now`; returns the count to log (this one included) when a
    /// line is due.
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.count += 1;
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.last = Some(now);
            Some(std::mem::take(&mut self.count))
        } else {
            None
        }
    }
}

struct Inner {
    handler: Box<dyn Handler>,
    places: Arc<Semaphore>,
    max: usize,
    refused: Mutex<RateLimited>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// The accept path: the connection limit and the handler, shared by every TCP listener
/// and the onion service. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("max", &self.inner.max)
            .field("open", &self.open())
            .finish()
    }
}

impl Dispatcher {
    /// An accept path for at most `max_connections` open connections at once
    /// (`limits.max_connections`, at least 1) served by `handler`; tasks go on `tracker`
    /// and accept loops stop when `shutdown` fires.
    pub fn new(
        max_connections: usize,
        handler: impl Handler,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                handler: Box::new(handler),
                places: Arc::new(Semaphore::new(max)),
                max,
                refused: Mutex::new(RateLimited::default()),
                tracker,
                shutdown,
            }),
        }
    }

    /// Whether the handler serves connections of `kind`.
    pub fn serves(&self, kind: ListenerKind) -> bool {
        self.inner.handler.serves(kind)
    }

    /// Connections open now (holding a [`Place`]).
    pub fn open(&self) -> usize {
        self.inner.max - self.inner.places.available_permits()
    }

    /// A place for one more connection, or `None` when `limits.max_connections` are
    /// open: the refusal is counted and logged (a warning at most every
    /// [`WARN_EVERY`]), and the caller closes the connection.
    pub fn admit(&self) -> Option<Place> {
        match self.inner.places.clone().try_acquire_owned() {
            Ok(permit) => Some(Place { _permit: permit }),
            Err(_) => {
                let due = match self.inner.refused.lock() {
                    Ok(mut r) => r.note(Instant::now()),
                    Err(p) => p.into_inner().note(Instant::now()),
                };
                if let Some(refused) = due {
                    warn!(
                        refused,
                        limit = self.inner.max,
                        "connection limit reached; new connections are closed at once \
                         (limits.max_connections)"
                    );
                }
                None
            }
        }
    }

    /// Serves `conn` as `kind` with the handler; `place` is held until the connection
    /// ends. The one entry of TCP connections and onion streams.
    pub fn serve(
        &self,
        place: Place,
        kind: ListenerKind,
        conn: Conn,
    ) -> impl Future<Output = ()> + Send + 'static {
        let served = self.inner.handler.serve(kind, conn);
        async move {
            served.await;
            drop(place);
        }
    }

    /// Spawns the accept loop of `listener` (of `kind`) on the tracker: each connection
    /// gets a place ([`Dispatcher::admit`]; none left: closed at once), no delay, and is
    /// served on its own task. Accept errors back off 100 ms and are
    /// logged at most every [`WARN_EVERY`]. Ends when the shutdown token fires.
    pub fn listen(&self, listener: TcpListener, kind: ListenerKind) {
        self.inner
            .tracker
            .spawn(self.clone().accept_loop(listener, kind));
    }

    async fn accept_loop(self, listener: TcpListener, kind: ListenerKind) {
        let mut failures = RateLimited::default();
        loop {
            let accepted = tokio::select! {
                _ = self.inner.shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    let Some(place) = self.admit() else {
                        // Accepted and closed at once: the accept queue stays short.
                        drop(tcp);
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let conn = Conn {
                        stream: Stream::Tcp(tcp),
                        peer: Peer::Ip(peer.ip()),
                    };
                    self.inner.tracker.spawn(self.serve(place, kind, conn));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning,
                    // and log once per WARN_EVERY with the number of failures since.
                    if let Some(failures) = failures.note(Instant::now()) {
                        warn!(
                            kind = kind.as_str(),
                            error = %e,
                            failures,
                            "accept failed; retrying every 100 ms"
                        );
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
        debug!(kind = kind.as_str(), "listener closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn kind_names_round_trip() {
        for name in crate::config::TOR_LISTENER_KINDS {
            assert_eq!(ListenerKind::parse(name).unwrap().as_str(), *name);
        }
        assert_eq!(ListenerKind::parse("C2S"), None);
        assert!(ListenerKind::C2s.is_client() && ListenerKind::C2sTls.is_client());
        assert!(!ListenerKind::S2s.is_client() && !ListenerKind::Http.is_client());
    }

    #[test]
    fn rate_limited_logs_the_first_then_once_per_period_with_the_count() {
        let t0 = Instant::now();
        let mut r = RateLimited::default();
        assert_eq!(r.note(t0), Some(1));
        assert_eq!(r.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(r.note(t0 + Duration::from_secs(9)), None);
        assert_eq!(r.note(t0 + WARN_EVERY), Some(3));
        assert_eq!(r.note(t0 + WARN_EVERY + Duration::from_secs(1)), None);
        assert_eq!(r.note(t0 + WARN_EVERY * 3), Some(2));
    }

    /// Echoes one line of each connection back, then holds it until the peer closes.
    struct Echo;

    impl Handler for Echo {
        fn serves(&self, kind: ListenerKind) -> bool {
            kind == ListenerKind::C2s
        }

        fn serve(&self, _: ListenerKind, mut conn: Conn) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = conn.stream.read(&mut buf).await {
                    if conn.stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            })
        }
    }

    async fn echoes(tcp: &mut TcpStream) -> bool {
        let mut buf = [0u8; 4];
        tcp.write_all(b"ping").await.is_ok()
            && matches!(
                tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut buf)).await,
                Ok(Ok(4))
            )
    }

    async fn closed_at_once(tcp: &mut TcpStream) -> bool {
        let mut buf = [0u8; 4];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    #[tokio::test]
    async fn at_the_limit_new_connections_are_closed_and_a_freed_place_is_reused() {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let d = Dispatcher::new(2, Echo, tracker.clone(), shutdown.clone());
        assert!(d.serves(ListenerKind::C2s) && !d.serves(ListenerKind::Http));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        d.listen(listener, ListenerKind::C2s);
        let mut a = TcpStream::connect(addr).await.unwrap();
        let mut b = TcpStream::connect(addr).await.unwrap();
        assert!(echoes(&mut a).await && echoes(&mut b).await);
        assert_eq!(d.open(), 2);
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert!(closed_at_once(&mut c).await, "a third connection was kept");
        assert!(d.admit().is_none(), "an onion stream would get a place");
        assert!(echoes(&mut a).await && echoes(&mut b).await);
        drop(a);
        let mut served = false;
        for _ in 0..50 {
            let mut d2 = TcpStream::connect(addr).await.unwrap();
            if echoes(&mut d2).await {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "no connection served after one closed");
        drop(b);
        shutdown.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .unwrap();
    }
}
