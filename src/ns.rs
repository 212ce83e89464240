//! XML namespace names used on the wire, each with the document that defines it.

/// Client stream content namespace (RFC 6120 §4.8.2).
pub const CLIENT: &str = "jabber:client";
/// Server stream content namespace (RFC 6120 §4.8.2).
pub const SERVER: &str = "jabber:server";
/// Stream namespace of `<stream:stream>`, `<stream:features>`, `<stream:error>` (RFC 6120 §4.8.1).
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// Stream error conditions (RFC 6120 §4.9.3).
pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// STARTTLS negotiation (RFC 6120 §5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL negotiation (RFC 6120 §6).
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding (RFC 6120 §7).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment, advertised as optional (RFC 3921 §3, draft-cridland-xmpp-session-01).
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Stanza error conditions (RFC 6120 §8.3).
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Roster management (RFC 6121 §2).
pub const ROSTER: &str = "jabber:iq:roster";
/// Roster versioning stream feature (RFC 6121 §2.6).
pub const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
/// Subscription pre-approval stream feature (RFC 6121 §3.4).
pub const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
/// Service discovery, information (XEP-0030 §3).
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Service discovery, items (XEP-0030 §4).
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XMPP ping (XEP-0199).
pub const PING: &str = "urn:xmpp:ping";
/// Software version (XEP-0092).
pub const VERSION: &str = "jabber:iq:version";
/// Delayed delivery (XEP-0203).
pub const DELAY: &str = "urn:xmpp:delay";
/// Offline message retrieval feature name advertised in disco (XEP-0160 §6; XEP-0013).
pub const MSGOFFLINE: &str = "msgoffline";
/// SASL channel-binding type capability (XEP-0440 §3).
pub const SASL_CB: &str = "urn:xmpp:sasl-cb:0";
/// Multi-User Chat: join requests and the service feature (XEP-0045 §19.1).
pub const MUC: &str = "http://jabber.org/protocol/muc";
/// Multi-User Chat: occupant information and invitations (XEP-0045 §19.4).
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// Multi-User Chat: roles and affiliations (XEP-0045 §19.2).
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// Multi-User Chat: room configuration and destruction (XEP-0045 §19.3).
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// Room configuration form type (XEP-0045 §16.5.3).
pub const MUC_ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
/// Room information form type (XEP-0045 §16.5.4).
pub const MUC_ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";
/// MUC self-ping optimization feature (XEP-0410 §3.3).
pub const MUC_SELF_PING: &str = "http://jabber.org/protocol/muc#self-ping-optimization";
/// Anonymous unique occupant identifiers (XEP-0421).
pub const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// Data forms (XEP-0004).
pub const DATA: &str = "jabber:x:data";
/// Direct MUC invitations (XEP-0249).
pub const CONFERENCE: &str = "jabber:x:conference";
/// Legacy entrance negotiation of the pre-MUC conferencing protocol (`jabber:iq:conference`).
pub const IQ_CONFERENCE: &str = "jabber:iq:conference";
/// XEP-0363 HTTP File Upload: slot requests, slots and their errors.
pub const HTTP_UPLOAD: &str = "urn:xmpp:http:upload:0";
/// XEP-0060 publish-subscribe.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 §8 owner use cases.
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// XEP-0060 §4.3 event notifications.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// XEP-0060 §7.1.3, §6.1.3 application error conditions.
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// XEP-0060 §7.1.5 publish options (the FORM_TYPE and the feature).
pub const PUBSUB_PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// XEP-0060 §16.4.4 node configuration FORM_TYPE.
pub const PUBSUB_NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
/// XEP-0115 entity capabilities.
pub const CAPS: &str = "http://jabber.org/protocol/caps";
/// vCard storage, `vcard-temp` (XEP-0054 §2).
pub const VCARD: &str = "vcard-temp";
/// Private XML storage (XEP-0049 §2).
pub const PRIVATE: &str = "jabber:iq:private";
/// Last Activity (XEP-0012 §2).
pub const LAST: &str = "jabber:iq:last";
/// Contact addresses form type, for XEP-0128 extended disco#info (XEP-0157 §2).
pub const SERVERINFO: &str = "http://jabber.org/network/serverinfo";
/// Message Carbons: enable/disable, the `<sent/>`/`<received/>` wrappers and the
/// `<private/>` exclusion (XEP-0280).
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// Stanza Forwarding: the `<forwarded/>` element carbons wrap a copy in (XEP-0297).
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// Message Processing Hints: `<no-copy/>`, `<no-store/>`, `<store/>` (XEP-0334).
pub const HINTS: &str = "urn:xmpp:hints";
/// Message Delivery Receipts (XEP-0184).
pub const RECEIPTS: &str = "urn:xmpp:receipts";
/// Chat Markers (XEP-0333).
pub const CHAT_MARKERS: &str = "urn:xmpp:chat-markers:0";
/// Chat State Notifications (XEP-0085).
pub const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// Blocking Command: block list retrieval, block and unblock (XEP-0191).
pub const BLOCKING: &str = "urn:xmpp:blocking";
/// Blocking Command: the `<blocked/>` application error condition (XEP-0191 §3.3).
pub const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
