#!/usr/bin/env python3
"""Interop test: XEP-0363 HTTP File Upload on allium with slixmpp's plugin (xep_0363).

Prints one line per step and exits 0 only when every step happened (non-zero with the
reason otherwise, and at the latest after --timeout seconds):

 1. alice and bob log in over STARTTLS (TLS pinned to the server's certificate, see
    slixmpp_chat.py).
 2. alice's upload plugin discovers the service from the server's disco#items
    (identity store/file, feature urn:xmpp:http:upload:0, XEP-0363 §3) and reads the
    max-file-size of its XEP-0128 form: a file larger than that is refused before any
    slot is requested (FileTooBig carries the advertised limit).
 3. alice uploads a file: slot request (§4), HTTP PUT with the slot's Authorization
    header over HTTPS (§6; aiohttp trusts only the server's certificate), and gets the
    GET URL.
 4. alice sends bob the URL in a message with a jabber:x:oob element (XEP-0066), as
    clients do; bob downloads it over HTTPS and gets alice's bytes back.
"""

import argparse
import asyncio
import io
import logging
import ssl
import sys

import aiohttp
import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0363 import http_upload

from slixmpp_chat import Failed, Run, step, tls_context

CLIENTS: list["UploadClient"] = []


class UploadClient(slixmpp.ClientXMPP):
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
        for p in ("xep_0030", "xep_0066", "xep_0128", "xep_0363"):
            self.register_plugin(p)
        loop = asyncio.get_event_loop()
        self.ready = loop.create_future()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_all_auth", lambda _: self.fail("SASL failed"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))
        self.add_event_handler("stream_error", lambda e: self.fail(f"stream error: {e}"))
        self.add_event_handler("message", self.messages.put_nowait)

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


def pinned_http(ctx: ssl.SSLContext):
    """aiohttp sessions that trust only the server's certificate (slixmpp's plugin makes
    its own ClientSession without an SSL argument, so its module name is patched)."""

    def session(*args, **kwargs):
        kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=ctx))
        return aiohttp.ClientSession(*args, **kwargs)

    http_upload.ClientSession = session
    return session


async def upload(args, ctx, run: Run):
    d = args.domain
    session = pinned_http(ctx)
    alice = UploadClient("alice", f"alice@{d}/slixmpp", args.alice_password, ctx)
    bob = UploadClient("bob", f"bob@{d}/slixmpp", args.bob_password, ctx)
    for c in (alice, bob):
        c.connect(args.host, args.port)
    await run.do("alice and bob log in", asyncio.gather(alice.ready, bob.ready))

    # 2. Too large for the advertised limit: refused from the disco form alone.
    big = b"x" * (args.max_size + 1)
    try:
        await run.do(
            "alice uploads a file over the limit",
            alice["xep_0363"].upload_file(
                "big.bin", size=len(big), input_file=io.BytesIO(big), domain=d, timeout=10
            ),
        )
        raise Failed("a file over max-file-size was accepted")
    except http_upload.FileTooBig as e:
        if e.args[1] != args.max_size:
            raise Failed(f"FileTooBig with max {e.args[1]}, the server advertises {args.max_size}")
        service = alice["xep_0363"].upload_service
        step(f"alice: found {service}, max-file-size {e.args[1]}; {len(big)} bytes refused")

    # 3. A real upload.
    data = "Grüße aus dem Wunderland\n".encode() * 40
    url = await run.do(
        "alice uploads a file",
        alice["xep_0363"].upload_file(
            "wonder land.txt",
            size=len(data),
            content_type="text/plain",
            input_file=io.BytesIO(data),
            domain=d,
            timeout=10,
        ),
    )
    if not url.startswith("https://"):
        raise Failed(f"GET URL {url} is not HTTPS")
    step(f"alice: uploaded {len(data)} bytes, GET URL {url.split('/upload/')[0]}/upload/<slot>/<name>")

    # 4. Share it with bob, who downloads it.
    msg = alice.make_message(mto=f"bob@{d}", mbody=url, mtype="chat")
    msg["oob"]["url"] = url
    msg.send()
    while True:
        m = await run.do("bob receives the link", bob.messages.get())
        if m["oob"]["url"]:
            break
    got_url = m["oob"]["url"]
    async with session() as http:
        async with http.get(got_url) as r:
            body = await r.read()
            status = r.status
    if status != 200 or body != data:
        raise Failed(f"bob's GET gave {status} with {len(body)} bytes, want 200 and alice's {len(data)}")
    step(f"bob: downloaded {len(body)} bytes, the same as alice uploaded")


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="STARTTLS (c2s) port")
    p.add_argument("--cert", required=True, help="the server's certificate (PEM), trusted as the only CA")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--alice-password", required=True)
    p.add_argument("--bob-password", required=True)
    p.add_argument("--max-size", type=int, required=True, help="upload.max_file_bytes")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("-v", "--verbose", action="store_true", help="slixmpp debug log on stderr")
    args = p.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(relativeCreated)6d %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    step(f"slixmpp {slixmpp.__version__}, aiohttp {aiohttp.__version__}, Python {sys.version.split()[0]}")
    ctx = tls_context(args.cert)
    run = Run()
    try:
        await asyncio.wait_for(upload(args, ctx, run), args.timeout)
    except asyncio.TimeoutError:
        print(f"FAIL: timed out (the {args.timeout:.0f} s cap) during: {run.current}", flush=True)
        return 2
    except Failed as e:
        print(f"FAIL: {e} (during: {run.current})", flush=True)
        return 1
    except IqError as e:
        print(f"FAIL: IQ error {e.iq['error']['condition']} (during: {run.current})", flush=True)
        return 1
    except http_upload.FileUploadError as e:
        print(f"FAIL: upload error {e} (during: {run.current})", flush=True)
        return 1
    finally:
        for c in CLIENTS:
            c.cancel_connection_attempt()
            if c.transport is not None:
                c.abort()
    print("OK: upload", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
