//! Regressions for what the fuzz targets in `fuzz/` found, seen from a client.

use crate::common::im::*;
use crate::common::*;

/// XEP-0160: a stored message shorter than the stream header allium wraps it in when
/// reading it back (about 85 bytes) is still delivered. Found by the `stanza` fuzz target
/// (`xml::parse_element` failed such elements with the size limit, and the offline
/// store then deleted them undelivered).
#[tokio::test]
async fn short_offline_message_is_delivered() {
    let server = Server::start();
    server.add_account("a", "pw-a");
    server.add_account("b", "pw-b");
    let mut b = server.login("b", "pw-b", "d").await;
    // Stored as <message from='b@localhost/d' to='a@localhost'><body>x</body></message>.
    b.send("<message to='a@localhost'><body>x</body></message>")
        .await;
    b.assert_idle("stored without an error").await;
    drop(b);

    let mut a = server.login("a", "pw-a", "r").await;
    a.available().await;
    let m = a.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("x"));
    assert_eq!(m.attr("from"), Some("b@localhost/d"));
}
