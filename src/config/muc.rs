//! `[muc]`: the XEP-0045 Multi-User Chat service.

use serde::{Deserialize, Serialize};

/// `[muc]`: the XEP-0045 Multi-User Chat service, one per hosted domain on
/// `<subdomain>.<domain>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MucConfig {
    /// Run the service. Default `true`.
    pub enabled: bool,
    /// The service's domain is `<subdomain>.<domain>` for every hosted domain; one DNS
    /// label (`a-z`, `0-9`, `-`). Default `"conference"`.
    pub subdomain: String,
    /// Who may create rooms: `"local"` (accounts of this server), `"admins"` (server
    /// admins; none are configured yet, so nobody) or `"anyone"`. Default `"local"`.
    /// Kept as written, so that a wrong name is reported with the other problems;
    /// read it parsed with [`MucConfig::room_creation`].
    pub(super) room_creation: String,
    /// Messages replayed to a joiner by default (the room option `muc#maxhistoryfetch`
    /// starts at this value). Range `0..=history_max`. Default `20`.
    pub history_default: u32,
    /// Most messages a room owner may configure for the history (kept in memory only).
    /// Range `0..=1000`. Default `100`.
    pub history_max: u32,
    /// Whether room owners may turn on public logging (`muc#roomconfig_enablelogging`).
    /// Privacy: off, rooms cannot claim to be logged. Default `false`.
    pub public_logs_available: bool,
    /// Occupants a new room admits (`muc#roomconfig_maxusers`). Range `1..=10_000`.
    /// Default `200`.
    pub default_max_occupants: u32,
    /// Most rooms one account may have created that still exist on one service; a
    /// further creation is refused with `<resource-constraint/>`. Range `1..=100_000`.
    /// Default `100`.
    pub max_rooms_per_account: u32,
    /// Most rooms of one service one account may be an occupant of at once; a further
    /// join is refused with `<resource-constraint/>`. Range `1..=100_000`. Default `500`.
    pub max_joined_rooms_per_account: u32,
    /// Bytes of serialized messages one room's in-memory history may hold; the oldest
    /// are dropped beyond (whatever `history_max` says). Range `1024..=1_073_741_824`.
    /// Default `1048576` (1 MiB).
    pub history_max_bytes_per_room: u64,
    /// Bytes of history all rooms of one service may hold together; beyond, the room
    /// being written to drops its oldest messages, and a message that still does not
    /// fit is delivered but not kept in the history.
    /// Range `history_max_bytes_per_room..=17_179_869_184`. Default `67108864` (64 MiB).
    pub history_max_bytes_total: u64,
    /// Wrong passwords one account may try on one password-protected room within
    /// `password_failure_window_secs`; then joins of that room by that account are
    /// refused with `<resource-constraint/>` (type `wait`) until the window passes.
    /// Range `1..=1000`. Default `5`.
    pub password_max_failures: u32,
    /// Window of the password failure counter, in seconds. Range `1..=86_400`.
    /// Default `300`.
    pub password_failure_window_secs: u64,
}

impl Default for MucConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subdomain: "conference".to_owned(),
            room_creation: RoomCreation::Local.as_str().to_owned(),
            history_default: 20,
            history_max: 100,
            public_logs_available: false,
            default_max_occupants: 200,
            max_rooms_per_account: 100,
            max_joined_rooms_per_account: 500,
            history_max_bytes_per_room: 1 << 20,
            history_max_bytes_total: 64 << 20,
            password_max_failures: 5,
            password_failure_window_secs: 300,
        }
    }
}

impl MucConfig {
    /// Who may create rooms (`muc.room_creation`), or `None` when the text names no
    /// policy, which [`Config::validate`](super::Config::validate) reports.
    pub fn room_creation(&self) -> Option<RoomCreation> {
        RoomCreation::parse(&self.room_creation)
    }
}

/// Who may create a room (XEP-0045 §10.1, "Creating a Room"), as
/// `muc.room_creation` names it: a presence to a room that does not exist creates it
/// only for these senders, and anyone else gets `<not-allowed/>` (§10.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RoomCreation {
    /// `"local"`: accounts of this server's hosted domains. The default.
    #[default]
    Local,
    /// `"admins"`: server admins only; none can be configured yet, so nobody.
    Admins,
    /// `"anyone"`: any JID, remote ones included.
    Anyone,
}

impl RoomCreation {
    /// Every policy, in the order the configuration documents them.
    pub const ALL: [RoomCreation; 3] = [
        RoomCreation::Local,
        RoomCreation::Admins,
        RoomCreation::Anyone,
    ];

    /// The name in the configuration: `"local"`, `"admins"` or `"anyone"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RoomCreation::Local => "local",
            RoomCreation::Admins => "admins",
            RoomCreation::Anyone => "anyone",
        }
    }

    /// The policy a configuration name stands for (exactly, in lower case), or `None`.
    pub fn parse(name: &str) -> Option<RoomCreation> {
        RoomCreation::ALL.into_iter().find(|r| r.as_str() == name)
    }
}
