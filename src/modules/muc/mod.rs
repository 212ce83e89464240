//! XEP-0045 Multi-User Chat (version 1.35): one service per hosted domain on
//! `<subdomain>.<domain>`, plugged into the router as a [`Service`].
//!
//! Split by concern: `room` (occupants and every use case of §7–§10), `affiliation`
//! (roles, affiliations and the permission tables of §5), `roomconfig` (the
//! configuration form, §10.2 and §16.5.3), `history` (in-memory history, §7.2.14),
//! `occupant` (occupants and XEP-0421 occupant ids) and `legacy` (groupchat 1.0
//! and `jabber:iq:conference`). Also XEP-0410 self-ping (answered by the service),
//! mediated invitations (§7.8.2) and, needing nothing here, XEP-0249 direct invitations.
//!
//! # Concurrency
//! Rooms live in a sharded map; each room is behind its own async mutex, so a busy room
//! never stalls another. A stanza is handled while its room is locked, and the
//! stanzas it produces for occupants are queued on their sessions (a non-blocking
//! `try_send`) before the lock is released, so every occupant sees one order. Stanzas for
//! JIDs outside the room (invitations, anything not bound here) are routed after the
//! lock is released. The service never sends to its own domain, so no room ever waits
//! for itself. A message or presence for many occupants is serialized once; each
//! session writes those bytes with its own JID as the `to`.
//!
//! # Security
//! - Rooms are semi-anonymous by default: real JIDs go to moderators only
//!   (`muc#roomconfig_whois`). Occupant ids are HMAC-SHA-256 values under a per-service
//!   secret stored in the database, so they reveal nothing without it.
//! - Client-supplied occupant ids are stripped (XEP-0421 §4).
//! - Histories are kept in memory only. Nothing is logged about bodies, nicks, rooms or
//!   JIDs; logs carry stanza summaries only.
//! - Passwords of password-protected rooms are stored in the database (persistent rooms).
//!   They are compared in constant time, and an account that gave
//!   `muc.password_max_failures` wrong ones to a room within
//!   `muc.password_failure_window_secs` is refused (`resource-constraint`, `wait`).
//! - A locked room (§10.1.1) looks absent to all but its owners: every stanza to it or
//!   its occupants gets the answer a room that does not exist gets.
//! - A `<decline/>` is relayed only from a pending invitee to its inviter, once.
//! - Quotas: rooms created per account that still exist (`muc.max_rooms_per_account`),
//!   rooms an account is an occupant of (`muc.max_joined_rooms_per_account`), and the
//!   history in bytes per room and over the service (`muc.history_max_bytes_*`).
//!
//! # Limitations
//! - No voice requests (§8.6), registration with rooms (§7.10), or unique room names.
//! - IQs between occupants are forwarded without rewriting their ids.
//! - Federation is not implemented, so occupants are local users.
//! - A nick change by one session of an occupant joined from several sessions renames
//!   the occupant for all of them.
//! - The per-account room counts are checked before the room is locked, so joins racing
//!   from several sessions of one account may exceed `max_joined_rooms_per_account` by
//!   the number of those sessions. A restored persistent room counts for its first
//!   owner. When the history total is full, a room that gets a message drops its own
//!   oldest ones; a room with no history keeps none until other rooms' histories shrink
//!   (a room vanishes or is destroyed, or an owner lowers `muc#maxhistoryfetch`). The
//!   default total (64 MiB) is 64 full rooms of the default per-room size.

mod affiliation;
mod history;
mod legacy;
mod occupant;
mod room;
mod roomconfig;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use futures_util::future::BoxFuture;
use jid::{BareJid, FullJid, Jid};
use tokio::sync::Mutex;
use tracing::debug;

use crate::config::MucConfig;
use crate::ns;
use crate::router::hooks::{Chain, ChainResult, ModuleCtx, Origin, Route, To};
use crate::router::session::SessionEntry;
use crate::router::{Router, Service, SharedStanza};
use crate::stanza::{Condition, Kind, Stanza, StanzaError, StreamCondition};
use crate::storage::{self, Storage};
use crate::xml::Element;
use room::{Delivery, Env, Out, Room};
use roomconfig::{Limits, RoomConfig};

/// Who may create rooms (`muc.room_creation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Creation {
    Local,
    Admins,
    Anyone,
}

/// One MUC service.
pub struct MucService {
    domain: String,
    creation: Creation,
    history_default: u32,
    limits: Limits,
    default_max_occupants: u32,
    rooms: DashMap<String, Arc<Mutex<Room>>>,
    storage: Storage,
    secret: Vec<u8>,
    quotas: Quotas,
    /// Rooms that still exist per creating account.
    created: DashMap<BareJid, usize>,
    /// Occupants per account, over all rooms.
    joined: DashMap<BareJid, usize>,
    /// Bytes of history of all rooms.
    history_total: Arc<AtomicUsize>,
}

/// The per-account and memory quotas of `[muc]`.
#[derive(Debug, Clone, Copy)]
struct Quotas {
    rooms_per_account: usize,
    joined_per_account: usize,
    history_room_bytes: usize,
    history_total_bytes: usize,
    password_max_failures: u32,
    password_window: i64,
}

/// What `run` needs to know about the sender.
#[derive(Debug, Clone, Copy, Default)]
struct Caller<'a> {
    /// The sender's real bare JID when a locked room must look absent to it unless it
    /// owns the room (XEP-0045 §10.1.1).
    viewer: Option<&'a BareJid>,
    /// The sender whose occupant quota decides [`Env::may_enter`].
    joiner: Option<&'a BareJid>,
}

/// Adds `delta` occupants or rooms to `who`'s count.
fn count(map: &DashMap<BareJid, usize>, who: &BareJid, up: bool) {
    if up {
        *map.entry(who.clone()).or_insert(0) += 1;
    } else if let Entry::Occupied(mut e) = map.entry(who.clone()) {
        if *e.get() <= 1 {
            e.remove();
        } else {
            *e.get_mut() -= 1;
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl MucService {
    /// The service for `domain` (e.g. `conference.example.org`): reads its secret and
    /// restores its persistent rooms.
    ///
    /// # Errors
    /// A storage error.
    pub async fn load(
        domain: String,
        cfg: &MucConfig,
        storage: Storage,
    ) -> Result<Arc<MucService>, storage::Error> {
        let secret = storage.muc_secret(&domain, rand::random()).await?;
        let svc = MucService {
            domain: domain.clone(),
            creation: match cfg.room_creation() {
                Some(crate::config::RoomCreation::Anyone) => Creation::Anyone,
                Some(crate::config::RoomCreation::Admins) => Creation::Admins,
                Some(crate::config::RoomCreation::Local) | None => Creation::Local,
            },
            history_default: cfg.history_default,
            limits: Limits {
                history_max: cfg.history_max,
                logging_available: cfg.public_logs_available,
            },
            default_max_occupants: cfg.default_max_occupants,
            rooms: DashMap::new(),
            storage: storage.clone(),
            secret,
            quotas: Quotas {
                rooms_per_account: usize::try_from(cfg.max_rooms_per_account).unwrap_or(usize::MAX),
                joined_per_account: usize::try_from(cfg.max_joined_rooms_per_account)
                    .unwrap_or(usize::MAX),
                history_room_bytes: usize::try_from(cfg.history_max_bytes_per_room)
                    .unwrap_or(usize::MAX),
                history_total_bytes: usize::try_from(cfg.history_max_bytes_total)
                    .unwrap_or(usize::MAX),
                password_max_failures: cfg.password_max_failures,
                password_window: i64::try_from(cfg.password_failure_window_secs)
                    .unwrap_or(i64::MAX),
            },
            created: DashMap::new(),
            joined: DashMap::new(),
            history_total: Arc::new(AtomicUsize::new(0)),
        };
        for stored in storage.muc_rooms(&domain).await? {
            if let Ok(jid) = BareJid::new(&format!("{}@{domain}", stored.node)) {
                let mut room = Room::restore(jid, &stored, svc.defaults());
                room.attach_history(svc.history_total.clone());
                // A restored room counts for its first owner, as if created by it.
                room.creator = room
                    .with_affiliation(affiliation::Affiliation::Owner)
                    .first()
                    .and_then(|o| BareJid::new(o).ok());
                if let Some(c) = &room.creator {
                    count(&svc.created, c, true);
                }
                svc.rooms
                    .insert(stored.node.clone(), Arc::new(Mutex::new(room)));
            }
        }
        Ok(Arc::new(svc))
    }

    fn defaults(&self) -> RoomConfig {
        RoomConfig {
            max_history: self.history_default,
            max_users: self.default_max_occupants,
            ..RoomConfig::default()
        }
    }

    fn env(&self, may_enter: bool) -> Env<'_> {
        Env {
            secret: &self.secret,
            now: now_unix(),
            limits: self.limits,
            may_enter,
            history_room_bytes: self.quotas.history_room_bytes,
            history_total_bytes: self.quotas.history_total_bytes,
            password_max_failures: self.quotas.password_max_failures,
            password_window: self.quotas.password_window,
        }
    }

    /// Whether `who` may create one more room (`muc.max_rooms_per_account`).
    fn under_room_quota(&self, who: &BareJid) -> bool {
        self.created.get(who).map_or(0, |n| *n) < self.quotas.rooms_per_account
    }

    /// Whether `who` may become an occupant of one more room.
    fn under_join_quota(&self, who: &BareJid) -> bool {
        self.joined.get(who).map_or(0, |n| *n) < self.quotas.joined_per_account
    }

    /// Applies what a use case reported about occupants entering and leaving.
    fn account(&self, entered: &[BareJid], left: &[BareJid]) {
        for b in entered {
            count(&self.joined, b, true);
        }
        for b in left {
            count(&self.joined, b, false);
        }
    }

    fn may_create(&self, router: &Router, from: &FullJid) -> bool {
        match self.creation {
            Creation::Anyone => true,
            Creation::Local => router.is_local_domain(from.domain().as_str()),
            Creation::Admins => false,
        }
    }

    async fn dispatch(&self, router: &Arc<Router>, st: Stanza) {
        let (Ok(Some(from)), Ok(Some(to))) = (st.from(), st.to()) else {
            return;
        };
        // Only clients talk to rooms; a stanza from a service (ours included) is dropped,
        // so rooms never wait on each other.
        if router.service(from.domain().as_str()).is_some() {
            return;
        }
        let Ok(from) = from.try_into_full() else {
            return;
        };
        debug!(kind = %st.summary(), "muc stanza");
        match to.node() {
            None => self.service_stanza(router, &from, &st),
            Some(node) => {
                let node = node.to_string();
                let nick = to.resource().map(|r| r.to_string());
                self.room_stanza(router, &from, &node, nick, st).await;
            }
        }
    }

    fn service_stanza(&self, router: &Arc<Router>, from: &FullJid, st: &Stanza) {
        if st.kind() == Kind::Presence || st.is_error() {
            return;
        }
        if st.kind() == Kind::Message {
            return send_error(router, st, Condition::ServiceUnavailable.into());
        }
        let Some(q) = st.payload() else { return };
        let get = st.type_attr() == "get";
        if !get && st.type_attr() != "set" {
            return;
        }
        let _ = from;
        if get && q.is("query", ns::DISCO_INFO) && q.attr("node").is_none() {
            let mut res = Element::new("query", ns::DISCO_INFO).child(
                Element::new("identity", ns::DISCO_INFO)
                    .with_attr("category", "conference")
                    .with_attr("type", "text")
                    .with_attr("name", "Chatrooms"),
            );
            for f in [
                ns::DISCO_INFO,
                ns::DISCO_ITEMS,
                ns::MUC,
                ns::OCCUPANT_ID,
                ns::PING,
            ] {
                res.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
            }
            return send_direct(router, st.iq_result(Some(res)));
        }
        if get && q.is("query", ns::DISCO_ITEMS) && q.attr("node").is_none() {
            let rooms: Vec<Arc<Mutex<Room>>> =
                self.rooms.iter().map(|r| r.value().clone()).collect();
            let r2 = router.clone();
            let st = st.clone();
            // Listing locks each room in turn: do it off the sender's path.
            router.spawn(async move {
                let router = r2;
                let mut items: Vec<(String, String)> = Vec::new();
                for r in rooms {
                    let r = r.lock().await;
                    if r.config.public && !r.locked && !r.gone {
                        let name = if r.config.name.is_empty() {
                            r.jid.node().map(|n| n.to_string()).unwrap_or_default()
                        } else {
                            r.config.name.clone()
                        };
                        items.push((r.jid.to_string(), name));
                    }
                }
                items.sort();
                let mut res = Element::new("query", ns::DISCO_ITEMS);
                for (jid, name) in items {
                    res.push_child(
                        Element::new("item", ns::DISCO_ITEMS)
                            .with_attr("jid", jid)
                            .with_attr("name", name),
                    );
                }
                send_direct(&router, st.iq_result(Some(res)));
            });
            return;
        }
        if get && q.is("ping", ns::PING) {
            return send_direct(router, st.iq_result(None));
        }
        let cond = if q.attr("node").is_some() {
            Condition::ItemNotFound
        } else {
            Condition::ServiceUnavailable
        };
        send_error(router, st, cond.into());
    }

    fn room_jid(&self, node: &str) -> Option<BareJid> {
        BareJid::new(&format!("{node}@{}", self.domain)).ok()
    }

    /// Runs `f` on room `node` under its lock, creating the room first if `create` says
    /// so (`(owner, locked)`), then delivers what `f` produced and stores or forgets the
    /// room. `None` when the room does not exist (and was not created).
    async fn run<R>(
        &self,
        router: &Arc<Router>,
        node: &str,
        create: Option<(BareJid, bool)>,
        caller: Caller<'_>,
        f: impl FnOnce(&mut Room, bool, Env<'_>, &mut Out) -> R,
    ) -> Option<R> {
        let mut f = Some(f);
        for _ in 0..4 {
            let existing = self.rooms.get(node).map(|r| r.value().clone());
            let (arc, created) = match existing {
                Some(a) => (a, false),
                None => {
                    let (owner, locked) = create.clone()?;
                    let jid = self.room_jid(node)?;
                    let mut room = Room::new(jid, self.defaults(), Some(owner.clone()), locked);
                    room.attach_history(self.history_total.clone());
                    room.creator = Some(owner);
                    let fresh = Arc::new(Mutex::new(room));
                    match self.rooms.entry(node.to_owned()) {
                        Entry::Occupied(e) => (e.get().clone(), false),
                        Entry::Vacant(v) => {
                            v.insert(fresh.clone());
                            (fresh, true)
                        }
                    }
                }
            };
            let mut room = arc.lock().await;
            if room.gone {
                continue;
            }
            if created && let Some(c) = &room.creator {
                count(&self.created, c, true);
            }
            if let Some(v) = caller.viewer
                && room.locked
                && room.affiliation(v) != affiliation::Affiliation::Owner
            {
                // §10.1.1: a locked room does not exist for anyone but its owners.
                return None;
            }
            let mut out = Out::default();
            let f = f.take()?;
            let may_enter = caller.joiner.is_none_or(|j| self.under_join_quota(j));
            let r = f(&mut room, created, self.env(may_enter), &mut out);
            let rest = deliver(router, &mut room, out.stanzas, &mut out.left);
            self.account(&out.entered, &out.left);
            if room.gone || room.vanishes() {
                room.gone = true;
                self.rooms.remove(node);
                if let Some(c) = &room.creator {
                    count(&self.created, c, false);
                }
                if room.config.persistent || out.save {
                    let _ = self.storage.delete_muc_room(&self.domain, node).await;
                }
            } else if out.save {
                let res = if room.config.persistent {
                    self.storage
                        .put_muc_room(&self.domain, &room.stored())
                        .await
                } else {
                    self.storage.delete_muc_room(&self.domain, node).await
                };
                if let Err(e) = res {
                    debug!(error = %e, "storing a room failed");
                }
            }
            drop(room);
            for el in rest {
                route(router, el).await;
            }
            return Some(r);
        }
        None
    }

    async fn room_stanza(
        &self,
        router: &Arc<Router>,
        from: &FullJid,
        node: &str,
        nick: Option<String>,
        st: Stanza,
    ) {
        match (st.kind(), nick) {
            (Kind::Presence, Some(nick)) => self.presence(router, from, node, &nick, &st).await,
            (Kind::Presence, None) => {
                if st.type_attr().is_empty() {
                    // §7.2.1: entering needs a nick.
                    send_error(router, &st, Condition::JidMalformed.into());
                }
            }
            (Kind::Message, nick) => self.message(router, from, node, nick, &st).await,
            (Kind::Iq, Some(nick)) => {
                let el = st.el();
                let bare = from.to_bare();
                let caller = Caller {
                    viewer: Some(&bare),
                    joiner: None,
                };
                let r = self
                    .run(router, node, None, caller, |room, _, _, out| {
                        room.iq_to_occupant(from, &nick, el, out)
                    })
                    .await;
                if st.is_error() || st.type_attr() == "result" {
                    return;
                }
                match r {
                    None => send_error(router, &st, Condition::NotAcceptable.into()),
                    Some(Err(e)) => send_error(router, &st, e),
                    Some(Ok(())) => {}
                }
            }
            (Kind::Iq, None) => self.room_iq(router, from, node, &st).await,
        }
    }

    async fn presence(
        &self,
        router: &Arc<Router>,
        from: &FullJid,
        node: &str,
        nick: &str,
        st: &Stanza,
    ) {
        let p = st.el();
        let ptype = st.type_attr();
        if !matches!(ptype, "" | "unavailable" | "error") {
            return;
        }
        if ptype.is_empty() && nick.trim().is_empty() {
            return send_error(router, st, Condition::JidMalformed.into());
        }
        let legacy = legacy::is_gc1_join(p);
        let bare = from.to_bare();
        let may_create = ptype.is_empty() && self.may_create(router, from);
        let over_quota = may_create && !self.under_room_quota(&bare);
        let create = (may_create && !over_quota).then(|| (bare.clone(), !legacy));
        let env_nick = nick.to_owned();
        let caller = Caller {
            viewer: None,
            joiner: Some(&bare),
        };
        let r = self
            .run(router, node, create, caller, |room, created, env, out| {
                room.presence(env, from, &env_nick, p, created, out)
            })
            .await;
        match r {
            None if ptype.is_empty() && over_quota => {
                send_error(
                    router,
                    st,
                    StanzaError::from_condition(Condition::ResourceConstraint)
                        .with_text("you created the maximum number of rooms"),
                );
            }
            None if ptype.is_empty() => {
                // §10.1.1: creating is not allowed here.
                send_error(router, st, Condition::NotAllowed.into());
            }
            Some(Err(e)) if ptype.is_empty() => send_error(router, st, e),
            _ => {}
        }
    }

    async fn message(
        &self,
        router: &Arc<Router>,
        from: &FullJid,
        node: &str,
        nick: Option<String>,
        st: &Stanza,
    ) {
        if st.is_error() {
            return;
        }
        let el = st.el();
        let bare = from.to_bare();
        let caller = Caller {
            viewer: Some(&bare),
            joiner: None,
        };
        let r = match nick {
            Some(nick) => {
                self.run(router, node, None, caller, |room, _, _, out| {
                    room.private_message(from, &nick, el, out)
                })
                .await
            }
            None if st.type_attr() == "groupchat" => {
                // The room-message chain (e.g. long bodies become pastes) runs before
                // fan-out and history; a refused message leaves no trace of it (undo).
                let mut filtered = None;
                let mut rewritten = None;
                if router.has_filters(Chain::Groupchat) {
                    let mut copy = st.clone();
                    let sender = Jid::from(from.clone());
                    // The occupant's real JID: a local session or, once federation
                    // exists, a remote one.
                    let origin = if router.is_local_domain(from.domain().as_str()) {
                        Origin::Session
                    } else {
                        Origin::Remote(from.domain().to_string())
                    };
                    let cx = ModuleCtx {
                        router,
                        origin: &origin,
                        from: &sender,
                        account: &bare,
                        session: None,
                        to: None,
                        route: Route::sent(crate::stanza::Kind::Message, To::Service),
                    };
                    match router.filter(Chain::Groupchat, &cx, &mut copy).await {
                        ChainResult::Continue(f) => {
                            filtered = Some(f);
                            rewritten = Some(copy);
                        }
                        ChainResult::Reject(e) => return send_error(router, st, e),
                        ChainResult::Drop => return,
                    }
                }
                let msg = rewritten.as_ref().map_or(el, Stanza::el);
                let r = self
                    .run(router, node, None, caller, |room, _, env, out| {
                        room.groupchat(env, from, msg, out)
                    })
                    .await;
                if let (Some(f), None | Some(Err(_))) = (filtered, &r) {
                    f.undo().await;
                }
                r
            }
            None => match el.get_child("x", ns::MUC_USER) {
                Some(x)
                    if x.has_child("invite", ns::MUC_USER)
                        || x.has_child("decline", ns::MUC_USER) =>
                {
                    self.run(router, node, None, caller, |room, _, _, out| {
                        room.invitations(from, x, out)
                    })
                    .await
                }
                _ => Some(Err(Condition::BadRequest.into())),
            },
        };
        match r {
            None => send_error(router, st, Condition::ItemNotFound.into()),
            Some(Err(e)) => send_error(router, st, e),
            Some(Ok(())) => {}
        }
    }

    async fn room_iq(&self, router: &Arc<Router>, from: &FullJid, node: &str, st: &Stanza) {
        let get = match st.type_attr() {
            "get" => true,
            "set" => false,
            _ => return,
        };
        let Some(q) = st.payload() else {
            return send_error(router, st, Condition::BadRequest.into());
        };
        let legacy_iq = q.is("query", ns::IQ_CONFERENCE);
        let bare = from.to_bare();
        let caller = Caller {
            viewer: Some(&bare),
            joiner: Some(&bare),
        };
        let r = self
            .run(
                router,
                node,
                None,
                caller,
                |room, _, env, out| -> Result<Option<Element>, StanzaError> {
                    let owner =
                        room.affiliation(&from.to_bare()) == affiliation::Affiliation::Owner;
                    if room.locked && !owner {
                        return Err(Condition::ItemNotFound.into());
                    }
                    match (get, q.name(), q.ns()) {
                        (true, "query", ns::DISCO_INFO) if q.attr("node").is_none() => {
                            Ok(Some(room_info(room)))
                        }
                        (true, "query", ns::DISCO_ITEMS) if q.attr("node").is_none() => {
                            Ok(Some(Element::new("query", ns::DISCO_ITEMS)))
                        }
                        (true, "query", ns::MUC_ADMIN) => room.admin_get(from, q).map(Some),
                        (false, "query", ns::MUC_ADMIN) => {
                            room.admin_set(from, q, out).map(|()| None)
                        }
                        (true, "query", ns::MUC_OWNER) => room.owner_get(from).map(Some),
                        (false, "query", ns::MUC_OWNER) => {
                            let destroy = room.owner_set(env, from, q, out)?;
                            if destroy && !room.gone {
                                room.destroy_quietly(out);
                            }
                            Ok(None)
                        }
                        (true, "query", ns::IQ_CONFERENCE) => Ok(Some(legacy::requirements(room))),
                        (false, "query", ns::IQ_CONFERENCE) => {
                            let (nick, secret) = legacy::parse_set(q)?;
                            let nick = jid::ResourcePart::new(&nick)
                                .map_err(|_| StanzaError::from(Condition::BadRequest))?
                                .to_string();
                            let p = legacy::join_presence(secret);
                            room.presence(env, from, &nick, &p, false, out)?;
                            Ok(Some(legacy::joined(room, &nick)))
                        }
                        (true, "ping", ns::PING) => Ok(None),
                        _ => Err(Condition::ServiceUnavailable.into()),
                    }
                },
            )
            .await;
        let r = r.unwrap_or_else(|| Err(Condition::ItemNotFound.into()));
        match r {
            Ok(payload) => send_direct(router, st.iq_result(payload)),
            Err(e) if legacy_iq => {
                if let Some(mut reply) = st.error_reply(&legacy::map_error(e)) {
                    legacy::add_code(&mut reply);
                    send_direct(router, reply);
                }
            }
            Err(e) => send_error(router, st, e),
        }
    }
}

/// disco#info of a room (XEP-0045 §6.4): identity, room type features and the
/// `muc#roominfo` form (§16.5.4).
fn room_info(room: &Room) -> Element {
    let c = &room.config;
    let name = if c.name.is_empty() {
        room.jid.node().map(|n| n.to_string()).unwrap_or_default()
    } else {
        c.name.clone()
    };
    let mut q = Element::new("query", ns::DISCO_INFO).child(
        Element::new("identity", ns::DISCO_INFO)
            .with_attr("category", "conference")
            .with_attr("type", "text")
            .with_attr("name", name),
    );
    let features = [
        ns::MUC,
        ns::DISCO_INFO,
        ns::OCCUPANT_ID,
        ns::MUC_SELF_PING,
        if c.public { "muc_public" } else { "muc_hidden" },
        if c.persistent {
            "muc_persistent"
        } else {
            "muc_temporary"
        },
        if c.password_protected {
            "muc_passwordprotected"
        } else {
            "muc_unsecured"
        },
        if c.moderated {
            "muc_moderated"
        } else {
            "muc_unmoderated"
        },
        if c.members_only {
            "muc_membersonly"
        } else {
            "muc_open"
        },
        if c.whois == roomconfig::Whois::Anyone {
            "muc_nonanonymous"
        } else {
            "muc_semianonymous"
        },
    ];
    for f in features {
        q.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
    }
    let field = |var: &str, label: &str, value: String| {
        Element::new("field", ns::DATA)
            .with_attr("var", var)
            .with_attr("label", label)
            .child(Element::new("value", ns::DATA).with_text(value))
    };
    let form = Element::new("x", ns::DATA)
        .with_attr("type", "result")
        .child(
            Element::new("field", ns::DATA)
                .with_attr("var", "FORM_TYPE")
                .with_attr("type", "hidden")
                .child(Element::new("value", ns::DATA).with_text(ns::MUC_ROOMINFO)),
        )
        .child(field(
            "muc#roominfo_description",
            "Description",
            c.description.clone(),
        ))
        .child(field(
            "muc#roominfo_subject",
            "Subject",
            room.subject.0.clone(),
        ))
        .child(field(
            "muc#roominfo_occupants",
            "Number of occupants",
            room.occupants.len().to_string(),
        ))
        .child(field(
            "muc#roominfo_subjectmod",
            "Occupants may change the subject",
            if c.change_subject { "1" } else { "0" }.to_owned(),
        ))
        .child(field(
            "muc#maxhistoryfetch",
            "History length",
            c.max_history.to_string(),
        ))
        .child(field(
            "muc#roomconfig_allowinvites",
            "Occupants may invite",
            if c.allow_invites { "1" } else { "0" }.to_owned(),
        ));
    q.push_child(form);
    q
}

/// Queues stanzas for local sessions now; returns those for JIDs not bound here, to be
/// routed once the room is unlocked. A session of an occupant that is gone leaves the
/// room (XEP-0045 §7.2: the service removes occupants it can no longer reach). A stanza
/// for many sessions is serialized once ([`SharedStanza`]), except for onion sessions
/// when it carries out-of-band data (its URLs are localized per session).
///
/// The real bare JIDs of occupants who left that way are added to `left`.
fn deliver(
    router: &Arc<Router>,
    room: &mut Room,
    stanzas: Vec<Delivery>,
    left: &mut Vec<BareJid>,
) -> Vec<Element> {
    let mut rest = Vec::new();
    let mut queue = stanzas;
    for _ in 0..4 {
        let mut gone: Vec<FullJid> = Vec::new();
        // Consecutive stanzas for one session (a join's presences, history and subject)
        // go in one queue slot.
        let mut run: Option<(FullJid, Vec<Element>)> = None;
        for d in queue.drain(..) {
            match d {
                Delivery::One(el) => {
                    let to = el.attr("to").and_then(|t| Jid::new(t).ok());
                    match to.map(Jid::try_into_full) {
                        Some(Ok(full)) if router.is_local_domain(full.domain().as_str()) => {
                            match &mut run {
                                Some((to, els)) if *to == full => els.push(el),
                                _ => {
                                    if let Some((to, els)) = run.replace((full, vec![el])) {
                                        deliver_to(router, room, to, els, &mut gone);
                                    }
                                }
                            }
                        }
                        Some(_) => rest.push(el),
                        None => {}
                    }
                }
                Delivery::Each { el, to } => {
                    if let Some((to, els)) = run.take() {
                        deliver_to(router, room, to, els, &mut gone);
                    }
                    let shared = SharedStanza::new(&el);
                    let oob = el.children().any(|c| c.is("x", crate::http::OOB));
                    for full in to {
                        let local = router.is_local_domain(full.domain().as_str());
                        if let Some(sh) = &shared
                            && local
                            && let Some(s) = router.session(&full)
                            && !(oob && s.via_onion)
                        {
                            if !s.send_shared(sh.clone()) {
                                refused(room, &s, &mut gone);
                            }
                            continue;
                        }
                        let mut c = el.clone();
                        c.set_attr("to", full.as_str());
                        if local {
                            deliver_to(router, room, full, vec![c], &mut gone);
                        } else {
                            rest.push(c);
                        }
                    }
                }
            }
        }
        if let Some((to, els)) = run.take() {
            deliver_to(router, room, to, els, &mut gone);
        }
        if gone.is_empty() {
            break;
        }
        let mut out = Out::default();
        for g in &gone {
            room.drop_session(g, &mut out);
        }
        left.append(&mut out.left);
        queue = out.stanzas;
    }
    rest
}

/// Queues `els` (in one slot when there are several) on the local session `full`, or
/// adds `full` to `gone` if it is a session of an occupant that is gone or that refused
/// them ([`refused`]).
fn deliver_to(
    router: &Arc<Router>,
    room: &Room,
    full: FullJid,
    els: Vec<Element>,
    gone: &mut Vec<FullJid>,
) {
    match router.session(&full) {
        Some(s) => {
            if !s.send_batch(els) {
                refused(room, &s, gone);
            }
        }
        None => {
            if room.by_session(&full).is_some() && !gone.contains(&full) {
                gone.push(full);
            }
        }
    }
}

/// A copy the local session `s` did not queue: its queue is full (it stopped reading)
/// or it is ending. An occupant session leaves the room ([`Room::drop_session`]), as
/// XEP-0045 §7.2 lets a service remove occupants it cannot reach, and its stream is closed
/// with `<resource-constraint/>` (RFC 6120 §4.9.3.17) once what it holds is written: the
/// client learns it is out of the room and rejoins, and the room's history holds what it
/// missed, instead of it staying in the room with a gap it cannot see.
fn refused(room: &Room, s: &SessionEntry, gone: &mut Vec<FullJid>) {
    if room.by_session(&s.full).is_none() || gone.contains(&s.full) {
        return;
    }
    debug!("occupant session removed from a room: its queue is full");
    s.close_after_writes(StreamCondition::ResourceConstraint);
    gone.push(s.full.clone());
}

/// The feature: with `muc.enabled`, one service per hosted domain on
/// `<muc.subdomain>.<domain>` (XEP-0045 §4.2), restoring its persistent rooms.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async move {
        let mut built = super::Built::default();
        let cfg = &cx.config.muc;
        if !cfg.enabled {
            return Ok(built);
        }
        for domain in &cx.config.server.domains {
            let service = format!("{}.{domain}", cfg.subdomain);
            let muc = MucService::load(service.clone(), cfg, cx.storage.clone()).await?;
            built.services.push((service, muc));
        }
        Ok(built)
    })
}

/// Routes a stanza built by the service (from a room or occupant JID).
async fn route(router: &Arc<Router>, el: Element) {
    let st = Stanza::new_from(el);
    if let Ok(Some(to)) = st.to() {
        let origin = router.origin_of(&st);
        router.route_inbound(&origin, st, &to).await;
    }
}

/// Sends a stanza to a local session, or routes it.
fn send_direct(router: &Arc<Router>, el: Element) {
    let to = el.attr("to").and_then(|t| Jid::new(t).ok());
    if let Some(Ok(full)) = to.map(Jid::try_into_full)
        && let Some(s) = router.session(&full)
    {
        s.send(el);
        return;
    }
    let r = router.clone();
    router.spawn(async move { route(&r, el).await });
}

fn send_error(router: &Arc<Router>, st: &Stanza, e: StanzaError) {
    if let Some(reply) = st.error_reply(&e) {
        send_direct(router, reply);
    }
}

impl Service for MucService {
    fn name(&self) -> &str {
        "Chatrooms"
    }

    fn handle<'a>(
        &'a self,
        router: &'a Arc<Router>,
        _origin: &'a Origin,
        st: Stanza,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.dispatch(router, st))
    }
}
