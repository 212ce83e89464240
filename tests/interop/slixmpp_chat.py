#!/usr/bin/env python3
"""Interop test: drive allium with slixmpp, an independent XMPP client library.

Two modes, each printing one line per step and exiting 0 only when every step happened
(non-zero with the reason otherwise, and at the latest after --timeout seconds):

chat (default)
    alice and bob log in over STARTTLS (RFC 6120 §5), SASL mechanism chosen by slixmpp
    (§6), resource binding (§7). alice subscribes to bob, bob auto-approves and subscribes
    back (RFC 6121 §3.1), both see each other's presence (§4.2), they exchange chat
    messages both ways (§5), a roster get with slixmpp's current roster version gets an
    empty answer (XEP-0237), a full one shows bob as `both` or `to` (§2.1), alice
    leaves and bob sees her unavailable presence (§4.5.2), both disconnect.

direct-tls
    alice logs in over direct TLS (XEP-0368), bob over STARTTLS; alice sends bob a
    message and bob receives it.

TLS: the server's self-signed certificate is the only trust anchor (no system CAs), and
the host name (the JID domain) is checked, so the test fails if the server presents any
other certificate.
"""

import argparse
import asyncio
import logging
import ssl
import sys
import time

import slixmpp

START = time.monotonic()
CLIENTS: list["Client"] = []


def step(msg: str) -> None:
    print(f"[{time.monotonic() - START:6.2f}s] {msg}", flush=True)


class Failed(Exception):
    """A step went wrong; the message says which."""


def tls_context(cert: str) -> ssl.SSLContext:
    """A client context that trusts exactly the server's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=cert)
    # Newer Pythons (3.13+) enable OpenSSL's X509_STRICT profile checks by default, which
    # reject a self-signed leaf used as its own trust anchor for lacking CA extensions.
    # That is a property of the dev certificate, not of the connection: chain-to-anchor,
    # signature, validity and host name checks all stay on.
    if hasattr(ssl, "VERIFY_X509_STRICT"):
        ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return ctx


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, ctx, direct_tls):
        super().__init__(jid, password)
        CLIENTS.append(self)
        self.name = name
        self.direct_tls = direct_tls
        # Use our pinned context instead of slixmpp's default (system CAs).
        self.ssl_context = ctx
        # Exactly one connection method, so a fallback cannot hide a failure.
        self.enable_direct_tls = direct_tls
        self.enable_starttls = not direct_tls
        self.enable_plaintext = False
        self.use_ipv6 = False
        self.whitespace_keepalive = False
        loop = asyncio.get_event_loop()
        self.ready = loop.create_future()
        self.gone = loop.create_future()
        self.mechanism = None
        self.messages: asyncio.Queue = asyncio.Queue()
        self.available: dict[str, asyncio.Future] = {}
        self.unavailable: dict[str, asyncio.Future] = {}
        self.subscribe_from: dict[str, asyncio.Future] = {}
        self.add_event_handler("auth_success", self.on_auth_success)
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_all_auth", lambda _: self.fail("SASL failed"))
        self.add_event_handler("no_auth", lambda _: self.fail("no usable SASL mechanism"))
        self.add_event_handler("ssl_invalid_chain", lambda e: self.fail(f"certificate rejected: {e}"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))
        self.add_event_handler("stream_error", lambda e: self.fail(f"stream error: {e}"))
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("presence_available", self.on_available)
        self.add_event_handler("presence_unavailable", self.on_unavailable)
        self.add_event_handler("presence_subscribe", self.on_subscribe)

    def fail(self, reason):
        if not self.ready.done():
            self.ready.set_exception(Failed(f"{self.name}: {reason}"))

    def on_auth_success(self, _):
        mech = self.plugin["feature_mechanisms"].mech
        self.mechanism = mech.name if mech is not None else "?"

    async def on_session_start(self, _):
        sock = self.socket
        if not isinstance(sock, (ssl.SSLObject, ssl.SSLSocket)):
            self.fail("session started without TLS")
            return
        via = "STARTTLS" if "starttls" in self.features else "direct TLS"
        expected = "direct TLS" if self.direct_tls else "STARTTLS"
        if via != expected:
            self.fail(f"connected over {via}, expected {expected}")
            return
        await self.get_roster()
        self.send_presence()
        step(
            f"{self.name}: logged in as {self.boundjid.full} via {self.mechanism} "
            f"over {sock.version()} ({via})"
        )
        if not self.ready.done():
            self.ready.set_result(True)

    def on_disconnected(self, _):
        if not self.gone.done():
            self.gone.set_result(True)
        # Let a more specific reason reported in the same loop turn (e.g. the
        # certificate error that caused this disconnect) win.
        asyncio.get_event_loop().call_soon(self.fail, "disconnected before the session started")

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.messages.put_nowait(msg)

    def _signal(self, table, who):
        table.setdefault(who, asyncio.get_event_loop().create_future())
        if not table[who].done():
            table[who].set_result(True)

    def on_available(self, pres):
        self._signal(self.available, pres["from"].bare)

    def on_unavailable(self, pres):
        self._signal(self.unavailable, pres["from"].bare)

    def on_subscribe(self, pres):
        step(f"{self.name}: subscription request from {pres['from'].bare}")
        self._signal(self.subscribe_from, pres["from"].bare)

    def wait_presence(self, table, who):
        return table.setdefault(who, asyncio.get_event_loop().create_future())

    async def expect_message(self, sender: str, body: str):
        while True:
            msg = await self.messages.get()
            if msg["from"].bare == sender and msg["body"] == body:
                step(f"{self.name}: got {msg['type']} message from {msg['from']}: {body!r}")
                return
            step(f"{self.name}: ignoring message from {msg['from']}: {msg['body']!r}")


class Run:
    """Tracks the step in progress so a timeout names it."""

    def __init__(self):
        self.current = "start"

    async def do(self, name, aw):
        self.current = name
        return await aw


async def chat(args, ctx, run: Run):
    domain = args.domain
    alice_jid, bob_jid = f"alice@{domain}", f"bob@{domain}"
    alice = Client("alice", f"{alice_jid}/slixmpp", args.alice_password, ctx, False)
    bob = Client("bob", f"{bob_jid}/slixmpp", args.bob_password, ctx, False)
    # bob approves requests and asks back; alice approves bob's request.
    bob.auto_authorize, bob.auto_subscribe = True, True
    alice.auto_authorize, alice.auto_subscribe = True, False
    alice.connect(args.host, args.port)
    bob.connect(args.host, args.port)
    await run.do("alice and bob log in", asyncio.gather(alice.ready, bob.ready))

    alice.client_roster[bob_jid].subscribe()
    step("alice: sent subscription request to bob")
    await run.do(
        "bob gets alice's subscription request",
        bob.wait_presence(bob.subscribe_from, alice_jid),
    )
    await run.do(
        "each sees the other's presence",
        asyncio.gather(
            alice.wait_presence(alice.available, bob_jid),
            bob.wait_presence(bob.available, alice_jid),
        ),
    )
    step("alice: sees bob available; bob: sees alice available")

    alice.send_message(mto=bob_jid, mbody="hello bob, from slixmpp", mtype="chat")
    await run.do("bob receives alice's message", bob.expect_message(alice_jid, "hello bob, from slixmpp"))
    bob.send_message(mto=alice.boundjid.full, mbody="hi alice!", mtype="chat")
    await run.do("alice receives bob's reply", alice.expect_message(bob_jid, "hi alice!"))

    # Roster versioning (XEP-0237, RFC 6121 §2.6): slixmpp sends the version of its last
    # push, which is current, so the server answers with an empty result; with no
    # cached version it sends the whole roster.
    result = await run.do("alice fetches her roster with her cached version", alice.get_roster())
    if result["roster"]["items"]:
        raise Failed("a current roster version still got the whole roster")
    step(f"alice: roster version {alice.client_roster.version!r} is current, nothing resent")
    alice.client_roster.version = ""
    result = await run.do("alice fetches her roster", alice.get_roster())
    # The server's answer, not slixmpp's cached copy.
    items = {str(jid): item for jid, item in result["roster"]["items"].items()}
    sub = items.get(bob_jid, {}).get("subscription")
    if sub not in ("both", "to"):
        raise Failed(f"alice's roster item for bob has subscription {sub!r}, want both or to")
    step(f"alice: roster has bob with subscription '{sub}'")

    gone = bob.wait_presence(bob.unavailable, alice_jid)
    await run.do("alice disconnects", alice.disconnect())
    await run.do("alice's stream closes", alice.gone)
    step("alice: disconnected")
    await run.do("bob sees alice go offline", gone)
    step("bob: sees alice unavailable")
    await run.do("bob disconnects", bob.disconnect())
    await run.do("bob's stream closes", bob.gone)
    step("bob: disconnected")


async def direct_tls(args, ctx, run: Run):
    domain = args.domain
    alice_jid, bob_jid = f"alice@{domain}", f"bob@{domain}"
    alice = Client("alice", f"{alice_jid}/direct", args.alice_password, ctx, True)
    bob = Client("bob", f"{bob_jid}/starttls", args.bob_password, ctx, False)
    alice.connect(args.host, args.tls_port)
    bob.connect(args.host, args.port)
    await run.do("alice (direct TLS) and bob (STARTTLS) log in", asyncio.gather(alice.ready, bob.ready))
    alice.send_message(mto=bob_jid, mbody="over direct TLS", mtype="chat")
    await run.do("bob receives alice's message", bob.expect_message(alice_jid, "over direct TLS"))
    await run.do("alice disconnects", alice.disconnect())
    await run.do("bob disconnects", bob.disconnect())
    await run.do("streams close", asyncio.gather(alice.gone, bob.gone))
    step("alice, bob: disconnected")


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["chat", "direct-tls"], default="chat")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="STARTTLS (c2s) port")
    p.add_argument("--tls-port", type=int, help="direct TLS (c2s_tls, XEP-0368) port")
    p.add_argument("--cert", required=True, help="the server's certificate (PEM), trusted as the only CA")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--alice-password", required=True)
    p.add_argument("--bob-password", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("-v", "--verbose", action="store_true", help="slixmpp debug log on stderr")
    args = p.parse_args()
    if args.mode == "direct-tls" and not args.tls_port:
        p.error("--mode direct-tls needs --tls-port")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(relativeCreated)6d %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    step(f"slixmpp {slixmpp.__version__}, Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}")
    ctx = tls_context(args.cert)
    run = Run()
    scenario = chat if args.mode == "chat" else direct_tls
    try:
        await asyncio.wait_for(scenario(args, ctx, run), args.timeout)
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
    print(f"OK: {args.mode}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
