#!/usr/bin/env python3
"""Interop test: a XEP-0045 room on allium driven by slixmpp's MUC plugin (xep_0045).

Prints one line per step and exits 0 only when every step happened (non-zero with the
reason otherwise, and at the latest after --timeout seconds):

 1. alice, bob and carol log in over STARTTLS (TLS pinned to the server's certificate,
    see slixmpp_chat.py).
 2. alice finds the MUC service in the server's disco#items and checks its disco#info:
    identity conference/text, feature http://jabber.org/protocol/muc (XEP-0045 §6.1-6.2).
 3. alice joins a new room: it is created locked, she is owner/moderator, status 201 and
    110 (§10.1.1); join_muc_wait also needs the room subject (§7.2.15).
 4. alice fetches the config form (§10.1.3), names the room and makes it members-only
    through muc#roomconfig_* fields, submits it; disco#info on the room shows the name and
    the muc_membersonly feature (§6.4).
 5. carol, not a member, is refused with registration-required (§7.2.6); alice grants bob
    and carol membership (§9.3); both join and alice sees them arrive (§7.2.3).
 6. alice, bob and carol each send a groupchat message; every occupant (sender included)
    receives each one from the sender's occupant JID (§7.4), with the same XEP-0421
    occupant id the sender's presence carried.
 7. alice kicks carol (§8.2): carol gets her unavailable presence with status 307 and 110,
    bob and alice see carol leave with 307, and a message carol then sends to the room is refused
    with an error (she is no longer an occupant) and reaches nobody.
 8. alice destroys the room (§10.9): bob and alice get their own unavailable presence
    carrying <destroy/> with the reason; the room is gone from disco (item-not-found).
 9. everyone disconnects.
"""

import argparse
import asyncio
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, PresenceError

# Same directory: the pinned TLS context, step printing and failure type.
from slixmpp_chat import Failed, Run, step, tls_context

MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
CLIENTS: list["MucClient"] = []


class MucClient(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, ctx):
        super().__init__(jid, password)
        CLIENTS.append(self)
        self.name = name
        self.ssl_context = ctx
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.use_ipv6 = False
        self.whitespace_keepalive = False
        for p in ("xep_0030", "xep_0004", "xep_0045", "xep_0421"):
            self.register_plugin(p)
        loop = asyncio.get_event_loop()
        self.ready = loop.create_future()
        self.gone = loop.create_future()
        self.groupchat: asyncio.Queue = asyncio.Queue()
        self.presences: asyncio.Queue = asyncio.Queue()
        self.errors: asyncio.Queue = asyncio.Queue()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_all_auth", lambda _: self.fail("SASL failed"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))
        self.add_event_handler("stream_error", lambda e: self.fail(f"stream error: {e}"))
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("groupchat_message", self.groupchat.put_nowait)
        self.add_event_handler("groupchat_presence", self.presences.put_nowait)
        self.add_event_handler("groupchat_message_error", self.errors.put_nowait)

    def fail(self, reason):
        if not self.ready.done():
            self.ready.set_exception(Failed(f"{self.name}: {reason}"))

    async def on_session_start(self, _):
        if not isinstance(self.socket, (ssl.SSLObject, ssl.SSLSocket)):
            self.fail("session started without TLS")
            return
        self.send_presence()
        step(f"{self.name}: logged in as {self.boundjid.full}")
        if not self.ready.done():
            self.ready.set_result(True)

    def on_disconnected(self, _):
        if not self.gone.done():
            self.gone.set_result(True)
        asyncio.get_event_loop().call_soon(self.fail, "disconnected before the session started")

    @property
    def muc(self):
        return self.plugin["xep_0045"]

    async def expect_presence(self, what, pred):
        """The next MUC presence matching `pred` (others are skipped)."""
        while True:
            pr = await self.presences.get()
            if pred(pr):
                return pr
            step(f"{self.name}: (skipping presence from {pr['from']} while waiting for {what})")

    async def expect_groupchat(self, sender: str, body: str):
        """The groupchat message `body` from occupant JID `sender` (history and others skipped)."""
        while True:
            msg = await self.groupchat.get()
            if str(msg["from"]) == sender and msg["body"] == body:
                step(f"{self.name}: got groupchat from {msg['from']}: {body!r}")
                return msg
            step(f"{self.name}: (skipping groupchat from {msg['from']}: {msg['body']!r})")


def codes(pr) -> set[int]:
    return pr["muc"]["status_codes"]


def occupant_id(stanza) -> str:
    el = stanza.get_plugin("occupant-id", check=True)
    return el["id"] if el is not None else ""


async def muc(args, ctx, run: Run):
    d = args.domain
    service = f"{args.subdomain}.{d}"
    room = slixmpp.JID(f"interop@{service}")
    alice = MucClient("alice", f"alice@{d}/slixmpp", args.alice_password, ctx)
    bob = MucClient("bob", f"bob@{d}/slixmpp", args.bob_password, ctx)
    carol = MucClient("carol", f"carol@{d}/slixmpp", args.carol_password, ctx)
    for c in (alice, bob, carol):
        c.connect(args.host, args.port)
    await run.do("alice, bob and carol log in", asyncio.gather(alice.ready, bob.ready, carol.ready))

    # 2. Service discovery (XEP-0045 §6.1, §6.2).
    items = await run.do("disco#items of the server", alice["xep_0030"].get_items(jid=d))
    jids = {str(i[0]) for i in items["disco_items"]["items"]}
    if service not in jids:
        raise Failed(f"{service} not in the server's disco#items {sorted(jids)}")
    info = await run.do("disco#info of the MUC service", alice["xep_0030"].get_info(jid=service))
    idents = {(i[0], i[1]) for i in info["disco_info"]["identities"]}
    if ("conference", "text") not in idents or MUC_NS not in info["disco_info"]["features"]:
        raise Failed(f"service disco#info lacks conference/text or {MUC_NS}: {info}")
    step(f"alice: {service} is a MUC service (conference/text, {MUC_NS})")

    # 3. Create the room (§10.1.1): locked until configured, status 201 + 110.
    pres, subject, _, _ = await run.do(
        "alice creates the room",
        alice.muc.join_muc_wait(room, "Alice", maxstanzas=0, timeout=10),
    )
    if not {201, 110} <= codes(pres):
        raise Failed(f"creator's self-presence has status codes {sorted(codes(pres))}, want 201 and 110")
    if (pres["muc"]["affiliation"], pres["muc"]["role"]) != ("owner", "moderator"):
        raise Failed(f"creator is {pres['muc']['affiliation']}/{pres['muc']['role']}, want owner/moderator")
    alice_oid = occupant_id(pres)
    step(f"alice: created {room} (status {sorted(codes(pres))}, owner/moderator, occupant-id {alice_oid!r})")

    # 4. Configure it (§10.1.3): name and members-only through the config form.
    form = await run.do("alice fetches the config form", alice.muc.get_room_config(room))
    fields = form.get_fields()
    for var in ("muc#roomconfig_roomname", "muc#roomconfig_membersonly", "muc#roomconfig_moderatedroom"):
        if var not in fields:
            raise Failed(f"config form has no {var}: {sorted(fields)}")
    step(f"alice: config form has {len(fields)} fields")
    fields["muc#roomconfig_roomname"]["value"] = "slixmpp interop"
    fields["muc#roomconfig_membersonly"]["value"] = True
    await run.do("alice submits the config form", alice.muc.set_room_config(room, form))
    step("alice: room configured: name 'slixmpp interop', members-only")
    info = await run.do("disco#info of the room", alice["xep_0030"].get_info(jid=room))
    names = [i[3] for i in info["disco_info"]["identities"] if i[0] == "conference"]
    feats = info["disco_info"]["features"]
    if "slixmpp interop" not in names or "muc_membersonly" not in feats:
        raise Failed(f"room disco#info shows names {names}, features {sorted(feats)}")
    step("alice: room disco#info shows the name and muc_membersonly")

    # 5. Members-only (§7.2.6), then membership (§9.3) and joins (§7.2.3).
    try:
        await run.do("carol (not a member) tries to join", carol.muc.join_muc_wait(room, "Carol", timeout=10))
        raise Failed("carol joined a members-only room without being a member")
    except asyncio.TimeoutError:
        raise Failed(
            "carol: no join result within 10 s (slixmpp needs an error presence carrying "
            f"<x xmlns='{MUC_NS}'/>, XEP-0045 §7.2.6 example)"
        ) from None
    except PresenceError as e:
        if e.condition != "registration-required":
            raise Failed(f"carol refused with {e.condition}, want registration-required") from None
        step("carol: refused with registration-required (members-only)")
    for who in (bob, carol):
        await run.do(
            f"alice makes {who.name} a member",
            alice.muc.set_affiliation(room, "member", jid=who.boundjid.bare),
        )
    step("alice: bob and carol are members")
    joined = {}
    for who, nick in ((bob, "Bob"), (carol, "Carol")):
        pres, _, _, _ = await run.do(f"{who.name} joins", who.muc.join_muc_wait(room, nick, maxstanzas=0, timeout=10))
        if 110 not in codes(pres) or pres["muc"]["affiliation"] != "member":
            raise Failed(f"{who.name}'s self-presence: codes {sorted(codes(pres))}, affiliation {pres['muc']['affiliation']}")
        joined[nick] = occupant_id(pres)
        arrived = await run.do(
            f"alice sees {who.name} arrive",
            alice.expect_presence(f"{nick} arriving", lambda p, n=nick: p["from"].resource == n and p["type"] != "unavailable"),
        )
        step(f"{who.name}: joined as {pres['from']}; alice sees {arrived['from']} ({arrived['muc']['role']})")
    joined["Alice"] = alice_oid

    # 6. Groupchat messages are reflected to every occupant, sender included (§7.4).
    everyone = (alice, bob, carol)
    for sender, nick in ((alice, "Alice"), (bob, "Bob"), (carol, "Carol")):
        body = f"hello from {nick} via slixmpp"
        sender.send_message(mto=room, mbody=body, mtype="groupchat")
        got = await run.do(
            f"everyone receives {nick}'s message",
            asyncio.gather(*(c.expect_groupchat(f"{room}/{nick}", body) for c in everyone)),
        )
        ids = {occupant_id(m) for m in got}
        if ids != {joined[nick]} or not joined[nick]:
            raise Failed(f"{nick}'s message carries occupant ids {ids}, want their presence's {joined[nick]!r}")
    step("all: each message reached all three occupants with its sender's occupant-id")

    # 7. Kick (§8.2): status 307 to the victim (with 110) and to the others.
    await run.do("alice kicks carol", alice.muc.set_role(room, "Carol", "none", reason="interop kick"))
    gone = await run.do(
        "carol gets her kick presence",
        carol.expect_presence("own unavailable", lambda p: p["type"] == "unavailable" and p["from"].resource == "Carol"),
    )
    if not {307, 110} <= codes(gone):
        raise Failed(f"carol's kick presence has codes {sorted(codes(gone))}, want 307 and 110")
    step(f"carol: kicked (status {sorted(codes(gone))}, reason {gone['muc']['item']['reason']!r})")
    for who in (bob, alice):
        seen = await run.do(
            f"{who.name} sees carol kicked",
            who.expect_presence("carol unavailable", lambda p: p["type"] == "unavailable" and p["from"].resource == "Carol"),
        )
        if 307 not in codes(seen) or 110 in codes(seen):
            raise Failed(f"{who.name} sees carol leave with codes {sorted(codes(seen))}, want 307 (without 110)")
        step(f"{who.name}: sees carol leave with status 307")
    if "Carol" in carol.muc.get_roster(room):
        raise Failed("carol's client still lists her in the room")
    carol.send_message(mto=room, mbody="am I still here?", mtype="groupchat")
    err = await run.do("carol's message after the kick is refused", carol.errors.get())
    step(f"carol: message after the kick refused with {err['error']['condition']}")
    # It reached nobody: bob's next groupchat is alice's, not carol's.
    alice.send_message(mto=room, mbody="carol is gone", mtype="groupchat")
    msg = await run.do("bob receives alice's next message", bob.groupchat.get())
    if msg["body"] != "carol is gone":
        raise Failed(f"bob got {msg['body']!r} from {msg['from']} after the kick")
    step("bob: carol's message did not reach the room")

    # 8. Destroy (§10.9).
    await run.do("alice destroys the room", alice.muc.destroy(room, reason="interop done"))
    for who, nick in ((bob, "Bob"), (alice, "Alice")):
        pr = await run.do(
            f"{who.name} gets the destroy presence",
            who.expect_presence("own unavailable", lambda p, n=nick: p["type"] == "unavailable" and p["from"].resource == n),
        )
        destroy = pr.xml.find(f"{{{MUC_USER_NS}}}x/{{{MUC_USER_NS}}}destroy")
        if destroy is None:
            raise Failed(f"{who.name}'s unavailable presence has no <destroy/>: {pr}")
        reason = destroy.findtext(f"{{{MUC_USER_NS}}}reason")
        step(f"{who.name}: room destroyed (reason {reason!r})")
    try:
        await run.do("disco#info of the destroyed room", alice["xep_0030"].get_info(jid=room))
        raise Failed("the destroyed room still answers disco#info")
    except IqError as e:
        if e.condition != "item-not-found":
            raise Failed(f"destroyed room: disco#info error {e.condition}, want item-not-found") from None
    step("alice: the room is gone (item-not-found)")

    # 9. Leave.
    for c in everyone:
        await run.do(f"{c.name} disconnects", c.disconnect())
    await run.do("streams close", asyncio.gather(*(c.gone for c in everyone)))
    step("alice, bob, carol: disconnected")


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="STARTTLS (c2s) port")
    p.add_argument("--cert", required=True, help="the server's certificate (PEM), trusted as the only CA")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--subdomain", default="conference")
    p.add_argument("--alice-password", required=True)
    p.add_argument("--bob-password", required=True)
    p.add_argument("--carol-password", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("-v", "--verbose", action="store_true", help="slixmpp debug log on stderr")
    args = p.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(relativeCreated)6d %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    step(f"slixmpp {slixmpp.__version__}, Python {sys.version.split()[0]}")
    ctx = tls_context(args.cert)
    run = Run()
    try:
        await asyncio.wait_for(muc(args, ctx, run), args.timeout)
    except asyncio.TimeoutError:
        print(f"FAIL: timed out (a 10 s wait or the {args.timeout:.0f} s cap) during: {run.current}", flush=True)
        return 2
    except Failed as e:
        print(f"FAIL: {e} (during: {run.current})", flush=True)
        return 1
    except IqError as e:
        print(f"FAIL: IQ error {e.iq['error']['condition']} (during: {run.current})", flush=True)
        return 1
    except PresenceError as e:
        print(f"FAIL: presence error {e.condition} (during: {run.current})", flush=True)
        return 1
    finally:
        for c in CLIENTS:
            c.cancel_connection_attempt()
            if c.transport is not None:
                c.abort()
    print("OK: muc", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
