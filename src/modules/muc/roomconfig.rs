//! The room configuration and its data form (XEP-0045 §10.2, field registry §16.5.3).

use jid::BareJid;
use serde::{Deserialize, Serialize};

use super::affiliation::Role;
use crate::ns;
use crate::stanza::{Condition, StanzaError};
use crate::xml::Element;

/// Who may see occupants' real JIDs (`muc#roomconfig_whois`, XEP-0045 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Whois {
    /// Semi-anonymous: moderators only (the default).
    Moderators,
    /// Non-anonymous: every occupant.
    Anyone,
}

/// Who may send private messages (`muc#roomconfig_allowpm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllowPm {
    /// Every occupant (the default).
    Anyone,
    /// Participants and moderators (not visitors).
    Participants,
    /// Moderators only.
    Moderators,
    /// Nobody.
    None,
}

impl AllowPm {
    fn as_str(self) -> &'static str {
        match self {
            Self::Anyone => "anyone",
            Self::Participants => "participants",
            Self::Moderators => "moderators",
            Self::None => "none",
        }
    }

    /// Whether an occupant with `role` may send a private message.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Self::Anyone => true,
            Self::Participants => role >= Role::Participant,
            Self::Moderators => role == Role::Moderator,
            Self::None => false,
        }
    }
}

/// A room's configuration. Defaults (contract of issue 4): temporary, hidden, subject
/// changes by moderators only, no password, unmoderated, open, history from the service,
/// no logging, semi-anonymous, private messages from anyone, no invitations by members,
/// presence broadcast for every role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomConfig {
    /// `muc#roomconfig_roomname`.
    pub name: String,
    /// `muc#roomconfig_roomdesc`.
    pub description: String,
    /// `muc#roomconfig_persistentroom`.
    pub persistent: bool,
    /// `muc#roomconfig_publicroom`: listed in the service's disco#items.
    pub public: bool,
    /// `muc#roomconfig_changesubject`: participants may change the subject.
    pub change_subject: bool,
    /// `muc#roomconfig_passwordprotectedroom`.
    pub password_protected: bool,
    /// `muc#roomconfig_roomsecret`.
    pub password: String,
    /// `muc#roomconfig_moderatedroom`.
    pub moderated: bool,
    /// `muc#roomconfig_membersonly`.
    pub members_only: bool,
    /// `muc#maxhistoryfetch`: messages replayed to a joiner.
    pub max_history: u32,
    /// `muc#roomconfig_enablelogging`.
    pub logging: bool,
    /// `muc#roomconfig_maxusers`.
    pub max_users: u32,
    /// `muc#roomconfig_whois`.
    pub whois: Whois,
    /// `muc#roomconfig_allowpm`.
    pub allow_pm: AllowPm,
    /// `muc#roomconfig_allowinvites`.
    pub allow_invites: bool,
    /// `muc#roomconfig_presencebroadcast`: roles whose presence is broadcast.
    pub presence_broadcast: Vec<String>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            persistent: false,
            public: false,
            change_subject: false,
            password_protected: false,
            password: String::new(),
            moderated: false,
            members_only: false,
            max_history: 20,
            logging: false,
            max_users: 200,
            whois: Whois::Moderators,
            allow_pm: AllowPm::Anyone,
            allow_invites: false,
            presence_broadcast: vec![
                "moderator".to_owned(),
                "participant".to_owned(),
                "visitor".to_owned(),
            ],
        }
    }
}

/// Service limits that bound what an owner may configure.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Highest `muc#maxhistoryfetch`.
    pub history_max: u32,
    /// Whether `muc#roomconfig_enablelogging` may be turned on.
    pub logging_available: bool,
}

/// What a submitted form changes besides the configuration itself.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FormExtras {
    /// `muc#roomconfig_roomowners`, when submitted non-empty.
    pub owners: Option<Vec<BareJid>>,
    /// `muc#roomconfig_roomadmins`, when submitted.
    pub admins: Option<Vec<BareJid>>,
}

const MAXUSERS_OPTIONS: &[&str] = &["10", "20", "30", "50", "100", "200", "500", "1000"];

fn field(var: &str, ftype: &str, label: &str, values: &[&str]) -> Element {
    let mut f = Element::new("field", ns::DATA)
        .with_attr("var", var)
        .with_attr("type", ftype);
    if !label.is_empty() {
        f.set_attr("label", label);
    }
    for v in values {
        f.push_child(Element::new("value", ns::DATA).with_text(*v));
    }
    f
}

fn with_options(mut f: Element, options: &[(&str, &str)]) -> Element {
    for (value, label) in options {
        f.push_child(
            Element::new("option", ns::DATA)
                .with_attr("label", *label)
                .child(Element::new("value", ns::DATA).with_text(*value)),
        );
    }
    f
}

fn b(v: bool) -> &'static str {
    if v { "1" } else { "0" }
}

impl RoomConfig {
    /// The configuration form (XEP-0045 §10.2 Example 163), filled with the current values.
    pub fn form(&self, owners: &[String], admins: &[String]) -> Element {
        let max_users = self.max_users.to_string();
        let max_history = self.max_history.to_string();
        let roles: Vec<&str> = self.presence_broadcast.iter().map(String::as_str).collect();
        let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
        let admins: Vec<&str> = admins.iter().map(String::as_str).collect();
        let mut users_opts: Vec<(&str, &str)> = MAXUSERS_OPTIONS.iter().map(|o| (*o, *o)).collect();
        if !MAXUSERS_OPTIONS.contains(&max_users.as_str()) {
            users_opts.push((max_users.as_str(), max_users.as_str()));
        }
        Element::new("x", ns::DATA)
            .with_attr("type", "form")
            .child(Element::new("title", ns::DATA).with_text("Room configuration"))
            .child(field("FORM_TYPE", "hidden", "", &[ns::MUC_ROOMCONFIG]))
            .child(field(
                "muc#roomconfig_roomname",
                "text-single",
                "Name",
                &[&self.name],
            ))
            .child(field(
                "muc#roomconfig_roomdesc",
                "text-single",
                "Description",
                &[&self.description],
            ))
            .child(field(
                "muc#roomconfig_persistentroom",
                "boolean",
                "Persistent (kept when the last occupant leaves)",
                &[b(self.persistent)],
            ))
            .child(field(
                "muc#roomconfig_publicroom",
                "boolean",
                "Searchable (listed in the directory of rooms)",
                &[b(self.public)],
            ))
            .child(field(
                "muc#roomconfig_changesubject",
                "boolean",
                "Participants may change the subject",
                &[b(self.change_subject)],
            ))
            .child(field(
                "muc#roomconfig_passwordprotectedroom",
                "boolean",
                "Password required to enter",
                &[b(self.password_protected)],
            ))
            .child(field(
                "muc#roomconfig_roomsecret",
                "text-private",
                "Password",
                &[&self.password],
            ))
            .child(field(
                "muc#roomconfig_moderatedroom",
                "boolean",
                "Moderated (visitors need voice to speak)",
                &[b(self.moderated)],
            ))
            .child(field(
                "muc#roomconfig_membersonly",
                "boolean",
                "Members only",
                &[b(self.members_only)],
            ))
            .child(field(
                "muc#maxhistoryfetch",
                "text-single",
                "Messages of history sent to new occupants",
                &[&max_history],
            ))
            .child(field(
                "muc#roomconfig_enablelogging",
                "boolean",
                "Public logs",
                &[b(self.logging)],
            ))
            .child(with_options(
                field(
                    "muc#roomconfig_maxusers",
                    "list-single",
                    "Maximum number of occupants",
                    &[&max_users],
                ),
                &users_opts,
            ))
            .child(with_options(
                field(
                    "muc#roomconfig_whois",
                    "list-single",
                    "Who may discover real JIDs",
                    &[match self.whois {
                        Whois::Moderators => "moderators",
                        Whois::Anyone => "anyone",
                    }],
                ),
                &[("moderators", "Moderators only"), ("anyone", "Anyone")],
            ))
            .child(with_options(
                field(
                    "muc#roomconfig_allowpm",
                    "list-single",
                    "Who may send private messages",
                    &[self.allow_pm.as_str()],
                ),
                &[
                    ("anyone", "Anyone"),
                    ("participants", "Participants"),
                    ("moderators", "Moderators"),
                    ("none", "Nobody"),
                ],
            ))
            .child(field(
                "muc#roomconfig_allowinvites",
                "boolean",
                "Occupants may invite others",
                &[b(self.allow_invites)],
            ))
            .child(with_options(
                field(
                    "muc#roomconfig_presencebroadcast",
                    "list-multi",
                    "Roles whose presence is broadcast",
                    &roles,
                ),
                &[
                    ("moderator", "Moderator"),
                    ("participant", "Participant"),
                    ("visitor", "Visitor"),
                ],
            ))
            .child(field(
                "muc#roomconfig_roomowners",
                "jid-multi",
                "Room owners",
                &owners,
            ))
            .child(field(
                "muc#roomconfig_roomadmins",
                "jid-multi",
                "Room admins",
                &admins,
            ))
    }

    /// Applies a submitted form (`<x xmlns='jabber:x:data' type='submit'/>`) to a copy of
    /// this configuration; fields not submitted keep their values, unknown fields are
    /// ignored. An empty form is the instant room (XEP-0045 §10.1.2).
    ///
    /// # Errors
    /// `bad-request` for a form of another type; `not-acceptable` for a value that is not
    /// valid or not allowed here (logging when the operator has not made public logs
    /// available, history beyond the service's maximum, a password-protected room
    /// without password) — §10.2, "the service MUST return not-acceptable". A non-empty
    /// `muc#roomconfig_roomsecret` without `muc#roomconfig_passwordprotectedroom` in the
    /// same form turns password protection on.
    pub fn apply(
        &self,
        x: &Element,
        limits: Limits,
    ) -> Result<(RoomConfig, FormExtras), StanzaError> {
        let mut c = self.clone();
        let mut extras = FormExtras::default();
        // Whether this form says anything about password protection and what secret it
        // gives: a secret alone protects the room (as Prosody does), so a password is
        // never ignored; protection explicitly off wins (clients send the old secret
        // back with the whole form when an owner turns protection off).
        let mut protection_given: Option<bool> = None;
        let mut secret_given: Option<String> = None;
        let bad = |what: &str| {
            StanzaError::from_condition(Condition::NotAcceptable)
                .with_text(format!("invalid value for {what}"))
        };
        for f in x.children().filter(|f| f.is("field", ns::DATA)) {
            let Some(var) = f.attr("var") else { continue };
            let values: Vec<String> = f
                .children()
                .filter(|v| v.is("value", ns::DATA))
                .map(Element::text)
                .collect();
            let first = values.first().map(String::as_str).unwrap_or("");
            let boolean = || match first.trim() {
                "1" | "true" => Ok(true),
                "0" | "false" | "" => Ok(false),
                _ => Err(bad(var)),
            };
            match var {
                "FORM_TYPE" if first != ns::MUC_ROOMCONFIG => {
                    return Err(Condition::BadRequest.into());
                }
                "muc#roomconfig_roomname" => c.name = first.to_owned(),
                "muc#roomconfig_roomdesc" => c.description = first.to_owned(),
                "muc#roomconfig_persistentroom" => c.persistent = boolean()?,
                "muc#roomconfig_publicroom" => c.public = boolean()?,
                "muc#roomconfig_changesubject" => c.change_subject = boolean()?,
                "muc#roomconfig_passwordprotectedroom" => {
                    c.password_protected = boolean()?;
                    protection_given = Some(c.password_protected);
                }
                "muc#roomconfig_roomsecret" => {
                    c.password = first.to_owned();
                    secret_given = Some(first.to_owned());
                }
                "muc#roomconfig_moderatedroom" => c.moderated = boolean()?,
                "muc#roomconfig_membersonly" => c.members_only = boolean()?,
                "muc#maxhistoryfetch" | "muc#roomconfig_historylength" => {
                    let n: u32 = first.trim().parse().map_err(|_| bad(var))?;
                    if n > limits.history_max {
                        return Err(bad(var));
                    }
                    c.max_history = n;
                }
                "muc#roomconfig_enablelogging" => {
                    c.logging = boolean()?;
                    if c.logging && !limits.logging_available {
                        return Err(StanzaError::from_condition(Condition::NotAcceptable)
                            .with_text("public logs are not available on this service"));
                    }
                }
                "muc#roomconfig_maxusers" => {
                    let n: u32 = match first.trim() {
                        "none" | "" => 10_000,
                        t => t.parse().map_err(|_| bad(var))?,
                    };
                    if n == 0 || n > 10_000 {
                        return Err(bad(var));
                    }
                    c.max_users = n;
                }
                "muc#roomconfig_whois" => {
                    c.whois = match first {
                        "moderators" => Whois::Moderators,
                        "anyone" => Whois::Anyone,
                        _ => return Err(bad(var)),
                    }
                }
                "muc#roomconfig_allowpm" => {
                    c.allow_pm = match first {
                        "anyone" => AllowPm::Anyone,
                        "participants" => AllowPm::Participants,
                        "moderators" => AllowPm::Moderators,
                        "none" => AllowPm::None,
                        _ => return Err(bad(var)),
                    }
                }
                "muc#roomconfig_allowinvites" => c.allow_invites = boolean()?,
                "muc#roomconfig_presencebroadcast" => {
                    let mut roles = Vec::new();
                    for v in &values {
                        match v.as_str() {
                            "moderator" | "participant" | "visitor" => {
                                if !roles.contains(v) {
                                    roles.push(v.clone());
                                }
                            }
                            _ => return Err(bad(var)),
                        }
                    }
                    c.presence_broadcast = roles;
                }
                "muc#roomconfig_roomowners" | "muc#roomconfig_roomadmins" => {
                    let mut jids = Vec::new();
                    for v in values.iter().filter(|v| !v.trim().is_empty()) {
                        let j = crate::stanza::parse_bare_jid(v.trim()).ok_or_else(|| bad(var))?;
                        jids.push(j);
                    }
                    if var == "muc#roomconfig_roomowners" {
                        if !jids.is_empty() {
                            extras.owners = Some(jids);
                        }
                    } else {
                        extras.admins = Some(jids);
                    }
                }
                _ => {}
            }
        }
        if protection_given.is_none() && secret_given.is_some_and(|s| !s.is_empty()) {
            c.password_protected = true;
        }
        if c.password_protected && c.password.is_empty() {
            return Err(StanzaError::from_condition(Condition::NotAcceptable)
                .with_text("a password-protected room needs a password"));
        }
        if !c.password_protected {
            c.password.clear();
        }
        Ok((c, extras))
    }

    /// Whether presence of occupants with `role` is broadcast.
    pub fn broadcasts(&self, role: Role) -> bool {
        self.presence_broadcast.iter().any(|r| r == role.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        history_max: 100,
        logging_available: false,
    };

    fn submit(fields: &[(&str, &[&str])]) -> Element {
        let mut x = Element::new("x", ns::DATA).with_attr("type", "submit");
        x.push_child(field("FORM_TYPE", "hidden", "", &[ns::MUC_ROOMCONFIG]));
        for (var, values) in fields {
            x.push_child(field(var, "", "", values));
        }
        x
    }

    #[test]
    fn empty_submit_keeps_defaults() {
        let c = RoomConfig::default();
        let x = Element::new("x", ns::DATA).with_attr("type", "submit");
        assert_eq!(c.apply(&x, LIMITS).unwrap(), (c, FormExtras::default()));
    }

    /// XEP-0045 §10.2 Example 165: an owner submits the configuration form.
    #[test]
    fn every_field_is_applied() {
        let x = submit(&[
            ("muc#roomconfig_roomname", &["A Dark Cave"]),
            (
                "muc#roomconfig_roomdesc",
                &["The place for all good witches!"],
            ),
            ("muc#roomconfig_persistentroom", &["1"]),
            ("muc#roomconfig_publicroom", &["true"]),
            ("muc#roomconfig_changesubject", &["1"]),
            ("muc#roomconfig_passwordprotectedroom", &["1"]),
            ("muc#roomconfig_roomsecret", &["cauldronburn"]),
            ("muc#roomconfig_moderatedroom", &["1"]),
            ("muc#roomconfig_membersonly", &["1"]),
            ("muc#maxhistoryfetch", &["50"]),
            ("muc#roomconfig_enablelogging", &["0"]),
            ("muc#roomconfig_maxusers", &["10"]),
            ("muc#roomconfig_whois", &["anyone"]),
            ("muc#roomconfig_allowpm", &["moderators"]),
            ("muc#roomconfig_allowinvites", &["1"]),
            (
                "muc#roomconfig_presencebroadcast",
                &["moderator", "participant"],
            ),
            (
                "muc#roomconfig_roomowners",
                &["wiccarocks@shakespeare.lit", "hecate@shakespeare.lit"],
            ),
            ("muc#roomconfig_roomadmins", &[]),
            ("x-unknown", &["ignored"]),
        ]);
        let (c, extras) = RoomConfig::default().apply(&x, LIMITS).unwrap();
        assert_eq!(c.name, "A Dark Cave");
        assert_eq!(c.description, "The place for all good witches!");
        assert!(c.persistent && c.public && c.change_subject && c.password_protected);
        assert_eq!(c.password, "cauldronburn");
        assert!(c.moderated && c.members_only && c.allow_invites && !c.logging);
        assert_eq!((c.max_history, c.max_users), (50, 10));
        assert_eq!(c.whois, Whois::Anyone);
        assert_eq!(c.allow_pm, AllowPm::Moderators);
        assert!(c.broadcasts(Role::Participant) && !c.broadcasts(Role::Visitor));
        assert_eq!(extras.owners.map(|o| o.len()), Some(2));
        assert_eq!(extras.admins, Some(vec![]));
        // The form shows what was applied and parses back to the same configuration.
        let form = c.form(&[], &[]);
        let mut back = form.clone();
        back.set_attr("type", "submit");
        assert_eq!(RoomConfig::default().apply(&back, LIMITS).unwrap().0, c);
    }

    /// Item 8 of the hardening issue: a room secret is never silently ignored.
    #[test]
    fn a_room_secret_alone_turns_protection_on() {
        let x = submit(&[("muc#roomconfig_roomsecret", &["s3cret"])]);
        let (c, _) = RoomConfig::default().apply(&x, LIMITS).unwrap();
        assert!(c.password_protected);
        assert_eq!(c.password, "s3cret");
        // Explicitly off wins, and the secret is dropped.
        let x = submit(&[
            ("muc#roomconfig_passwordprotectedroom", &["0"]),
            ("muc#roomconfig_roomsecret", &["s3cret"]),
        ]);
        let (c, _) = RoomConfig::default().apply(&x, LIMITS).unwrap();
        assert!(!c.password_protected && c.password.is_empty());
        // An empty secret alone changes nothing.
        let x = submit(&[("muc#roomconfig_roomsecret", &[""])]);
        let (c, _) = RoomConfig::default().apply(&x, LIMITS).unwrap();
        assert!(!c.password_protected);
    }

    #[test]
    fn refused_values_are_not_acceptable() {
        for fields in [
            &[("muc#roomconfig_enablelogging", &["1"][..])][..],
            &[("muc#maxhistoryfetch", &["101"][..])][..],
            &[("muc#maxhistoryfetch", &["many"][..])][..],
            &[("muc#roomconfig_persistentroom", &["yes"][..])][..],
            &[("muc#roomconfig_whois", &["nobody"][..])][..],
            &[("muc#roomconfig_maxusers", &["0"][..])][..],
            &[("muc#roomconfig_passwordprotectedroom", &["1"][..])][..],
            &[("muc#roomconfig_roomowners", &["not@a@jid"][..])][..],
        ] {
            let e = RoomConfig::default()
                .apply(&submit(fields), LIMITS)
                .unwrap_err();
            assert_eq!(e.condition, Condition::NotAcceptable, "{fields:?}");
        }
        let logging = Limits {
            logging_available: true,
            ..LIMITS
        };
        let x = submit(&[("muc#roomconfig_enablelogging", &["1"])]);
        assert!(RoomConfig::default().apply(&x, logging).unwrap().0.logging);
        let mut other = Element::new("x", ns::DATA).with_attr("type", "submit");
        other.push_child(field("FORM_TYPE", "hidden", "", &["urn:other"]));
        assert_eq!(
            RoomConfig::default()
                .apply(&other, LIMITS)
                .unwrap_err()
                .condition,
            Condition::BadRequest
        );
    }

    #[test]
    fn serializes_for_storage() {
        let c = RoomConfig {
            name: "n".into(),
            whois: Whois::Anyone,
            ..RoomConfig::default()
        };
        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<RoomConfig>(&text).unwrap(), c);
    }
}
