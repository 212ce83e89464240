//! A bound client session as the router sees it: its full JID, mailbox and presence.

use std::collections::HashSet;
use std::sync::Mutex;

use jid::{FullJid, Jid};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::stanza::StreamCondition;
use crate::xml::Element;

/// What the router hands a session's task to write.
#[derive(Debug)]
pub enum Outbound {
    /// A stanza to write as-is.
    Stanza(Element),
}

/// Presence state of one session (RFC 6121 §4).
#[derive(Debug, Default)]
pub struct PresenceState {
    /// Initial presence sent and no unavailable since (RFC 6121 §4.2).
    pub available: bool,
    /// Priority of the last broadcast presence, -128..=127 (§4.7.2.3).
    pub priority: i8,
    /// The last broadcast presence, with `from` stamped.
    pub last: Option<Element>,
    /// JIDs that received directed presence and must get unavailable at the end (§4.6.3).
    pub directed: HashSet<Jid>,
    /// The session asked for the roster, so it gets roster pushes (§2.1.6).
    pub interested: bool,
    /// Offline messages and pending subscriptions were delivered (once per session).
    pub initial_done: bool,
}

/// One bound session.
#[derive(Debug)]
pub struct SessionEntry {
    /// The bound full JID.
    pub full: FullJid,
    /// Random session id (the log span field).
    pub sid: String,
    tx: mpsc::Sender<Outbound>,
    kill: CancellationToken,
    kill_reason: Mutex<Option<StreamCondition>>,
    /// Presence state.
    pub presence: Mutex<PresenceState>,
    /// The session's stream came through the onion service: URLs of ours sent to it
    /// use the onion base URL ([`crate::http::BaseUrls::for_via`]).
    pub via_onion: bool,
}

impl SessionEntry {
    /// A new entry for a session whose task reads `tx`'s receiver and watches `kill`;
    /// `via_onion` when its stream came through the onion service.
    pub fn new(
        full: FullJid,
        sid: String,
        tx: mpsc::Sender<Outbound>,
        kill: CancellationToken,
        via_onion: bool,
    ) -> Self {
        Self {
            full,
            sid,
            tx,
            kill,
            kill_reason: Mutex::new(None),
            presence: Mutex::new(PresenceState::default()),
            via_onion,
        }
    }

    /// Queues a stanza for the session. A full queue means the client does not read:
    /// the session is closed with `resource-constraint` (RFC 6120 §4.9.3.12) and the
    /// stanza is dropped. Returns whether it was queued.
    pub fn send(&self, el: Element) -> bool {
        match self.tx.try_send(Outbound::Stanza(el)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(StreamCondition::ResourceConstraint);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the session task to end the stream with `cond`.
    pub fn close(&self, cond: StreamCondition) {
        if let Ok(mut r) = self.kill_reason.lock() {
            r.get_or_insert(cond);
        }
        self.kill.cancel();
    }

    /// Why [`SessionEntry::close`] was called, if it was.
    pub fn close_reason(&self) -> Option<StreamCondition> {
        self.kill_reason.lock().ok().and_then(|r| *r)
    }

    /// Runs `f` on the presence state (poisoning is recovered: the state is plain data).
    pub fn with_presence<R>(&self, f: impl FnOnce(&mut PresenceState) -> R) -> R {
        let mut g = match self.presence.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }
}
