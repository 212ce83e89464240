//! Node configuration as XEP-0004 data forms: the `pubsub#node_config` form
//! (XEP-0060 §8.2, fields of §16.4.4) and publish options (§7.1.5), which use the same
//! fields.
//!
//! allium keeps the access model, item persistence, `max_items`, retraction notices,
//! the title and the allowed roster groups; other behaviour is fixed (payloads are
//! delivered, notifications are `headline` messages, the last item is sent on
//! subscription and presence, only the owner publishes). A form may name a fixed field
//! with its one value; any other value, and an unknown field, is a [`FieldError`].

use crate::ns;
use crate::storage::{AccessModel, NodeConfig};
use crate::xml::Element;

/// Longest `pubsub#title`, bytes.
pub const MAX_TITLE_BYTES: usize = 1024;
/// Most `pubsub#roster_groups_allowed` values.
pub const MAX_ROSTER_GROUPS: usize = 64;

/// A field the node cannot take: its `var`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's `var`.
    pub var: String,
    /// What is wrong, for the error's `<text/>`.
    pub reason: &'static str,
}

/// The submitted fields of a form: `(var, values)`, without `FORM_TYPE`.
pub fn fields(x: &Element) -> Vec<(String, Vec<String>)> {
    x.children()
        .filter(|f| f.is("field", ns::DATA))
        .filter_map(|f| {
            let var = f.attr("var")?;
            (var != "FORM_TYPE").then(|| {
                let values = f
                    .children()
                    .filter(|v| v.is("value", ns::DATA))
                    .map(Element::text)
                    .collect();
                (var.to_owned(), values)
            })
        })
        .collect()
}

/// The `FORM_TYPE` of a form, if given.
pub fn form_type(x: &Element) -> Option<String> {
    x.children()
        .filter(|f| f.is("field", ns::DATA) && f.attr("var") == Some("FORM_TYPE"))
        .find_map(|f| f.get_child("value", ns::DATA).map(Element::text))
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// Fields whose value is fixed, with the accepted values.
const FIXED: &[(&str, &[&str])] = &[
    ("pubsub#deliver_payloads", &["1", "true"]),
    ("pubsub#deliver_notifications", &["1", "true"]),
    ("pubsub#send_last_published_item", &["on_sub_and_presence"]),
    ("pubsub#publish_model", &["publishers"]),
    ("pubsub#notification_type", &["headline"]),
    ("pubsub#presence_based_delivery", &["0", "false"]),
    ("pubsub#purge_offline", &["0", "false"]),
    ("pubsub#notify_config", &["0", "false"]),
    ("pubsub#notify_delete", &["1", "true"]),
];

fn one<'a>(var: &str, values: &'a [String]) -> Result<&'a str, FieldError> {
    match values {
        [v] => Ok(v.as_str()),
        _ => Err(FieldError {
            var: var.to_owned(),
            reason: "needs exactly one value",
        }),
    }
}

/// Applies submitted fields to `config`.
///
/// # Errors
/// The first field with an unknown `var` or a value the node cannot take.
pub fn apply(config: &mut NodeConfig, fields: &[(String, Vec<String>)]) -> Result<(), FieldError> {
    for (var, values) in fields {
        let err = |reason| FieldError {
            var: var.clone(),
            reason,
        };
        match var.as_str() {
            "pubsub#access_model" => {
                config.access_model = AccessModel::parse(one(var, values)?)
                    .ok_or_else(|| err("access models are open, presence, roster and whitelist"))?;
            }
            "pubsub#persist_items" => {
                config.persist_items =
                    boolean(one(var, values)?).ok_or_else(|| err("must be a boolean"))?;
            }
            "pubsub#notify_retract" => {
                config.notify_retract =
                    boolean(one(var, values)?).ok_or_else(|| err("must be a boolean"))?;
            }
            "pubsub#max_items" => {
                let v = one(var, values)?;
                config.max_items = if v == "max" {
                    None
                } else {
                    Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| err("must be a positive number or max"))?,
                    )
                };
            }
            "pubsub#title" => {
                let v = values.first().map_or("", String::as_str);
                if v.len() > MAX_TITLE_BYTES {
                    return Err(err("is too long"));
                }
                config.title = v.to_owned();
            }
            "pubsub#roster_groups_allowed" => {
                if values.len() > MAX_ROSTER_GROUPS
                    || values
                        .iter()
                        .any(|g| g.is_empty() || g.len() > 1024 || g.contains('\n'))
                {
                    return Err(err("too many or invalid roster groups"));
                }
                config.roster_groups = values.clone();
            }
            // The node type and a description are accepted and not kept.
            "pubsub#type" | "pubsub#description" => {}
            other => match FIXED.iter().find(|(k, _)| *k == other) {
                Some((_, ok)) => {
                    if !ok.contains(&one(var, values)?) {
                        return Err(err("this server does not offer that value"));
                    }
                }
                None => return Err(err("this server does not offer that option")),
            },
        }
    }
    Ok(())
}

/// Whether the node's configuration already has every submitted value (XEP-0060
/// §7.1.5: otherwise the publish fails with `precondition-not-met`). Fields the node
/// does not keep compare as [`apply`] would accept them.
pub fn matches(config: &NodeConfig, fields: &[(String, Vec<String>)]) -> bool {
    let mut wanted = config.clone();
    if apply(&mut wanted, fields).is_err() {
        return false;
    }
    // A title in publish options does not make a publish fail.
    wanted.title.clone_from(&config.title);
    wanted == *config
}

fn field(var: &str, kind: &str, label: &str, values: &[&str]) -> Element {
    let mut f = Element::new("field", ns::DATA)
        .with_attr("var", var)
        .with_attr("type", kind)
        .with_attr("label", label);
    for v in values {
        f.push_child(Element::new("value", ns::DATA).with_text(*v));
    }
    f
}

/// The `pubsub#node_config` form of a node (XEP-0060 §8.2.1), `type='form'`.
pub fn config_form(config: &NodeConfig) -> Element {
    let max = config.max_items.map(|m| m.to_string());
    let mut access = field(
        "pubsub#access_model",
        "list-single",
        "Who may subscribe and retrieve items",
        &[config.access_model.as_str()],
    );
    for m in [
        AccessModel::Open,
        AccessModel::Presence,
        AccessModel::Roster,
        AccessModel::Whitelist,
    ] {
        access.push_child(
            Element::new("option", ns::DATA)
                .child(Element::new("value", ns::DATA).with_text(m.as_str())),
        );
    }
    let groups: Vec<&str> = config.roster_groups.iter().map(String::as_str).collect();
    Element::new("x", ns::DATA)
        .with_attr("type", "form")
        .child(field("FORM_TYPE", "hidden", "", &[ns::PUBSUB_NODE_CONFIG]))
        .child(field(
            "pubsub#title",
            "text-single",
            "Title",
            &[&config.title],
        ))
        .child(access)
        .child(field(
            "pubsub#roster_groups_allowed",
            "list-multi",
            "Roster groups allowed to subscribe",
            &groups,
        ))
        .child(field(
            "pubsub#persist_items",
            "boolean",
            "Persist items to storage",
            &[if config.persist_items { "1" } else { "0" }],
        ))
        .child(field(
            "pubsub#max_items",
            "text-single",
            "Max number of items to persist",
            &[max.as_deref().unwrap_or("max")],
        ))
        .child(field(
            "pubsub#notify_retract",
            "boolean",
            "Notify subscribers when items are removed from the node",
            &[if config.notify_retract { "1" } else { "0" }],
        ))
        .child(field(
            "pubsub#deliver_payloads",
            "boolean",
            "Deliver payloads with event notifications",
            &["1"],
        ))
        .child(field(
            "pubsub#send_last_published_item",
            "list-single",
            "When to send the last published item",
            &["on_sub_and_presence"],
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(var: &str, v: &[&str]) -> (String, Vec<String>) {
        (var.to_owned(), v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn options_apply_and_match() {
        let mut c = NodeConfig::pep_default();
        let opts = [
            f("pubsub#access_model", &["open"]),
            f("pubsub#max_items", &["max"]),
            f("pubsub#persist_items", &["true"]),
        ];
        assert!(!matches(&c, &opts));
        apply(&mut c, &opts).unwrap();
        assert_eq!(c.access_model, AccessModel::Open);
        assert_eq!(c.max_items, None);
        assert!(matches(&c, &opts));
        assert!(matches(&c, &[f("pubsub#deliver_payloads", &["1"])]));
        assert!(!matches(&c, &[f("pubsub#deliver_payloads", &["0"])]));
        assert!(!matches(&c, &[f("pubsub#unknown", &["x"])]));
        assert_eq!(
            apply(&mut c, &[f("pubsub#access_model", &["authorize"])])
                .unwrap_err()
                .var,
            "pubsub#access_model"
        );
        assert!(apply(&mut c, &[f("pubsub#max_items", &["0"])]).is_err());
    }

    #[test]
    fn form_round_trips() {
        let mut c = NodeConfig::pep_default();
        c.access_model = AccessModel::Whitelist;
        c.max_items = Some(7);
        let form = config_form(&c);
        let mut back = NodeConfig::pep_default();
        apply(&mut back, &fields(&form)).unwrap();
        assert_eq!(back, c);
    }
}
