//! Stream errors (RFC 6120 §4.9) and stanza errors (RFC 6120 §8.3), and their wire form.

use crate::ns;
use crate::xml::{Element, ParseError};

/// A stream error condition (RFC 6120 §4.9.3). Sending one closes the stream it occurs on,
/// and only that stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamCondition {
    /// §4.9.3.1: the entity sent XML that cannot be processed.
    BadFormat,
    /// §4.9.3.2: an unbound or unsupported namespace prefix.
    BadNamespacePrefix,
    /// §4.9.3.3: a new stream for the same account replaces this one.
    Conflict,
    /// §4.9.3.4: the peer has not generated traffic for too long.
    ConnectionTimeout,
    /// §4.9.3.5: the `to` of the stream header names no domain served here.
    HostUnknown,
    /// §4.9.3.7: the server hit a misconfiguration or internal error.
    InternalServerError,
    /// §4.9.3.9: the stream was not negotiated to the point where this is allowed.
    NotAuthorized,
    /// §4.9.3.10: the stream or content namespace is wrong.
    InvalidNamespace,
    /// §4.9.3.13: XML that is not well-formed.
    NotWellFormed,
    /// §4.9.3.14: a local policy was violated (size, depth and rate limits).
    PolicyViolation,
    /// §4.9.3.16: restricted XML (comments, PIs, DTDs, entity references; §11.1).
    RestrictedXml,
    /// §4.9.3.17: the server is shutting down.
    SystemShutdown,
    /// §4.9.3.19: a catch-all for conditions with no better name.
    UndefinedCondition,
    /// §4.9.3.20: an encoding other than UTF-8.
    UnsupportedEncoding,
    /// §4.9.3.21: the stream requires a feature the peer does not support.
    UnsupportedFeature,
    /// §4.9.3.22: a top-level element that is not a stanza or known nonza.
    UnsupportedStanzaType,
    /// §4.9.3.23: the stream `version` is not supported.
    UnsupportedVersion,
    /// §4.9.3.12: the peer is sending faster than it may, or its queue overflowed.
    ResourceConstraint,
}

impl StreamCondition {
    /// The element name of the condition, e.g. `"not-well-formed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFormat => "bad-format",
            Self::BadNamespacePrefix => "bad-namespace-prefix",
            Self::Conflict => "conflict",
            Self::ConnectionTimeout => "connection-timeout",
            Self::HostUnknown => "host-unknown",
            Self::InternalServerError => "internal-server-error",
            Self::NotAuthorized => "not-authorized",
            Self::InvalidNamespace => "invalid-namespace",
            Self::NotWellFormed => "not-well-formed",
            Self::PolicyViolation => "policy-violation",
            Self::RestrictedXml => "restricted-xml",
            Self::SystemShutdown => "system-shutdown",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::UnsupportedFeature => "unsupported-feature",
            Self::UnsupportedStanzaType => "unsupported-stanza-type",
            Self::UnsupportedVersion => "unsupported-version",
            Self::ResourceConstraint => "resource-constraint",
        }
    }

    /// `<stream:error><COND xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`.
    pub fn to_element(self) -> Element {
        Element::new("error", ns::STREAM).child(Element::new(self.as_str(), ns::STREAMS))
    }
}

/// The one place where XML parse failures become stream errors (RFC 6120 §4.9.3, §11).
impl From<&ParseError> for StreamCondition {
    fn from(e: &ParseError) -> Self {
        match e {
            ParseError::NotWellFormed(_) => Self::NotWellFormed,
            ParseError::Restricted(_) => Self::RestrictedXml,
            ParseError::Limit(_) => Self::PolicyViolation,
            ParseError::InvalidNamespace => Self::InvalidNamespace,
            ParseError::BadNamespacePrefix => Self::BadNamespacePrefix,
            ParseError::UnsupportedEncoding => Self::UnsupportedEncoding,
            #[allow(unreachable_patterns)]
            _ => Self::NotWellFormed,
        }
    }
}

/// Stanza error type (RFC 6120 §8.3.2): what the sender should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry; the error cannot be remedied.
    Cancel,
    /// Proceed; the condition was only a warning.
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting; the error is temporary.
    Wait,
}

impl ErrorType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Cancel => "cancel",
            Self::Continue => "continue",
            Self::Modify => "modify",
            Self::Wait => "wait",
        }
    }
}

/// Stanza error conditions (RFC 6120 §8.3.3) used by allium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// §8.3.3.1
    BadRequest,
    /// §8.3.3.2
    Conflict,
    /// §8.3.3.3
    FeatureNotImplemented,
    /// §8.3.3.4
    Forbidden,
    /// §8.3.3.6
    InternalServerError,
    /// §8.3.3.7
    ItemNotFound,
    /// §8.3.3.8
    JidMalformed,
    /// §8.3.3.9
    NotAcceptable,
    /// §8.3.3.10
    NotAllowed,
    /// §8.3.3.11
    NotAuthorized,
    /// §8.3.3.12
    PolicyViolation,
    /// §8.3.3.13
    RecipientUnavailable,
    /// §8.3.3.15
    RegistrationRequired,
    /// §8.3.3.16
    RemoteServerNotFound,
    /// §8.3.3.17
    RemoteServerTimeout,
    /// §8.3.3.18
    ResourceConstraint,
    /// §8.3.3.19
    ServiceUnavailable,
    /// §8.3.3.20
    SubscriptionRequired,
    /// §8.3.3.21
    UndefinedCondition,
    /// §8.3.3.22
    UnexpectedRequest,
}

impl Condition {
    /// The element name, e.g. `"service-unavailable"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Conflict => "conflict",
            Self::FeatureNotImplemented => "feature-not-implemented",
            Self::Forbidden => "forbidden",
            Self::InternalServerError => "internal-server-error",
            Self::ItemNotFound => "item-not-found",
            Self::JidMalformed => "jid-malformed",
            Self::NotAcceptable => "not-acceptable",
            Self::NotAllowed => "not-allowed",
            Self::NotAuthorized => "not-authorized",
            Self::PolicyViolation => "policy-violation",
            Self::RecipientUnavailable => "recipient-unavailable",
            Self::RegistrationRequired => "registration-required",
            Self::RemoteServerNotFound => "remote-server-not-found",
            Self::RemoteServerTimeout => "remote-server-timeout",
            Self::ResourceConstraint => "resource-constraint",
            Self::ServiceUnavailable => "service-unavailable",
            Self::SubscriptionRequired => "subscription-required",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnexpectedRequest => "unexpected-request",
        }
    }

    /// The legacy numeric code of XEP-0086 §3 (e.g. `404` for `item-not-found`), which
    /// older clients still read (profanity tells an absent OMEMO device list from a
    /// failure by `code='404'`); `policy-violation` has none.
    pub fn legacy_code(self) -> Option<u16> {
        Some(match self {
            Self::BadRequest | Self::JidMalformed | Self::UnexpectedRequest => 400,
            Self::NotAuthorized => 401,
            Self::Forbidden => 403,
            Self::ItemNotFound | Self::RecipientUnavailable | Self::RemoteServerNotFound => 404,
            Self::NotAllowed => 405,
            Self::NotAcceptable => 406,
            Self::RegistrationRequired | Self::SubscriptionRequired => 407,
            Self::Conflict => 409,
            Self::InternalServerError | Self::ResourceConstraint | Self::UndefinedCondition => 500,
            Self::FeatureNotImplemented => 501,
            Self::ServiceUnavailable => 503,
            Self::RemoteServerTimeout => 504,
            Self::PolicyViolation => return None,
        })
    }

    /// The error type RFC 6120 §8.3.3 gives in its example for this condition.
    pub fn default_type(self) -> ErrorType {
        match self {
            Self::BadRequest | Self::JidMalformed | Self::NotAcceptable | Self::PolicyViolation => {
                ErrorType::Modify
            }
            Self::Forbidden
            | Self::NotAuthorized
            | Self::RegistrationRequired
            | Self::SubscriptionRequired => ErrorType::Auth,
            Self::RecipientUnavailable
            | Self::RemoteServerTimeout
            | Self::ResourceConstraint
            | Self::UnexpectedRequest
            | Self::InternalServerError => ErrorType::Wait,
            _ => ErrorType::Cancel,
        }
    }
}

/// A stanza error (RFC 6120 §8.3): type, defined condition and an optional human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// What the sender should do (§8.3.2).
    pub kind: ErrorType,
    /// The defined condition (§8.3.3).
    pub condition: Condition,
    /// Optional `<text/>` in English, for the user; never contains internal details.
    pub text: Option<String>,
    /// Optional application-specific condition element (§8.3.4).
    pub app: Option<Box<Element>>,
}

impl StanzaError {
    /// An error with an explicit type.
    pub fn new(kind: ErrorType, condition: Condition) -> Self {
        Self {
            kind,
            condition,
            text: None,
            app: None,
        }
    }

    /// An error with the condition's usual type.
    pub fn from_condition(condition: Condition) -> Self {
        Self::new(condition.default_type(), condition)
    }

    /// Adds a `<text/>` explanation.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// `<error type='..' code='NNN'><COND xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>[<text/>]</error>`
    /// in the given content namespace (`code` is the XEP-0086 legacy code, when the
    /// condition has one).
    pub fn to_element(&self, content_ns: &str) -> Element {
        let mut e = Element::new("error", content_ns).with_attr("type", self.kind.as_str());
        if let Some(code) = self.condition.legacy_code() {
            e.set_attr("code", code.to_string());
        }
        e.push_child(Element::new(self.condition.as_str(), ns::STANZAS));
        if let Some(t) = &self.text {
            e.push_child(
                Element::new("text", ns::STANZAS)
                    .with_attr("xml:lang", "en")
                    .with_text(t.clone()),
            );
        }
        if let Some(app) = &self.app {
            e.push_child((**app).clone());
        }
        e
    }
}

impl From<Condition> for StanzaError {
    fn from(c: Condition) -> Self {
        Self::from_condition(c)
    }
}
