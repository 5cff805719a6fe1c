"""Schemathesis hooks for stylize's OpenAPI run (tests/tests/openapi.rs).

The document says a form's image parts are JPEG, PNG or WebP, and its URL parts are
fetched: no schema can say "a decodable image" or "a server that answers". So the
generator is given real PNGs for image parts, and every URL it writes is pointed at a
receiver on loopback (which the test's api may fetch from) that serves such a PNG to a
GET and takes a webhook's POST.
"""
import hashlib
import http.server
import math
import os
import struct
import threading
import zlib

import schemathesis
from hypothesis import strategies as st


def png(width: int, height: int, seed: int) -> bytes:
    """A `width`×`height` RGB PNG with a pattern that varies with `seed`."""
    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 3 + seed) % 256 for x in range(width * 3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# Square, so that any size the parameters allow leaves the layers enough pixels.
IMAGES = st.integers(48, 160).flatmap(
    lambda side: st.builds(png, st.just(side), st.just(side), st.integers(0, 255))
)
schemathesis.openapi.media_type("image/png", IMAGES)

SERVED = png(96, 80, 1)


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(SERVED)))
        self.end_headers()
        self.wfile.write(SERVED)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


SERVER = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=SERVER.serve_forever, daemon=True).start()
RECEIVER = f"http://127.0.0.1:{SERVER.server_address[1]}/image.png"
URL_FIELDS = ("content_url", "style_url", "webhook")


STYLE_FIELDS = ("style", "style_url", "preset")
MAX_STYLES = 8


def styles_within_limit(body):
    """Drops style parts past the one rule the schema cannot write: at most 8 style
    images across `style`, `style_url` and `preset` together (each list alone is
    bounded)."""
    room = MAX_STYLES
    for field in STYLE_FIELDS:
        value = body.get(field)
        if isinstance(value, list):
            body[field] = value[: max(room, 0)]
            room -= len(body[field])
            if not body[field]:
                del body[field]
        elif value is not None:
            room -= 1


def params_within_rules(params, styles):
    """Brings generated parameters within the rules between fields, which the schema
    (one field at a time) cannot write and `shared/core/src/params/plan.rs` checks with its own
    tests: at most ten levels from a start size, the coarsest scale at 16 px or more,
    an iteration per scale, a content or a
    style layer, content layers unless the picture starts from the photo, each layer
    once, and one blend weight per style adding up to a finite number."""
    # The levels: a count of scales, or as many as lead from a start size to the size
    # (a quality's start size too, unless the request gives its own or null, as here).
    size, scales = params.get("size", 512), params.get("scales", 1)
    factor = params.get("scale_factor", math.sqrt(2))
    start = params.get("start_size")
    params["start_size"] = start if isinstance(start, int) else None
    # Only values the schema allows are brought within the rules; a made-up one
    # (negative cases: a start size of 0, a factor of 1) is the api's to refuse.
    within_schema = (
        isinstance(size, int) and size >= 16 and isinstance(scales, int)
        and isinstance(factor, (int, float)) and 1.1 <= factor <= 2
        and (not isinstance(start, int) or start >= 16)
    )
    if within_schema:
        if isinstance(start, int):
            scales = 1 if start >= size else math.floor(math.log(size / start) / math.log(factor) + 1e-9) + 1
            if scales > 10:
                params["start_size"], scales = None, params.get("scales", 1)
        while scales > 1 and round(size / factor ** (scales - 1)) < 16:
            scales -= 1
        if "scales" in params:
            params["scales"] = scales
        iterations = params.get("iterations", 500)
        if isinstance(iterations, int) and iterations < scales:
            params["iterations"] = scales
    for field in ("content_layers", "style_layers"):
        layers = params.get(field)
        if isinstance(layers, list):
            seen, kept = set(), []
            for entry in layers:
                name = entry.get("layer") if isinstance(entry, dict) else None
                # A made-up value of another type (negative cases) is the api's to refuse.
                if not isinstance(name, str):
                    kept.append(entry)
                elif name not in seen:
                    seen.add(name)
                    kept.append(entry)
            params[field] = kept
    if params.get("content_layers") == [] and params.get("init") == "noise":
        params["init"] = "content"
    if params.get("content_layers") == [] and params.get("style_layers") == []:
        del params["style_layers"]
    weights = params.get("style_blend_weights")
    if isinstance(weights, list) and weights:
        if len(weights) != styles or not math.isfinite(sum(weights)):
            del params["style_blend_weights"]


def style_count(body):
    return sum(
        len(body[field]) if isinstance(body.get(field), list) else 1
        for field in STYLE_FIELDS
        if field in body
    )


@schemathesis.hook
def before_call(context, case, kwargs):
    """In every phase: points each URL a form carries (as text) at the receiver, keeps
    the form within its style limit and its parameters within the rules between fields,
    and leaves out a made-up `after` cursor (it must
    name one of the caller's jobs, which no schema can say; a made-up one is a 400 that
    tests/tests/submissions.rs checks)."""
    body = case.body
    if isinstance(body, dict) and case.method == "POST" and case.path == "/v1/jobs":
        for field in URL_FIELDS:
            value = body.get(field)
            if isinstance(value, str):
                body[field] = RECEIVER
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                body[field] = [RECEIVER] * len(value)
        styles_within_limit(body)
        # `dependentRequired`, which the generator does not follow.
        if "webhook_events" in body and "webhook" not in body:
            del body["webhook_events"]
        if isinstance(body.get("params"), dict):
            params_within_rules(body["params"], style_count(body))
        # A key reused for a different request is a 422 (tests/tests/submissions.rs);
        # here each key stays with one request, and a retry of it is still a replay.
        headers = case.headers or {}
        key = headers.get("Idempotency-Key")
        if isinstance(key, str):
            digest = hashlib.sha256(repr(body).encode()).hexdigest()[:16]
            headers["Idempotency-Key"] = f"{key[:150]}-{digest}"
    if case.method == "GET" and case.path == "/v1/jobs" and isinstance(case.query, dict):
        case.query.pop("after", None)
