#!/usr/bin/env python3
"""Interop test: XEP-0280 Message Carbons on allium driven by slixmpp's xep_0280 plugin.

Prints one line per step and exits 0 only when every step happened (non-zero with the
reason otherwise, and at the latest after --timeout seconds):

 1. alice logs in twice (resources "desk" and "phone") and bob once, over STARTTLS with
    TLS pinned to the server's certificate (see slixmpp_chat.py).
 2. desk finds urn:xmpp:carbons:2 in the server's disco#info (§3) and enables carbons
    with the plugin (§4).
 3. bob sends a chat message to alice/phone: phone gets it, desk gets the plugin's
    carbon_received event (from alice's bare JID, §6) holding bob's message.
 4. phone sends a message marked <private/> and <no-copy/> (§8, XEP-0334) to bob, then
    a plain one: bob gets both, and desk's next carbon_sent event (§7) holds the plain
    one, so the private one was not copied (the server keeps the order of one session's
    stanzas).
 5. desk disables carbons (§5); everyone disconnects.
"""

import argparse
import asyncio
import logging
import sys
import xml.etree.ElementTree as ET

import slixmpp

# Same directory: the pinned TLS context, the client with its ready/message queues,
# step printing and failure type.
from slixmpp_chat import CLIENTS, Client, Failed, Run, step, tls_context

CARBONS = "urn:xmpp:carbons:2"


class CarbonsClient(Client):
    def __init__(self, *args):
        super().__init__(*args)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0280")
        self.received_carbons: asyncio.Queue = asyncio.Queue()
        self.sent_carbons: asyncio.Queue = asyncio.Queue()
        self.add_event_handler("carbon_received", lambda m: self.received_carbons.put_nowait(m))
        self.add_event_handler("carbon_sent", lambda m: self.sent_carbons.put_nowait(m))


async def carbons(args, ctx, run: Run):
    domain = args.domain
    alice_jid, bob_jid = f"alice@{domain}", f"bob@{domain}"
    desk = CarbonsClient("alice/desk", f"{alice_jid}/desk", args.alice_password, ctx, False)
    phone = CarbonsClient("alice/phone", f"{alice_jid}/phone", args.alice_password, ctx, False)
    bob = CarbonsClient("bob", f"{bob_jid}/pc", args.bob_password, ctx, False)
    for c in (desk, phone, bob):
        c.connect(args.host, args.port)
    await run.do("everyone logs in", asyncio.gather(desk.ready, phone.ready, bob.ready))

    info = await run.do("desk asks the server's disco#info", desk.plugin["xep_0030"].get_info(jid=domain))
    features = info["disco_info"]["features"]
    if CARBONS not in features:
        raise Failed(f"the server does not advertise {CARBONS}: {features}")
    step(f"desk: server advertises {CARBONS}")
    await run.do("desk enables carbons", desk.plugin["xep_0280"].enable())
    step("desk: carbons enabled")

    bob.send_message(mto=f"{alice_jid}/phone", mbody="to your phone", mtype="chat")
    await run.do("phone receives bob's message", phone.expect_message(bob_jid, "to your phone"))
    carbon = await run.do("desk gets a received carbon", desk.received_carbons.get())
    inner = carbon["carbon_received"]
    if inner["from"].bare != bob_jid or inner["body"] != "to your phone":
        raise Failed(f"received carbon holds {inner['from']}: {inner['body']!r}")
    step(f"desk: received carbon from {carbon['from']} of bob's message to {inner['to']}")

    private = phone.make_message(mto=bob_jid, mbody="just between us", mtype="chat")
    private.append(ET.Element(f"{{{CARBONS}}}private"))
    private.append(ET.Element("{urn:xmpp:hints}no-copy"))
    private.send()
    phone.send_message(mto=bob_jid, mbody="for all my devices", mtype="chat")
    await run.do("bob receives the private message", bob.expect_message(alice_jid, "just between us"))
    await run.do("bob receives the plain message", bob.expect_message(alice_jid, "for all my devices"))
    carbon = await run.do("desk gets a sent carbon", desk.sent_carbons.get())
    inner = carbon["carbon_sent"]
    if inner["to"].bare != bob_jid or inner["body"] != "for all my devices":
        raise Failed(f"sent carbon holds a message to {inner['to']}: {inner['body']!r}")
    step(f"desk: sent carbon of phone's message to {inner['to']}; the private one was not copied")

    await run.do("desk disables carbons", desk.plugin["xep_0280"].disable())
    step("desk: carbons disabled")
    for c in (desk, phone, bob):
        await run.do(f"{c.name} disconnects", c.disconnect())
    await run.do("streams close", asyncio.gather(desk.gone, phone.gone, bob.gone))
    step("everyone: disconnected")


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="STARTTLS (c2s) port")
    p.add_argument("--cert", required=True, help="the server's certificate (PEM), trusted as the only CA")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--alice-password", required=True)
    p.add_argument("--bob-password", required=True)
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
        await asyncio.wait_for(carbons(args, ctx, run), args.timeout)
    except asyncio.TimeoutError:
        print(f"FAIL: timed out after {args.timeout:.0f}s during: {run.current}", flush=True)
        return 2
    except Failed as e:
        print(f"FAIL: {e} (during: {run.current})", flush=True)
        return 1
    except slixmpp.exceptions.IqError as e:
        print(f"FAIL: IQ error {e.iq['error']['condition']} (during: {run.current})", flush=True)
        return 1
    finally:
        for c in CLIENTS:
            c.cancel_connection_attempt()
            if c.transport is not None:
                c.abort()
    print("OK: carbons", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
