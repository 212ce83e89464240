#!/usr/bin/env python3
"""Writes the committed seed corpora fuzz/corpus/<target>/seed-* from the unit-test vectors.

Run from anywhere: python3 fuzz/seeds/make_seeds.py. Sources: RFC 6120 §9.1 streams and the
restricted-XML vectors of src/xml/parser.rs, the stanzas of src/stanza, the SCRAM vectors
of RFC 5802 §5 / RFC 7677 §3 and the PLAIN cases of src/auth/session.rs, the JIDs of the
tests, and src/config/example.toml plus a few small configurations.
"""
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"

HDR = ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
       "to='im.example.com' version='1.0'>")

RFC6120_CLIENT = (
    "<?xml version='1.0'?><stream:stream\n     from='juliet@im.example.com'\n     "
    "to='im.example.com'\n     version='1.0'\n     xml:lang='en'\n     "
    "xmlns='jabber:client'\n     xmlns:stream='http://etherx.jabber.org/streams'>\n"
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
    "<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"\n     mechanism=\"SCRAM-SHA-1\">"
    "biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==</auth>\n"
    "<iq id='yhc13a95' type='set'>\n     <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "\n       <resource>balcony</resource>\n     </bind>\n   </iq>\n "
    "<message from='juliet@im.example.com/balcony'\n     id='ju2ba41c'\n     "
    "to='romeo@example.net'\n     type='chat'\n     xml:lang='en'>"
    "\n     <body>Art thou not Romeo, and a Montague?</body>\n   </message> "
    "</stream:stream>")

RFC6120_SERVER = (
    "<stream:stream\n     from='im.example.com'\n     id='t7AMCin9zjMNwQKDnplntZPIDEI='\n"
    "     to='juliet@im.example.com'\n     version='1.0'\n     xml:lang='en'\n"
    "     xmlns='jabber:client'\n     xmlns:stream='http://etherx.jabber.org/streams'>\n"
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "</stream:features><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    "</stream:stream>")

BILLION_LAUGHS = (
    "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n "
    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    "<message><body>&lol2;</body></message>")

STANZAS = [
    "<message from='juliet@im.example.com/balcony' id='ju2ba41c' to='romeo@example.net' "
    "type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>",
    "<iq id='yhc13a95' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq>",
    "<iq type='get' id='p1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='result' id='r1' from='example.org'/>",
    "<presence><show>away</show><status>x &amp; y &#x263A;</status><priority>5</priority></presence>",
    "<presence type='error' to='a@b'><error type='cancel'><service-unavailable "
    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    "<message to='a@b@c'/>",
    "<message xmlns:p='urn:x' p:k='v' to='room@muc.example.org/nick'><x xmlns='urn:x'>"
    "<![CDATA[<raw>]]></x><p:y/></message>",
    "<iq type='set' id='ro1'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' "
    "name='Nurse'><group>Servants</group></item></query></iq>",
]

STREAMS = [
    RFC6120_CLIENT,
    RFC6120_SERVER,
    BILLION_LAUGHS,
    HDR + "".join(STANZAS) + "</stream:stream>",
    "\ufeff" + HDR + "<a><!-- c --></a>",
    HDR + "<a>" + "<b>" * 40 + "</a>",
    "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>"
    "<a xmlns:p='urn:p' p:x='1' y='2'><p:b/></a></s:stream>",
    HDR + "<?php x ?>",
    "<?xml version='1.0' encoding='UTF-16'?>" + HDR,
]

# SCRAM: control byte (see src/fuzzing.rs `sasl`), messages separated by 0xFF.
PLAIN, SHA1, SHA256, SHA1P, SHA256P = 4, 3, 2, 1, 0
OFFERED, CB, INITIAL, KNOWN, HONEST = 8, 16, 32, 64, 128


def sasl(ctl, *msgs):
    return bytes([ctl]) + b"\xff".join(m if isinstance(m, bytes) else m.encode() for m in msgs)


SASL = [
    # RFC 5802 §5 and RFC 7677 §3 exchanges (random server nonce: the proof fails).
    sasl(SHA1 | INITIAL | KNOWN, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
         "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
    sasl(SHA256 | KNOWN, "", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
         "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
    # Honest client: the harness computes the proof, so these succeed.
    sasl(SHA1 | INITIAL | KNOWN | HONEST, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", ""),
    sasl(SHA256 | INITIAL | KNOWN | HONEST, "y,,n=user,r=rOprNGfwEbeRWgbNEkqO", ",x=ext"),
    sasl(SHA256P | OFFERED | CB | INITIAL | KNOWN | HONEST,
         "p=tls-exporter,a=ad=2Cmin,n=ro=2Cm=3Deo,r=clientnonce+/123", ""),
    sasl(SHA1P | OFFERED | CB | INITIAL | HONEST, "p=tls-exporter,,n=ghost,r=abc", ""),
    sasl(SHA256 | OFFERED | INITIAL | KNOWN, "y,,n=romeo,r=a"),
    sasl(SHA256 | INITIAL | KNOWN, "n,,m=ext,n=u,r=a"),
    sasl(SHA256 | INITIAL | KNOWN, "n,,n=u=2c,r=a"),
    # PLAIN (RFC 4616).
    sasl(PLAIN | INITIAL | KNOWN, b"\0juliet\0correct horse"),
    sasl(PLAIN | KNOWN, b"", b"admin@x\0juliet\0wrong"),
    sasl(PLAIN | INITIAL, b"\0\0pw"),
    sasl(PLAIN | INITIAL | KNOWN, "\0juliet\0I\u00adX\u2168"),
]

JIDS = [
    "juliet@im.example.com/balcony", "romeo@example.net", "example.org", "im.example.com/res",
    "a@b@c", "@example.org", "juliet@", "x/", "Ju\u0130et@EXAMPLE.org/Bal Cony",
    "room@muc.example.org/\u00e9 nick", "[::1]", "user@[2001:db8::1]/r", "\u00bd@\ufb01.org",
    "allium-0123456789abcdef", "juliet@example.org/a/b@c", "n\u0000ul@x", "xn--bcher-kva.example", "room@muc.example.", "juliet@example./rg/ai//@c",
]

CONFIGS = [
    (ROOT / "src" / "config" / "example.toml").read_text(),
    "[server]\ndomains = [\"example.org\"]\n",
    "[server]\ndomains = []\n[limits]\nmax_depth = 4\n",
    "[listeners]\nc2s = [\"[::1]:5222\", \"127.0.0.1:x\"]\n[tor]\nenabled = false\n",
    "[server]\nunknown = 1\n[nope]\na.b.c = [1, {x = 2}]\n",
    "[limits]\nmax_stanza_bytes = 18446744073709551615\nmax_attributes = -1\n",
]


def write(target, items):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    for i, item in enumerate(items):
        data = item if isinstance(item, bytes) else item.encode()
        (d / f"seed-{i:02d}").write_bytes(data)


def chunked(stream, sizes):
    return bytes([len(sizes)]) + bytes(sizes) + stream.encode()


write("xml_stream", [chunked(s, [0, 4, 16, 200][: i % 5]) for i, s in enumerate(STREAMS)])
write("stanza", STANZAS)
write("sasl", SASL)
write("jid", JIDS)
write("config", CONFIGS)
