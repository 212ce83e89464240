//! Helpers for tests that drive the connection by hand: TLS handshakes that may fail,
//! waiting for a stream to end, and a liveness ping.

use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};

use super::{Client, STREAM_NS, STREAMS_NS, Server, StreamEvent, tls_config};

/// How a stream ended, as seen by the client.
#[derive(Debug, Default)]
pub struct Ending {
    /// Conditions of any `<stream:error/>` received.
    pub errors: Vec<String>,
    /// Elements received before the end.
    pub elements: Vec<super::Element>,
}

impl Client {
    /// TLS handshake over the plain TCP connection (after `<proceed/>` or on the direct
    /// TLS port); `Err` with the reason when it fails.
    pub async fn try_tls(&mut self) -> Result<(), String> {
        let tcp = self.tcp_only.take().expect("tcp");
        let connector =
            tokio_rustls::TlsConnector::from(tls_config(self.cert.clone(), self.tls12_only));
        let name = ServerName::try_from("localhost").unwrap();
        match tokio::time::timeout(super::TIMEOUT, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => {
                self.io = Some(Box::new(tls));
                self.parser.reset();
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("TLS handshake timed out".into()),
        }
    }

    /// Opens TCP to the direct TLS listener (XEP-0368) without the handshake.
    pub async fn tcp_direct(server: &Server, tls12_only: bool) -> Client {
        let mut c = Client::tcp(server).await;
        c.tcp_only = Some(Box::new(TcpStream::connect(server.c2s_tls).await.unwrap()));
        c.tls12_only = tls12_only;
        c
    }

    /// A client on 127.0.0.1 with a 4 KiB receive buffer, logged in (PLAIN) and bound to
    /// `res`: once it stops reading, what the server sends backs up in the server's
    /// queue within a few hundred KiB.
    pub async fn small_buffer_login(
        server: &Server,
        user: &str,
        password: &str,
        res: &str,
    ) -> Client {
        let sock = TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let tcp = sock.connect(server.c2s).await.unwrap();
        let mut c = Client::starttls_over(tcp, server).await;
        c.auth_plain(user, password).await.expect("login");
        c.bind(Some(res)).await;
        c
    }

    /// Reads until the server ends the stream (closing tag, EOF); panics if it is
    /// still open after `within`.
    pub async fn wait_closed(&mut self, within: Duration) -> Ending {
        let mut end = Ending::default();
        let r = tokio::time::timeout(within, async {
            loop {
                match self.next_event().await {
                    Some(StreamEvent::Element(e)) if e.is("error", STREAM_NS) => {
                        end.errors.extend(
                            e.children()
                                .filter(|c| c.ns() == STREAMS_NS && c.name() != "text")
                                .map(|c| c.name().to_owned()),
                        );
                    }
                    Some(StreamEvent::Element(e)) => end.elements.push(e),
                    Some(StreamEvent::StreamOpen(_)) => {}
                    Some(StreamEvent::StreamClose) | None => return,
                }
            }
        })
        .await;
        assert!(r.is_ok(), "stream still open after {within:?}");
        end
    }

    /// XEP-0199 ping to the server; asserts a result comes back (the session works).
    pub async fn ping(&mut self, id: &str) {
        let domain = self.domain.clone();
        let r = self
            .iq(
                id,
                &format!(
                    "<iq type='get' id='{id}' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>"
                ),
            )
            .await;
        assert_eq!(r.attr("type"), Some("result"), "ping {id} failed: {r:?}");
    }
}

impl Server {
    /// Logs in `user` with SCRAM-SHA-256 and binds `resource`. Cheaper than
    /// [`Server::login`] for the server (no argon2 verification), so tests that need
    /// many sessions stay fast.
    pub async fn login_scram(&self, user: &str, password: &str, resource: &str) -> Client {
        let mut c = Client::connect(self).await;
        c.auth_scram("SCRAM-SHA-256", user, password, super::scram::Cb::None)
            .await
            .expect("SCRAM login failed");
        c.bind(Some(resource)).await;
        c
    }
}
