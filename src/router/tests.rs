//! The router and the extension API over in-memory sessions: each session is a bound
//! registry entry whose mailbox the test reads, so routing rules, filter chains, events
//! and claims are checked without starting the server.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hooks::{
    Chain, ElementOutcome, Event, EventKind, FilterSpec, Local, Module, ModuleCtx, Outcome, Route,
    To, Undo, Verdict,
};
use super::{Outbound, Router, RouterConfig, SessionEntry};
use crate::ns;
use crate::stanza::{Kind, Stanza};
use crate::storage::Storage;
use crate::storage::test_util::{creds, temp_storage};
use crate::xml::Element;

/// What the test modules saw, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn router(storage: Storage, modules: Vec<Arc<dyn Module>>) -> Arc<Router> {
    Router::new(
        RouterConfig {
            domains: vec!["localhost".to_owned()],
            max_resources: 4,
            session_queue: 8,
        },
        storage,
        modules,
        Vec::new(),
        TaskTracker::new(),
    )
}

struct Client {
    entry: Arc<SessionEntry>,
    rx: mpsc::Receiver<Outbound>,
}

impl Client {
    /// Binds `account/r` and makes the session available with priority 0.
    fn bind(router: &Router, account: &str) -> Client {
        let bare = BareJid::new(account).unwrap();
        let (entry, rx) = router
            .bind(
                &bare,
                Some("r"),
                "sid".into(),
                CancellationToken::new(),
                false,
            )
            .unwrap();
        entry.with_presence(|p| p.available = true);
        Client { entry, rx }
    }

    /// Everything queued to the session so far.
    fn received(&mut self) -> Vec<Element> {
        let mut v = Vec::new();
        while let Ok(out) = self.rx.try_recv() {
            match out {
                Outbound::Stanza(el) | Outbound::Receipt { el, .. } => v.push(el),
                Outbound::Batch(els) => v.extend(els),
                Outbound::Shared(_) => panic!("no shared stanzas here"),
            }
        }
        v
    }

    async fn send(&self, router: &Arc<Router>, el: Element) {
        let mut st = Stanza::from_element(el, ns::CLIENT).unwrap();
        st.set_from(&Jid::from(self.entry.full.clone()));
        router.route_from_client(&self.entry, st).await;
    }
}

fn chat(to: &str, body: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", "chat")
        .child(Element::new("body", ns::CLIENT).with_text(body))
}

fn body(el: &Element) -> String {
    el.get_child("body", ns::CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

fn error_condition(el: &Element) -> Option<String> {
    let e = el.get_child("error", ns::CLIENT)?;
    e.children()
        .find(|c| c.ns() == ns::STANZAS)
        .map(|c| c.name().to_owned())
}

/// A filter step at `priority` on the outbound chain: upper-cases bodies that start
/// with "up", rejects "reject", drops "drop"; notes its name each time it runs.
struct Step {
    name: &'static str,
    specs: &'static [FilterSpec],
    log: Log,
}

static HIGH: [FilterSpec; 1] = [FilterSpec {
    chain: Chain::Outbound,
    priority: 10,
}];
static LOW: [FilterSpec; 1] = [FilterSpec {
    chain: Chain::Outbound,
    priority: -5,
}];

impl Module for Step {
    fn name(&self) -> &'static str {
        self.name
    }
    fn filters(&self) -> &'static [FilterSpec] {
        self.specs
    }
    fn filter<'a>(
        &'a self,
        _cx: &'a ModuleCtx<'a>,
        _chain: Chain,
        st: &'a mut Stanza,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            note(&self.log, self.name);
            let b = body(st.el());
            match b.as_str() {
                "reject" => Verdict::Reject(crate::stanza::StanzaError::from_condition(
                    crate::stanza::Condition::NotAllowed,
                )),
                "drop" => Verdict::Drop,
                b if b.starts_with("up") => {
                    let mut el = st.el().clone();
                    el.remove_child("body", ns::CLIENT);
                    el.push_child(Element::new("body", ns::CLIENT).with_text(b.to_uppercase()));
                    *st = Stanza::new_from(el);
                    let log = self.log.clone();
                    let undo: Undo = Box::new(move || {
                        Box::pin(async move { note(&log, "undone") }) as BoxFuture<'static, ()>
                    });
                    Verdict::Rewritten(Some(undo))
                }
                _ => Verdict::Pass,
            }
        })
    }
}

#[tokio::test]
async fn filter_steps_run_by_priority_and_can_rewrite_reject_or_drop() {
    let (_dir, storage) = temp_storage();
    let log: Log = Default::default();
    // Listed low first: the chain still runs the higher priority first.
    let r = router(
        storage,
        vec![
            Arc::new(Step {
                name: "low",
                specs: &LOW,
                log: log.clone(),
            }),
            Arc::new(Step {
                name: "high",
                specs: &HIGH,
                log: log.clone(),
            }),
        ],
    );
    let mut alice = Client::bind(&r, "alice@localhost");
    let mut bob = Client::bind(&r, "bob@localhost");

    alice.send(&r, chat("bob@localhost", "up and away")).await;
    let got = bob.received();
    assert_eq!(got.len(), 1);
    assert_eq!(body(&got[0]), "UP AND AWAY");
    assert_eq!(*log.lock().unwrap(), ["high", "low"]);

    log.lock().unwrap().clear();
    alice.send(&r, chat("bob@localhost", "reject")).await;
    assert!(bob.received().is_empty());
    let errors = alice.received();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].attr("type"), Some("error"));
    assert_eq!(error_condition(&errors[0]).as_deref(), Some("not-allowed"));

    alice.send(&r, chat("bob@localhost", "drop")).await;
    assert!(bob.received().is_empty());
    assert!(
        alice.received().is_empty(),
        "a dropped stanza is not answered"
    );
}

/// A rewrite whose stanza the destination then refused is undone by the caller.
#[tokio::test]
async fn a_refused_rewrite_is_undone_by_the_caller() {
    let (_dir, storage) = temp_storage();
    let log: Log = Default::default();
    let r = router(
        storage,
        vec![Arc::new(Step {
            name: "high",
            specs: &HIGH,
            log: log.clone(),
        })],
    );
    let alice = Client::bind(&r, "alice@localhost");
    let from = Jid::from(alice.entry.full.clone());
    let origin = super::hooks::Origin::Session;
    let cx = ModuleCtx {
        router: &r,
        origin: &origin,
        from: &from,
        account: &alice.entry.account,
        session: Some(&alice.entry),
        to: None,
        route: Route::sent(Kind::Message, To::OwnAccount),
    };
    let mut st = Stanza::from_element(chat("bob@localhost", "up"), ns::CLIENT).unwrap();
    let super::hooks::ChainResult::Continue(done) = r.filter(Chain::Outbound, &cx, &mut st).await
    else {
        panic!("the step passes a rewritten stanza");
    };
    assert_eq!(body(st.el()), "UP");
    assert!(!done.is_empty());
    // The destination refused it: the caller undoes.
    done.undo().await;
    assert_eq!(*log.lock().unwrap(), ["high", "undone"]);
}

/// A module on the routes for messages to the server and for messages delivered to a
/// full JID; it notes each and handles those with body "mine".
struct Watcher {
    log: Log,
}

static WATCHED: [Route; 3] = [
    Route::sent(Kind::Message, To::Host),
    Route::delivered(Kind::Message, Local::Full),
    Route::iq(
        crate::router::hooks::IqKind::Get,
        "time",
        "urn:xmpp:time",
        To::OwnAccount,
    ),
];

impl Module for Watcher {
    fn name(&self) -> &'static str {
        "watcher"
    }
    fn routes(&self) -> &'static [Route] {
        &WATCHED
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            note(&self.log, format!("{:?} from {}", cx.route, cx.from));
            if st.kind() == Kind::Iq {
                return Outcome::Reply(st.iq_result(None));
            }
            if body(st.el()) == "mine" {
                Outcome::Handled
            } else {
                Outcome::Pass
            }
        })
    }
    fn events(&self) -> &'static [EventKind] {
        &[
            EventKind::SessionBound,
            EventKind::SessionClosed,
            EventKind::QueueWritten,
            EventKind::MessageUndeliverable,
            EventKind::AccountDeleted,
        ]
    }
    fn event<'a>(&'a self, _router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let what = match ev {
                Event::SessionBound(s) => format!("bound {}", s.full),
                Event::SessionClosed(s) => format!("closed {}", s.full),
                Event::QueueWritten(s) => format!("written {}", s.full),
                Event::InitialPresence(s) => format!("initial {}", s.full),
                Event::MessageUndeliverable(st) => format!("undeliverable {}", body(st.el())),
                Event::Written(s, r) => format!("written {} {}", s.full, r.len()),
                Event::AccountDeleted(a) => format!("deleted {a}"),
                Event::PresenceBroadcast(s, _) => format!("presence {}", s.full),
            };
            note(&self.log, what);
        })
    }
    fn stream_features(&self) -> Vec<Element> {
        vec![Element::new("sm", "urn:xmpp:sm:3")]
    }
    fn elements(&self) -> &'static [(&'static str, &'static str)] {
        &[("r", "urn:xmpp:sm:3")]
    }
    fn element<'a>(
        &'a self,
        _router: &'a Arc<Router>,
        _session: &'a Arc<SessionEntry>,
        el: Element,
    ) -> BoxFuture<'a, ElementOutcome> {
        Box::pin(async move {
            note(&self.log, format!("element {}", el.name()));
            ElementOutcome::Reply(vec![Element::new("a", "urn:xmpp:sm:3").with_attr("h", "0")])
        })
    }
}

#[tokio::test]
async fn routes_by_kind_and_addressee() {
    let (_dir, storage) = temp_storage();
    let log: Log = Default::default();
    let r = router(storage, vec![Arc::new(Watcher { log: log.clone() })]);
    let mut alice = Client::bind(&r, "alice@localhost");
    let mut bob = Client::bind(&r, "bob@localhost");

    // To the server: handled by the module, so no service-unavailable bounce.
    alice.send(&r, chat("localhost", "mine")).await;
    assert!(alice.received().is_empty());
    // Passed by the module: the router's default bounces (RFC 6121 §8.5.1).
    alice.send(&r, chat("localhost", "other")).await;
    let got = alice.received();
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("service-unavailable")
    );

    // Delivered to a full JID: the module sees it, and takes "mine".
    alice.send(&r, chat("bob@localhost/r", "mine")).await;
    assert!(bob.received().is_empty());
    alice.send(&r, chat("bob@localhost/r", "for bob")).await;
    assert_eq!(body(&bob.received()[0]), "for bob");
    // To the bare JID: not on the module's route, delivered by priority.
    alice.send(&r, chat("bob@localhost", "bare")).await;
    assert_eq!(body(&bob.received()[0]), "bare");

    // IQ routes match on the payload's name and namespace.
    let iq = |ns: &str| {
        Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", "t1")
            .child(Element::new("time", ns))
    };
    alice.send(&r, iq("urn:xmpp:time")).await;
    let got = alice.received();
    assert_eq!(got[0].attr("type"), Some("result"));
    alice.send(&r, iq("urn:example:other")).await;
    let got = alice.received();
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("service-unavailable")
    );

    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|s| s.starts_with("Sent")).count(),
        2,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|s| s.starts_with("Delivered")).count(),
        2,
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|s| !s.contains("Delivered") || s.ends_with("from alice@localhost/r"))
    );
}

#[tokio::test]
async fn events_claims_and_features() {
    let (_dir, storage) = temp_storage();
    storage
        .create_account("bob@localhost", &creds(1))
        .await
        .unwrap();
    let log: Log = Default::default();
    let r = router(storage, vec![Arc::new(Watcher { log: log.clone() })]);
    let mut alice = Client::bind(&r, "alice@localhost");
    r.emit(Event::SessionBound(&alice.entry)).await;

    // bob exists but has no session, and no module stores messages: bounced, and the
    // modules are told.
    alice.send(&r, chat("bob@localhost", "lost")).await;
    let got = alice.received();
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("service-unavailable")
    );

    // Claimed elements go to their module; others end the stream.
    let el = Element::new("r", "urn:xmpp:sm:3");
    match r.handle_element(&alice.entry, el).await {
        ElementOutcome::Reply(els) => assert!(els[0].is("a", "urn:xmpp:sm:3")),
        _ => panic!("claimed element not handled"),
    }
    assert!(r.claims_element("r", "urn:xmpp:sm:3"));
    assert!(!r.claims_element("a", "urn:xmpp:sm:3"));
    match r
        .handle_element(&alice.entry, Element::new("x", "urn:example"))
        .await
    {
        ElementOutcome::Fail(c) => {
            assert_eq!(c, crate::stanza::StreamCondition::UnsupportedStanzaType)
        }
        _ => panic!("unclaimed element accepted"),
    }
    let features = r.stream_features();
    assert_eq!(features.len(), 1);
    assert!(features[0].is("sm", "urn:xmpp:sm:3"));

    alice.entry.notify_when_written();
    assert!(alice.entry.take_written_notice());
    assert!(!alice.entry.take_written_notice(), "asked once, told once");

    // A deleted account's sessions are told to close, with `not-authorized`.
    r.account_deleted(&alice.entry.account).await;
    assert_eq!(
        alice.entry.close_reason(),
        Some(crate::stanza::StreamCondition::NotAuthorized)
    );
    r.unbind(&alice.entry).await;
    assert_eq!(r.session_count(), 0);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "bound alice@localhost/r",
            "undeliverable lost",
            "element r",
            "deleted alice@localhost",
            "closed alice@localhost/r",
        ]
    );
    assert!(alice.received().is_empty());
}

#[tokio::test]
async fn typed_session_state_is_per_type_and_per_session() {
    let (_dir, storage) = temp_storage();
    let r = router(storage, Vec::new());
    let alice = Client::bind(&r, "alice@localhost");
    let bob = Client::bind(&r, "bob@localhost");
    #[derive(Default)]
    struct Counter(u32);
    #[derive(Default)]
    struct Names(Vec<&'static str>);
    alice.entry.with_state(|c: &mut Counter| c.0 += 2);
    alice.entry.with_state(|n: &mut Names| n.0.push("x"));
    alice.entry.with_state(|c: &mut Counter| c.0 += 1);
    assert_eq!(alice.entry.with_state(|c: &mut Counter| c.0), 3);
    assert_eq!(alice.entry.with_state(|n: &mut Names| n.0.clone()), ["x"]);
    assert_eq!(bob.entry.with_state(|c: &mut Counter| c.0), 0);
}

#[tokio::test]
async fn addressee_and_origin_kinds() {
    let (_dir, storage) = temp_storage();
    let r = router(storage, Vec::new());
    let alice = Client::bind(&r, "alice@localhost");
    let me = BareJid::new("alice@localhost").unwrap();
    let to = |s: &str| Jid::new(s).unwrap();
    assert_eq!(r.addressee(&me, None), To::OwnAccount);
    assert_eq!(
        r.addressee(&me, Some(&to("alice@localhost"))),
        To::OwnAccount
    );
    assert_eq!(
        r.addressee(&me, Some(&to("bob@localhost"))),
        To::OtherAccount
    );
    assert_eq!(r.addressee(&me, Some(&to("bob@localhost/x"))), To::Resource);
    assert_eq!(r.addressee(&me, Some(&to("localhost"))), To::Host);
    assert_eq!(r.addressee(&me, Some(&to("bob@example.org"))), To::Remote);

    let from = |f: &str| {
        let mut st = Stanza::from_element(chat("x@localhost", "b"), ns::CLIENT).unwrap();
        st.set_from(&Jid::new(f).unwrap());
        r.origin_of(&st)
    };
    use super::hooks::Origin;
    assert_eq!(from(alice.entry.full.as_str()), Origin::Session);
    assert_eq!(from("alice@localhost"), Origin::Server);
    assert_eq!(
        from("someone@example.org/x"),
        Origin::Remote("example.org".into())
    );
}

/// Every non-IQ route has its own slot in the router's table, within bounds.
#[test]
fn route_slots_are_distinct() {
    let kinds = [Kind::Message, Kind::Presence, Kind::Iq];
    let tos = [
        To::Host,
        To::OwnAccount,
        To::OtherAccount,
        To::Resource,
        To::Service,
        To::Remote,
    ];
    let mut routes = vec![Route::undeliverable()];
    for k in kinds {
        routes.extend(tos.iter().map(|t| Route::sent(k, *t)));
        routes.extend([Local::Host, Local::Bare, Local::Full].map(|l| Route::delivered(k, l)));
    }
    let mut slots: Vec<usize> = routes.iter().map(super::route_slot).collect();
    assert!(slots.iter().all(|s| *s < super::ROUTE_SLOTS - 1));
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), routes.len());
}
