//! Room history in memory (XEP-0045 §7.2.14, §17.1.3): the last messages of a room,
//! replayed to a joiner with a XEP-0203 delay, limited by the joiner's `<history/>`.
//! Nothing here is ever written to disk or logged.
//!
//! A history is bounded by a message count (the room's `muc#maxhistoryfetch`), by
//! bytes per room (`muc.history_max_bytes_per_room`) and, through a counter shared by
//! every room of the service, by bytes in total (`muc.history_max_bytes_total`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ns;
use crate::xml::Element;

/// One remembered groupchat message: the stanza as reflected (from the occupant JID,
/// without `to`), when it was sent, and its serialized length in characters and bytes.
#[derive(Debug, Clone)]
struct Entry {
    el: Element,
    stamp: i64,
    chars: usize,
    bytes: usize,
}

/// Bounds on one push: messages and bytes of this room, and the service-wide bytes.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Most messages kept (the room's `muc#maxhistoryfetch`).
    pub messages: usize,
    /// Most bytes of serialized messages kept by this room.
    pub room_bytes: usize,
    /// Most bytes kept by all the rooms sharing the total counter.
    pub total_bytes: usize,
}

/// The joiner's limits (`<history maxchars maxstanzas seconds since/>`, §7.2.14); `None`
/// is no limit from that attribute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// `maxchars`: total characters of the complete stanzas.
    pub max_chars: Option<usize>,
    /// `maxstanzas`.
    pub max_stanzas: Option<usize>,
    /// `seconds`: only messages younger than this.
    pub seconds: Option<i64>,
    /// `since` (unix seconds): only messages sent after this.
    pub since: Option<i64>,
}

impl Request {
    /// Reads `<history/>` in the `muc` namespace; unparsable attributes are ignored.
    pub fn parse(h: &Element) -> Request {
        Request {
            max_chars: h.attr("maxchars").and_then(|v| v.trim().parse().ok()),
            max_stanzas: h.attr("maxstanzas").and_then(|v| v.trim().parse().ok()),
            seconds: h.attr("seconds").and_then(|v| v.trim().parse().ok()),
            since: h.attr("since").and_then(parse_datetime),
        }
    }
}

/// The history of one room. Its bytes are also counted in a total shared with the
/// other rooms of the service (see [`History::attach`]), and taken off it when the
/// history is dropped.
#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<Entry>,
    bytes: usize,
    total: Option<Arc<AtomicUsize>>,
}

impl Drop for History {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

impl History {
    /// Counts this history's bytes in the service-wide `total` from now on.
    pub fn attach(&mut self, total: Arc<AtomicUsize>) {
        total.fetch_add(self.bytes, Ordering::Relaxed);
        if let Some(old) = self.total.replace(total) {
            old.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }

    fn release(&self, n: usize) {
        if let Some(t) = &self.total {
            t.fetch_sub(n, Ordering::Relaxed);
        }
    }

    fn total_now(&self) -> usize {
        self.total.as_ref().map_or(0, |t| t.load(Ordering::Relaxed))
    }

    fn pop_oldest(&mut self) -> bool {
        match self.entries.pop_front() {
            Some(e) => {
                self.bytes -= e.bytes;
                self.release(e.bytes);
                true
            }
            None => false,
        }
    }

    /// Remembers a reflected message, dropping the oldest beyond `caps`. A message
    /// that does not fit even once this room's history is empty (larger than
    /// `room_bytes`, or the other rooms hold `total_bytes`) is not kept; returns
    /// whether it was.
    pub fn push(&mut self, el: Element, stamp: i64, caps: Caps) -> bool {
        let xml = el.to_xml(ns::CLIENT);
        let (chars, bytes) = (xml.chars().count(), xml.len());
        if caps.messages == 0 || bytes > caps.room_bytes {
            self.trim(caps.messages);
            return false;
        }
        while self.entries.len() >= caps.messages
            || self.bytes + bytes > caps.room_bytes
            || self.total_now() + bytes > caps.total_bytes
        {
            if !self.pop_oldest() {
                break;
            }
        }
        if self.total_now() + bytes > caps.total_bytes {
            return false;
        }
        self.entries.push_back(Entry {
            el,
            stamp,
            chars,
            bytes,
        });
        self.bytes += bytes;
        if let Some(t) = &self.total {
            t.fetch_add(bytes, Ordering::Relaxed);
        }
        true
    }

    /// Drops the oldest messages beyond `capacity`.
    pub fn trim(&mut self, capacity: usize) {
        while self.entries.len() > capacity {
            self.pop_oldest();
        }
    }

    /// Bytes of the remembered messages.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of remembered messages.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The messages to replay, oldest first, each with its delay element: at most
    /// `default_max` (the room's `muc#maxhistoryfetch`) and within the joiner's limits.
    /// `now` is unix seconds; `room` is the room's bare JID (the delay's `from`).
    pub fn replay(&self, req: &Request, default_max: usize, now: i64, room: &str) -> Vec<Element> {
        let max = req.max_stanzas.map_or(default_max, |m| m.min(default_max));
        let mut picked: Vec<&Entry> = Vec::new();
        let mut chars = 0usize;
        for e in self.entries.iter().rev() {
            if picked.len() >= max {
                break;
            }
            if req.seconds.is_some_and(|s| now - e.stamp > s) {
                break;
            }
            if req.since.is_some_and(|s| e.stamp <= s) {
                break;
            }
            if let Some(mc) = req.max_chars {
                // maxchars counts the complete stanzas as sent (with the delay, roughly).
                if chars + e.chars > mc {
                    break;
                }
                chars += e.chars;
            }
            picked.push(e);
        }
        picked
            .into_iter()
            .rev()
            .map(|e| {
                let mut el = e.el.clone();
                el.push_child(
                    Element::new("delay", ns::DELAY)
                        .with_attr("from", room)
                        .with_attr("stamp", crate::modules::offline::stamp(e.stamp)),
                );
                el
            })
            .collect()
    }
}

/// Parses a XEP-0082 DateTime (`CCYY-MM-DDThh:mm:ss[.sss](Z|(+|-)hh:mm)`) to unix seconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (time, offset) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else {
        let pos = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off.get(1..)?.split_once(':')?;
        let oh: i64 = oh.parse().ok()?;
        let om: i64 = om.parse().ok()?;
        (t, sign * (oh * 3600 + om * 60))
    };
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next()?.parse().ok()?;
    let ss: i64 = t.next()?.parse().ok()?;
    if t.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize) -> Element {
        Element::new("message", ns::CLIENT)
            .with_attr("type", "groupchat")
            .with_attr("from", "room@conference.example.org/nick")
            .child(Element::new("body", ns::CLIENT).with_text(format!("message {i}")))
    }

    fn caps(messages: usize) -> Caps {
        Caps {
            messages,
            room_bytes: usize::MAX,
            total_bytes: usize::MAX,
        }
    }

    #[test]
    fn bounded_in_bytes_per_room_and_in_total() {
        let one = msg(0).to_xml(ns::CLIENT).len();
        let total = Arc::new(AtomicUsize::new(0));
        let c = Caps {
            messages: 100,
            room_bytes: one * 3,
            total_bytes: one * 4,
        };
        let mut a = History::default();
        a.attach(total.clone());
        for i in 0..5 {
            assert!(a.push(msg(i), i as i64, c));
        }
        assert_eq!((a.len(), a.bytes()), (3, one * 3), "three fit in the room");
        assert_eq!(total.load(Ordering::Relaxed), one * 3);
        let mut b = History::default();
        b.attach(total.clone());
        assert!(b.push(msg(5), 5, c), "a fourth fits in the total");
        assert!(
            b.push(msg(6), 6, c),
            "b makes room by dropping its own oldest"
        );
        assert_eq!(b.len(), 1);
        let mut empty = History::default();
        empty.attach(total.clone());
        assert!(!empty.push(msg(9), 9, c), "the total is full: not kept");
        assert_eq!(total.load(Ordering::Relaxed), one * 4);
        assert!(!a.push(
            msg(7).child(Element::new("x", "y").with_text("z".repeat(one * 3))),
            7,
            c
        ));
        drop(a);
        assert_eq!(
            total.load(Ordering::Relaxed),
            one,
            "a dropped history is released"
        );
        assert!(empty.push(msg(8), 8, c));
    }

    fn bodies(v: &[Element]) -> Vec<String> {
        v.iter()
            .map(|e| e.get_child("body", ns::CLIENT).unwrap().text())
            .collect()
    }

    #[test]
    fn bounded_and_limited() {
        let mut h = History::default();
        for i in 0..30 {
            h.push(msg(i), 1000 + i as i64, caps(25));
        }
        assert_eq!(h.len(), 25);
        let all = h.replay(&Request::default(), 20, 2000, "room@c");
        assert_eq!(all.len(), 20);
        assert_eq!(bodies(&all)[0], "message 10");
        let delay = all[0].get_child("delay", ns::DELAY).unwrap();
        assert_eq!(delay.attr("from"), Some("room@c"));
        assert_eq!(delay.attr("stamp"), Some("1970-01-01T00:16:50Z"));
        // §7.2.15 maxstanzas, §7.2.16 seconds, §7.2.17 since, §7.2.14 maxchars.
        let r = |req: Request| bodies(&h.replay(&req, 20, 1030, "room@c"));
        let three = r(Request {
            max_stanzas: Some(3),
            ..Request::default()
        });
        assert_eq!(three, ["message 27", "message 28", "message 29"]);
        assert!(
            r(Request {
                max_stanzas: Some(0),
                ..Request::default()
            })
            .is_empty()
        );
        assert_eq!(
            r(Request {
                seconds: Some(2),
                ..Request::default()
            })
            .len(),
            2
        );
        assert_eq!(
            r(Request {
                since: Some(1027),
                ..Request::default()
            })
            .len(),
            2
        );
        let one = msg(29).to_xml(ns::CLIENT).chars().count();
        assert_eq!(
            r(Request {
                max_chars: Some(one * 2 + 1),
                ..Request::default()
            })
            .len(),
            2
        );
        assert!(
            r(Request {
                max_chars: Some(0),
                ..Request::default()
            })
            .is_empty()
        );
        h.trim(5);
        assert_eq!(h.len(), 5);
    }

    #[test]
    fn history_element_is_parsed() {
        let e = Element::new("history", ns::MUC)
            .with_attr("maxstanzas", "5")
            .with_attr("maxchars", "x")
            .with_attr("since", "1970-01-01T00:01:40Z");
        assert_eq!(
            Request::parse(&e),
            Request {
                max_stanzas: Some(5),
                since: Some(100),
                ..Request::default()
            }
        );
    }

    #[test]
    fn xep0082_datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-14T21:13:20-01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2023-13-01T00:00:00Z"), None);
    }
}
