//! Affiliations and roles (XEP-0045 §5) and who may change which (§5.1.3, §5.2.1).

use std::fmt;

/// A long-lived association with a room (XEP-0045 §5.2), ranked `Outcast < None <
/// Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Affiliation {
    /// Banned (§9.1).
    Outcast,
    /// No affiliation.
    None,
    /// On the member list (§9.5).
    Member,
    /// Room administrator (§10.6).
    Admin,
    /// Room owner (§10.3).
    Owner,
}

impl Affiliation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outcast => "outcast",
            Self::None => "none",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "outcast" => Self::Outcast,
            "none" => Self::None,
            "member" => Self::Member,
            "admin" => Self::Admin,
            "owner" => Self::Owner,
            _ => return None,
        })
    }

    /// The role an occupant with this affiliation gets on entering (§5.1.2): admins and
    /// owners moderate, members participate, others participate or, in a moderated room,
    /// are visitors; outcasts cannot enter.
    pub fn default_role(self, moderated: bool) -> Role {
        match self {
            Self::Owner | Self::Admin => Role::Moderator,
            Self::Member => Role::Participant,
            Self::None if moderated => Role::Visitor,
            Self::None => Role::Participant,
            Self::Outcast => Role::None,
        }
    }
}

impl fmt::Display for Affiliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A temporary position of an occupant in the room (XEP-0045 §5.1), ranked `None <
/// Visitor < Participant < Moderator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Not in the room.
    None,
    /// May be present but not speak in a moderated room.
    Visitor,
    /// Has voice.
    Participant,
    /// Kicks, grants voice, edits the subject.
    Moderator,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Visitor => "visitor",
            Self::Participant => "participant",
            Self::Moderator => "moderator",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "visitor" => Self::Visitor,
            "participant" => Self::Participant,
            "moderator" => Self::Moderator,
            _ => return None,
        })
    }
}

/// Whether an occupant with `actor` (role, affiliation) may set the role of an occupant
/// with `target` (role, affiliation) to `new` (XEP-0045 §5.1.3, §8.2–§8.5, §9.6–§9.7).
/// Only moderators change roles, and:
/// - kick (`none`, §8.2): "a user cannot be kicked by a moderator with a lower
///   affiliation";
/// - grant or revoke moderator (§9.6, §9.7): admins and owners only, and an admin's or
///   owner's moderator role cannot be revoked;
/// - voice (§8.3, §8.4): not from a user whose affiliation is at or above the
///   moderator's (unaffiliated users excepted).
pub fn may_set_role(actor: (Role, Affiliation), target: (Role, Affiliation), new: Role) -> bool {
    let (actor_role, actor_aff) = actor;
    let (target_role, target_aff) = target;
    if actor_role != Role::Moderator {
        return false;
    }
    match new {
        Role::None => target_aff <= actor_aff,
        Role::Moderator => actor_aff >= Affiliation::Admin,
        Role::Visitor | Role::Participant if target_role == Role::Moderator => {
            actor_aff >= Affiliation::Admin && target_aff < Affiliation::Admin
        }
        Role::Visitor | Role::Participant => {
            target_aff <= Affiliation::None || target_aff < actor_aff
        }
    }
}

/// Whether `actor` may change the affiliation of someone whose affiliation is `target`
/// to `new` (XEP-0045 §5.2.1): owners change anything; admins only grant and revoke
/// membership and bans of users who are not admins or owners.
pub fn may_set_affiliation(actor: Affiliation, target: Affiliation, new: Affiliation) -> bool {
    match actor {
        Affiliation::Owner => true,
        Affiliation::Admin => target <= Affiliation::Member && new <= Affiliation::Member,
        _ => false,
    }
}

/// Who may read an affiliation list (XEP-0045 §9.5, §10.5): members and outcasts by
/// admins and owners, admins and owners by owners (and admins, who see who ranks above).
pub fn may_list_affiliation(actor: Affiliation, list: Affiliation) -> bool {
    match list {
        Affiliation::Member | Affiliation::Outcast => actor >= Affiliation::Admin,
        Affiliation::Admin | Affiliation::Owner => actor >= Affiliation::Admin,
        Affiliation::None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Affiliation as A;
    use super::Role as R;
    use super::*;

    #[test]
    fn default_roles_follow_section_5_1_2() {
        assert_eq!(A::Owner.default_role(false), R::Moderator);
        assert_eq!(A::Admin.default_role(true), R::Moderator);
        assert_eq!(A::Member.default_role(true), R::Participant);
        assert_eq!(A::None.default_role(false), R::Participant);
        assert_eq!(A::None.default_role(true), R::Visitor);
        assert_eq!(A::Outcast.default_role(false), R::None);
        for a in [A::Outcast, A::None, A::Member, A::Admin, A::Owner] {
            assert_eq!(A::parse(a.as_str()), Some(a));
        }
        for r in [R::None, R::Visitor, R::Participant, R::Moderator] {
            assert_eq!(R::parse(r.as_str()), Some(r));
        }
    }

    /// XEP-0045 §5.1.3 (roles) and §8.2 (kick): who may do what to whom.
    #[test]
    fn role_permission_table() {
        let cases = [
            // (actor, target, new role, allowed)
            (
                (R::Moderator, A::None),
                (R::Participant, A::None),
                R::None,
                true,
            ),
            (
                (R::Moderator, A::Member),
                (R::Participant, A::Member),
                R::None,
                true,
            ),
            (
                (R::Moderator, A::None),
                (R::Participant, A::Member),
                R::None,
                false,
            ),
            (
                (R::Moderator, A::Member),
                (R::Moderator, A::Admin),
                R::None,
                false,
            ),
            (
                (R::Moderator, A::Admin),
                (R::Moderator, A::Owner),
                R::None,
                false,
            ),
            (
                (R::Moderator, A::Owner),
                (R::Moderator, A::Admin),
                R::None,
                true,
            ),
            (
                (R::Participant, A::Member),
                (R::Participant, A::None),
                R::None,
                false,
            ),
            (
                (R::Visitor, A::None),
                (R::Participant, A::None),
                R::Visitor,
                false,
            ),
            (
                (R::Moderator, A::None),
                (R::Participant, A::None),
                R::Visitor,
                true,
            ),
            (
                (R::Moderator, A::None),
                (R::Participant, A::Member),
                R::Visitor,
                false,
            ),
            (
                (R::Moderator, A::Admin),
                (R::Participant, A::Member),
                R::Visitor,
                true,
            ),
            (
                (R::Moderator, A::Admin),
                (R::Visitor, A::None),
                R::Participant,
                true,
            ),
            (
                (R::Moderator, A::Member),
                (R::Participant, A::None),
                R::Moderator,
                false,
            ),
            (
                (R::Moderator, A::Admin),
                (R::Participant, A::None),
                R::Moderator,
                true,
            ),
            (
                (R::Moderator, A::Admin),
                (R::Moderator, A::None),
                R::Participant,
                true,
            ),
            (
                (R::Moderator, A::Owner),
                (R::Moderator, A::Admin),
                R::Participant,
                false,
            ),
            (
                (R::Moderator, A::None),
                (R::Moderator, A::None),
                R::Participant,
                false,
            ),
        ];
        for (actor, target, new, allowed) in cases {
            assert_eq!(
                may_set_role(actor, target, new),
                allowed,
                "{actor:?} sets {target:?} to {new:?}"
            );
        }
    }

    /// XEP-0045 §5.2.1: the affiliation privileges table.
    #[test]
    fn affiliation_permission_table() {
        assert!(may_set_affiliation(A::Owner, A::Owner, A::None));
        assert!(may_set_affiliation(A::Owner, A::None, A::Admin));
        assert!(may_set_affiliation(A::Admin, A::None, A::Member));
        assert!(may_set_affiliation(A::Admin, A::Member, A::Outcast));
        assert!(!may_set_affiliation(A::Admin, A::None, A::Admin));
        assert!(!may_set_affiliation(A::Admin, A::Admin, A::None));
        assert!(!may_set_affiliation(A::Admin, A::Owner, A::Outcast));
        assert!(!may_set_affiliation(A::Member, A::None, A::Member));
        assert!(!may_set_affiliation(A::None, A::None, A::Outcast));
        assert!(may_list_affiliation(A::Admin, A::Member));
        assert!(may_list_affiliation(A::Owner, A::Owner));
        assert!(!may_list_affiliation(A::Member, A::Member));
        assert!(!may_list_affiliation(A::None, A::Outcast));
    }
}
