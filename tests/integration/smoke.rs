//! The path a new user takes: two accounts log in over TLS and chat.

use crate::common::*;

#[tokio::test]
async fn two_accounts_chat_over_starttls() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let mut alice = server.login("alice", "wonderland", "phone").await;
    let mut bob = server.login("bob", "builder", "laptop").await;
    alice.available().await;
    bob.available().await;
    alice
        .send("<message to='bob@localhost' type='chat' id='m1'><body>hello bob</body></message>")
        .await;
    let m = bob
        .recv_until("alice's message", |e| e.name() == "message")
        .await;
    assert_eq!(m.attr("from"), Some("alice@localhost/phone"));
    assert_eq!(
        m.get_child("body", CLIENT_NS).map(|b| b.text()),
        Some("hello bob".to_owned())
    );
    alice.close().await;
    bob.close().await;
}
