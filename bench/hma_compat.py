#!/usr/bin/env python3
"""Helper of bench/hma_compat.sh (run that script, not this file): sends one sequence of
requests to a running HMA and to Spoor's HMA routes, compares each pair of answers and prints
one line per request.

Compared: the status code; the JSON shape, recursively (object keys, value types -- number,
string, bool, null, array, object -- and arrays element by element); the values both must agree
on (named per request: hashes of the same file, exact-match distances, ratios, ...); and that
every error body is {"message": string}. Content ids differ between the two and are compared by
shape only. Steps listed in the deliberate-differences table (passed by the shell script) must
differ, with the Spoor status the table gives.

Exit status: 0 when everything is `same` or `deliberate`, 1 otherwise.
"""

import argparse
import hashlib
import http.server
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse

import requests

BANK = "COMPAT_BANK"
SPARE = "COMPAT_SPARE"
RENAMED = "COMPAT_RENAMED"
MISSING = "NO_SUCH_BANK"
# A PDQ hash far from the photo's (about 128 bits off), banked by signal. (It also keeps HMA's
# PDQ index from holding a single hash: faiss loses the entries of a one-hash
# IndexBinaryMultiHash when it is serialized, and HMA then never matches anything.)
PDQ2 = hashlib.sha256(b"spoor hma compat").hexdigest()
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MD5_SENT = " D41D8CD98F00B204E9800998ECF8427E "
VIDEO = b"not really a video: HMA and Spoor take the MD5 of the bytes"


class Text(str):
    """A body that is not JSON."""


class Answer:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def get(self, path):
        """The value at a dotted path (`signals.pdq`, `COMPAT_BANK.0.distance`, `$` = all)."""
        v = self.body
        if path == "$":
            return v
        for part in path.split("."):
            if isinstance(v, list) and part.isdigit() and int(part) < len(v):
                v = v[int(part)]
            elif isinstance(v, dict) and part in v:
                v = v[part]
            else:
                return "<absent>"
        return v


class Side:
    def __init__(self, name, base, headers):
        self.name, self.base, self.headers = name, base.rstrip("/"), headers
        self.http = requests.Session()
        # Per-side values that requests refer to as {name} in paths: content ids, bank names.
        self.vars = {"bank": BANK, "spare": SPARE}

    def call(self, method, path, auth=True, **kw):
        headers = dict(self.headers) if auth else {}
        headers.update(kw.pop("headers", {}))
        r = self.http.request(
            method, self.base + path.format(**self.vars), headers=headers, timeout=120, **kw
        )
        try:
            body = r.json()
        except ValueError:
            body = Text(r.text)
        return Answer(r.status_code, body)


def kind(v):
    if isinstance(v, Text):
        return "text"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def shape_diffs(a, b, at="$"):
    """How the shape of b (Spoor) differs from a (HMA)."""
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return [f"{at}: HMA {ka} {short(a)}, Spoor {kb} {short(b)}"]
    out = []
    if ka == "object":
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{at}.{k}: only HMA has it ({short(a[k])})")
            elif k not in a:
                out.append(f"{at}.{k}: only Spoor has it ({short(b[k])})")
            else:
                out += shape_diffs(a[k], b[k], f"{at}.{k}")
    elif ka == "array":
        if len(a) != len(b):
            out.append(f"{at}: HMA has {len(a)} elements, Spoor {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            out += shape_diffs(x, y, f"{at}[{i}]")
    return out


def short(v, n=90):
    s = v if isinstance(v, Text) else json.dumps(v, sort_keys=True)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def is_message(body):
    return isinstance(body, dict) and set(body) == {"message"} and isinstance(body["message"], str)


def shown(path):
    """A path as printed: long hashes cut short."""
    return re.sub(r"([0-9a-f]{8})[0-9a-f]{24,}", r"\1…", path)


class Run:
    def __init__(self, hma, spoor, deliberate):
        self.hma, self.spoor, self.deliberate = hma, spoor, deliberate
        self.seen = set()
        self.counts = {"same": 0, "deliberate": 0, "DIFFERENT": 0}

    def step(self, sid, method, path, agree=(), auth=True, show=None, expect=None, **kw):
        """Sends one request to both; prints the verdict; returns (HMA answer, Spoor answer).

        agree: dotted paths whose values must be equal on both sides (`$`: the whole body).
        expect(side, answer): what is wrong with one side's answer (a list of strings), for
        what depends on each side's own ids."""
        assert sid not in self.seen, sid
        self.seen.add(sid)
        a = self.hma.call(method, path, **kw)
        b = self.spoor.call(method, path, auth=auth, **kw)
        diffs = []
        if a.status != b.status:
            diffs.append(f"status: HMA {a.status}, Spoor {b.status}")
        diffs += shape_diffs(a.body, b.body)
        for p in agree:
            if a.get(p) != b.get(p):
                diffs.append(f"{p}: HMA {short(a.get(p))}, Spoor {short(b.get(p))}")
        for side, ans in ((self.hma, a), (self.spoor, b)):
            diffs += [f"{side.name}: {p}" for p in (expect(side, ans) if expect else [])]
        for side, ans in (("HMA", a), ("Spoor", b)):
            if ans.status >= 400 and not is_message(ans.body):
                diffs.append(f"{side}'s {ans.status} body is not {{\"message\": string}}: {short(ans.body)}")
        request = f"{method} {shown(path.format(**self.hma.vars))}"
        if show:
            request += f" {show}"
        answers = f"HMA {a.status} {short(a.body, 100)} | Spoor {b.status} {short(b.body, 100)}"
        if sid in self.deliberate:
            want, reason = self.deliberate[sid]
            if not diffs:
                verdict = f"DIFFERENT: listed as deliberate ({reason}) but both answer alike — {answers}"
            elif b.status != want:
                verdict = f"DIFFERENT: the table has Spoor answer {want} here ({reason}) — {answers}"
            elif b.status >= 400 and not is_message(b.body):
                verdict = f"DIFFERENT: Spoor's {b.status} body is not {{\"message\": string}} — {answers}"
            else:
                verdict = f"deliberate: {reason} (HMA {a.status}, Spoor {b.status})"
        elif diffs:
            verdict = "DIFFERENT: " + "; ".join(diffs) + f" — {answers}"
        else:
            verdict = "same"
        self.counts[verdict.split(":")[0]] += 1
        print(f"{sid:<30} {request:<66} {verdict}")
        sys.stdout.flush()
        return a, b

    def note(self, text):
        print(f"# {text}")
        sys.stdout.flush()


def wait_for(side, path, want, timeout, what, fatal=True):
    """Polls a GET until `want(answer)`; returns the seconds it took. On timeout: an error when
    fatal, else None (the next step then shows what the side answers)."""
    start = time.time()
    while True:
        ans = side.call("GET", path)
        if ans.status == 200 and want(ans.body):
            return time.time() - start
        if time.time() - start > timeout:
            message = f"{side.name}: {what}: {shown(path)} still answers {ans.status} {short(ans.body)} after {timeout:.0f} s"
            if fatal:
                raise SystemExit(f"error: {message}")
            print(f"# {message}")
            return None
        time.sleep(0.25)


def settle(run, path, want, what, timeout=10):
    """Spoor's index follows the change log live: waits (briefly) for it to show a change."""
    took = wait_for(run.spoor, path, want, timeout, what, fatal=False)
    if took is not None and took > 0.5:
        run.note(f"Spoor: {what} after {took:.1f} s")


def coin_seed(below):
    """A lookup seed whose coin (CPython's random.Random(seed).random()) is below 0.4, or above
    0.6: clear of a 0.5 ratio."""
    for i in range(1000):
        seed = f"content-{i}"
        c = random.Random(seed).random()
        if (c < 0.4) if below else (c > 0.6):
            return seed
    raise SystemExit("no seed found")


def serve_files(directory):
    """A file server on 127.0.0.1 for HMA's url= requests."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=directory, **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hma", required=True)
    ap.add_argument("--spoor", required=True, help="Spoor's base URL with the HMA prefix")
    ap.add_argument("--key", required=True)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--near", required=True, help="a near copy of --photo (a match)")
    ap.add_argument("--other", required=True, help="another photo, banked at the end")
    ap.add_argument("--deliberate", required=True, help="the table: id | Spoor status | reason")
    ap.add_argument("--lookup-out", help="write the matching lookup path here (for wrk)")
    ap.add_argument("--index-timeout", type=float, default=180)
    args = ap.parse_args()

    deliberate = {}
    for line in open(args.deliberate):
        if line.strip() and not line.startswith("#"):
            sid, want, reason = (x.strip() for x in line.split("|", 2))
            deliberate[sid] = (int(want), reason)

    hma = Side("HMA", args.hma, {})
    spoor = Side("Spoor", args.spoor, {"Authorization": f"Bearer {args.key}"})
    run = Run(hma, spoor, deliberate)
    photo = open(args.photo, "rb").read()
    near = open(args.near, "rb").read()
    other = open(args.other, "rb").read()
    files_url = serve_files(os.path.dirname(os.path.abspath(args.photo)))
    photo_url = urllib.parse.quote(f"{files_url}/{os.path.basename(args.photo)}", safe="")
    other_url = urllib.parse.quote(f"{files_url}/{os.path.basename(args.other)}", safe="")

    def upload(field, data, name="file.bin", **fields):
        return {"files": {field: (name, data, "application/octet-stream")}, "data": fields}

    # Status.
    run.step("status", "GET", "/status", agree=["$"])
    run.step("status.live", "GET", "/status/live", agree=["$"])
    run.step("auth.no-key", "GET", "/c/banks", auth=False, show="(no key)")

    # Banks.
    ok = ["matching_enabled_ratio", "name"]
    run.step("banks.create", "POST", "/c/banks", json={"name": BANK}, agree=ok, show=f'{{"name":"{BANK}"}}')
    run.step("banks.create.duplicate", "POST", "/c/banks", json={"name": BANK}, show="(again)")
    run.step("banks.create.bad-name", "POST", "/c/banks", json={"name": "lower_case"}, show='{"name":"lower_case"}')
    run.step("banks.create.no-name", "POST", "/c/banks", json={}, show="{}")
    run.step("banks.create.bad-ratio", "POST", "/c/banks", json={"name": "COMPAT_BAD", "enabled_ratio": "abc"}, show='{"name":…,"enabled_ratio":"abc"}')
    run.step("banks.create.not-json", "POST", "/c/banks", data="COMPAT_BAD", headers={"Content-Type": "text/plain"}, show="(text/plain)")
    run.step("banks.create.spare", "POST", "/c/banks", json={"name": SPARE}, agree=ok, show=f'{{"name":"{SPARE}"}}')
    run.step("banks.list", "GET", "/c/banks", agree=["$"])
    run.step("banks.get", "GET", f"/c/bank/{BANK}", agree=["$"])
    run.step("banks.get.missing", "GET", f"/c/bank/{MISSING}")

    # Content, by file and by signal.
    a, b = run.step(
        "content.add.photo", "POST", f"/c/bank/{BANK}/content", agree=["signals"],
        show='photo=aaa-orig.jpg metadata={"content_id":"x"}',
        **upload("photo", photo, "aaa-orig.jpg", metadata=json.dumps({"content_id": "x"})),
    )
    pdq = a.get("signals.pdq")
    if not isinstance(pdq, str) or len(pdq) != 64:
        raise SystemExit(f"error: HMA did not bank the photo: {a.status} {short(a.body)}")
    for side, ans in ((hma, a), (spoor, b)):
        side.vars["photo"] = ans.get("id")
    a, b = run.step("content.add.pdq", "POST", f"/c/bank/{BANK}/signal", json={"pdq": PDQ2}, agree=["signals"], show='{"pdq":…}')
    hma.vars["pdq2"], spoor.vars["pdq2"] = a.get("id"), b.get("id")
    a, b = run.step(
        "content.add.video_md5", "POST", f"/c/bank/{BANK}/signal", json={"video_md5": MD5_SENT},
        agree=["signals"], show=f'{{"video_md5":"{MD5_SENT}"}}',
    )
    hma.vars["md5"], spoor.vars["md5"] = a.get("id"), b.get("id")
    run.step("content.add.bad-pdq", "POST", f"/c/bank/{BANK}/signal", json={"pdq": "ABC"}, show='{"pdq":"ABC"}')
    run.step("content.add.unknown-type", "POST", f"/c/bank/{BANK}/signal", json={"tmk": "abc"}, show='{"tmk":"abc"}')
    run.step("content.add.no-signal", "POST", f"/c/bank/{BANK}/signal", json={}, show="{}")
    run.step("content.add.missing-bank", "POST", f"/c/bank/{MISSING}/signal", json={"pdq": PDQ2}, show='{"pdq":…}')
    run.step("content.add.not-json", "POST", f"/c/bank/{BANK}/signal", data="pdq", headers={"Content-Type": "text/plain"}, show="(text/plain)")
    run.step("content.add.bad-field", "POST", f"/c/bank/{BANK}/content", show="picture=aaa-orig.jpg", **upload("picture", photo))
    run.step("content.add.no-file", "POST", f"/c/bank/{BANK}/content", show="metadata only", data={"metadata": "{}"}, files={"x": (None, "")})
    run.step("content.add.bad-metadata", "POST", f"/c/bank/{BANK}/content", show="metadata=not json", **upload("photo", photo, metadata="not json"))

    sig = ["disable_until_ts", "signals", "metadata", "bank", "original_media_uri"]
    run.step("content.get", "GET", f"/c/bank/{BANK}/content/{{photo}}?include_signals=true", agree=sig)
    run.step("content.get.video_md5", "GET", f"/c/bank/{BANK}/content/{{md5}}?include_signals=true", agree=sig)
    run.step("content.get.plain", "GET", f"/c/bank/{BANK}/content/{{pdq2}}", agree=sig)
    run.step("content.get.missing", "GET", f"/c/bank/{BANK}/content/999999")
    run.step("content.get.missing-bank", "GET", f"/c/bank/{MISSING}/content/{{photo}}")

    # Lookups: wait until both indexes hold the new content.
    by_pdq = f"/m/lookup?signal_type=pdq&signal={pdq}"
    by_pdq2 = f"/m/lookup?signal_type=pdq&signal={PDQ2}"
    by_md5 = f"/m/lookup?signal_type=video_md5&signal={MD5}"
    has = lambda body: bool(body.get(BANK)) if isinstance(body, dict) else False
    empty = lambda body: body == {}
    for side in (hma, spoor):
        took = max(wait_for(side, p, has, args.index_timeout, "the index") for p in (by_pdq, by_pdq2, by_md5))
        run.note(f"{side.name}'s index matches the new content ({took:.1f} s after it was added)")
    if args.lookup_out:
        with open(args.lookup_out, "w") as f:
            f.write(by_pdq)

    hit = [f"{BANK}.0.distance"]
    run.step("lookup.pdq", "GET", by_pdq, agree=hit)
    run.step("lookup.pdq.by-signal", "GET", by_pdq2, agree=hit)
    run.step("lookup.video_md5", "GET", by_md5, agree=hit)
    run.step("lookup.video_md5.upper", "GET", f"/m/lookup?signal_type=video_md5&signal={urllib.parse.quote(MD5_SENT)}", agree=hit)
    a, b = run.step("lookup.file", "POST", "/m/lookup", show="photo=blur-a-little.jpg", **upload("photo", near))
    run.note(f"near file distance: HMA {short(a.get(f'pdq.{BANK}.0.distance'))}, Spoor {short(b.get(f'pdq.{BANK}.0.distance'))}")
    far = "%064x" % (int(pdq, 16) ^ (2**256 - 1))
    run.step("lookup.miss", "GET", f"/m/lookup?signal_type=pdq&signal={far}", agree=["$"])
    run.step("lookup.video_md5.miss", "GET", f"/m/lookup?signal_type=video_md5&signal={'f' * 32}", agree=["$"])
    run.step("lookup.banks", "GET", f"{by_pdq}&banks={SPARE}", agree=["$"])
    run.step("lookup.raw", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq}")
    run.step("lookup.raw.distance", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq}&include_distance=true", agree=["matches.0.distance"])
    run.step("lookup.raw.video_md5", "GET", f"/m/raw_lookup?signal_type=video_md5&signal={MD5}&include_distance=true", agree=["matches.0.distance"])
    run.step("lookup.raw.missing", "GET", "/m/raw_lookup?signal_type=pdq")
    run.step("lookup.raw.bad-bool", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq}&include_distance=maybe")
    run.step("lookup.missing", "GET", "/m/lookup?signal_type=pdq")
    run.step("lookup.bad-pdq", "GET", "/m/lookup?signal_type=pdq&signal=abc")
    run.step("lookup.upper-pdq", "GET", f"/m/lookup?signal_type=pdq&signal={pdq.upper()}")
    run.step("lookup.unknown-type", "GET", "/m/lookup?signal_type=tmk&signal=abc")
    run.step("lookup.file.no-file", "POST", "/m/lookup", show="(no file)", data={"x": "y"}, files={"x": (None, "y")})
    run.step("lookup.url", "GET", f"/m/lookup?url={photo_url}", show="(a photo served on 127.0.0.1)")

    # Compare.
    flipped = "%064x" % (int(pdq, 16) ^ 0b10110)
    run.step("compare.pdq.near", "POST", "/m/compare", json={"pdq": [pdq, flipped]}, agree=["$"], show='{"pdq":[photo, 3 bits off]}')
    run.step("compare.pdq.far", "POST", "/m/compare", json={"pdq": [pdq, PDQ2]}, agree=["$"], show='{"pdq":[photo, other]}')
    run.step("compare.empty", "POST", "/m/compare", json={}, agree=["$"], show="{}")
    run.step("compare.video_md5", "POST", "/m/compare", json={"video_md5": [MD5, MD5]}, show='{"video_md5":[x, x]}')
    run.step("compare.one-hash", "POST", "/m/compare", json={"pdq": [pdq]}, show='{"pdq":[one]}')
    run.step("compare.bad-hash", "POST", "/m/compare", json={"pdq": [pdq, "xyz"]}, show='{"pdq":[ok, "xyz"]}')
    run.step("compare.unknown-type", "POST", "/m/compare", json={"tmk": ["a", "b"]}, show='{"tmk":[…]}')
    run.step("compare.not-dict", "POST", "/m/compare", json=[1, 2], show="[1,2]")
    run.step("compare.not-json", "POST", "/m/compare", data="x", headers={"Content-Type": "text/plain"}, show="(text/plain)")

    # Index status, types.
    sizes = [f"{t}.{k}" for t in ("pdq", "video_md5") for k in ("present", "size")]
    run.step("index.status", "GET", "/m/index/status", agree=sizes)
    run.step("index.status.pdq", "GET", "/m/index/status?signal_type=pdq", agree=sizes)
    run.step("index.status.unknown", "GET", "/m/index/status?signal_type=tmk")
    run.step("types.signal", "GET", "/c/signal_type", agree=["$"])
    run.step("types.content", "GET", "/c/content_type", agree=["$"])
    counts = [f"{t}.{k}" for t in ("pdq", "video_md5") for k in ("db_size", "index_size", "index_out_of_date")]
    run.step("types.index", "GET", "/c/signal_type/index", agree=counts)
    run.step("types.index.unknown", "GET", "/c/signal_type/index?signal_type=tmk")
    run.step("exchanges", "GET", "/c/exchanges", agree=["$"])
    run.step("exchanges.apis", "GET", "/c/exchanges/apis", agree=["$"])

    # Disabling content: no match while disabled, for good (0) or until a time.
    content = f"/c/bank/{BANK}/content/{{photo}}"
    put_ok = ["disable_until_ts", "bank", "user_metadata", "collab_metadata", "note", "original_media_uri"]
    run.step("content.disable", "PUT", content, json={"disable_until_ts": 0}, agree=put_ok, show='{"disable_until_ts":0}')
    run.step("content.get.disabled", "GET", content, agree=sig)
    settle(run, by_pdq, empty, "the disabled content stops matching")
    run.step("lookup.disabled", "GET", by_pdq, agree=["$"])
    run.step("lookup.raw.disabled", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq}")
    run.step("content.enable", "PUT", content, json={"disable_until_ts": 1}, agree=put_ok, show='{"disable_until_ts":1}')
    settle(run, by_pdq, has, "the enabled content matches again")
    run.step("lookup.enabled", "GET", by_pdq, agree=hit)
    now = int(time.time())
    run.step("content.disable.until-ts", "PUT", content, json={"disable_until_ts": now + 3600}, agree=put_ok, show='{"disable_until_ts":<in an hour>}')
    run.step("content.get.until-ts", "GET", content, agree=sig)
    settle(run, by_pdq, empty, "the content disabled for an hour stops matching")
    run.step("lookup.disabled-until", "GET", by_pdq, agree=["$"])
    run.step("content.disable.past-ts", "PUT", content, json={"disable_until_ts": now - 60}, agree=put_ok, show='{"disable_until_ts":<a minute ago>}')
    settle(run, by_pdq, has, "the content disabled until a minute ago matches")
    run.step("lookup.disabled-past", "GET", by_pdq, agree=hit)
    run.step("content.update.too-far", "PUT", content, json={"disable_until_ts": now + 6 * 366 * 86400}, show='{"disable_until_ts":<in 6 years>}')
    run.step("content.update.negative", "PUT", content, json={"disable_until_ts": -1}, show='{"disable_until_ts":-1}')
    run.step("content.update.bad-int", "PUT", content, json={"disable_until_ts": "soon"}, show='{"disable_until_ts":"soon"}')
    run.step("content.update.missing", "PUT", f"/c/bank/{BANK}/content/999999", json={"disable_until_ts": 1}, show='{"disable_until_ts":1}')
    run.step("content.enable.again", "PUT", content, json={"disable_until_ts": "1"}, agree=put_ok, show='{"disable_until_ts":"1"}')
    settle(run, by_pdq, has, "the enabled content matches again")
    run.step("lookup.enabled.again", "GET", by_pdq, agree=hit)

    # A bank paused and resumed by its ratio; what Spoor does not do with banks.
    bank = f"/c/bank/{BANK}"
    run.step("banks.update.pause", "PUT", bank, json={"enabled_ratio": 0}, agree=ok, show='{"enabled_ratio":0}')
    settle(run, by_pdq, empty, "the paused bank stops matching")
    run.step("lookup.paused", "GET", by_pdq, agree=["$"])
    run.step("lookup.raw.paused", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq}")
    run.step("lookup.file.bypass-paused", "POST", "/m/lookup?bypass_coinflip=true", show="photo=aaa-orig.jpg (bank paused)", **upload("photo", photo))
    run.step("banks.get.paused", "GET", bank, agree=["$"])
    run.step("banks.update.resume", "PUT", bank, json={"enabled_ratio": 1}, agree=ok, show='{"enabled_ratio":1}')
    settle(run, by_pdq, has, "the resumed bank matches again")
    run.step("lookup.resumed", "GET", by_pdq, agree=hit)

    # HMA's coin: at ratio 0.5 a lookup consults the bank when its coin is at most 0.5. Seeded,
    # the coin is CPython's random.Random(seed).random() on both sides (Spoor draws it to the
    # bit), so both agree lookup by lookup.
    low, high = coin_seed(below=True), coin_seed(below=False)
    run.note(f"seeds: {low!r} (coin {random.Random(low).random():.3f}), {high!r} (coin {random.Random(high).random():.3f})")
    run.step("banks.update.ratio-half", "PUT", bank, json={"enabled_ratio": 0.5}, agree=ok, show='{"enabled_ratio":0.5}')
    seeded = lambda seed: f"{by_pdq}&seed={seed}"
    settle(run, seeded(high), empty, "the bank at 0.5 skips a lookup whose coin is above 0.5")
    run.step("lookup.coin.above", "GET", seeded(high), agree=["$"], show=f"(seed {high}: coin above 0.5)")
    run.step("lookup.coin.below", "GET", seeded(low), agree=hit, show=f"(seed {low}: coin below 0.5)")
    for i in range(12):
        seed = f"item-{i}"
        run.step(f"lookup.coin.seed-{i}", "GET", seeded(seed), agree=hit, show=f"(coin {random.Random(seed).random():.3f})")
    run.step("lookup.coin.bypass-get", "GET", seeded(high) + "&bypass_coinflip=true", show=f"(seed {high}, bypass)")
    run.step("lookup.file.coin.above", "POST", f"/m/lookup?seed={high}", agree=["pdq"], show=f"photo=aaa-orig.jpg (seed {high})", **upload("photo", photo))
    run.step("lookup.file.coin.bypass", "POST", f"/m/lookup?seed={high}&bypass_coinflip=true", agree=["pdq.COMPAT_BANK.0.distance"], show=f"photo=aaa-orig.jpg (seed {high}, bypass)", **upload("photo", photo))
    run.step("banks.update.ratio-full", "PUT", bank, json={"enabled_ratio": "1.0"}, agree=ok, show='{"enabled_ratio":"1.0"}')
    settle(run, seeded(high), has, "the bank at 1 consults every lookup again")
    run.step("lookup.coin.full", "GET", seeded(high), agree=hit, show=f"(seed {high}, ratio 1)")
    run.step("banks.update.empty", "PUT", bank, json={}, agree=ok, show="{}")
    run.step("banks.update.bad-type", "PUT", bank, json={"enabled": "maybe"}, show='{"enabled":"maybe"}')
    run.step("banks.update.missing", "PUT", f"/c/bank/{MISSING}", json={"enabled_ratio": 1}, show='{"enabled_ratio":1}')
    run.step("banks.update.spare-ratio", "PUT", f"/c/bank/{SPARE}", json={"enabled_ratio": 0.25}, agree=ok, show='{"enabled_ratio":0.25}')
    run.step("banks.get.spare-ratio", "GET", f"/c/bank/{SPARE}", agree=["$"])
    a, _ = run.step("banks.update.rename", "PUT", f"/c/bank/{SPARE}", json={"name": RENAMED}, show=f'{{"name":"{RENAMED}"}}')
    if a.status == 200:
        hma.vars["spare"] = RENAMED
    run.step("banks.delete", "DELETE", "/c/bank/{spare}")

    # Deleting content.
    run.step("content.delete", "DELETE", f"/c/bank/{BANK}/content/{{md5}}", agree=["$"])
    run.step("content.delete.again", "DELETE", f"/c/bank/{BANK}/content/{{md5}}", agree=["$"])
    run.step("content.delete.missing-bank", "DELETE", f"/c/bank/{MISSING}/content/{{photo}}")
    settle(run, by_md5, empty, "the deleted content stops matching")
    run.step("lookup.video_md5.deleted", "GET", by_md5, agree=["$"])

    # Hashing.
    run.step("hash.photo", "POST", "/h/hash", agree=["$"], show="photo=aaa-orig.jpg", **upload("photo", photo))
    run.step("hash.video", "POST", "/h/hash", agree=["$"], show=f"video=<{len(VIDEO)} bytes>", **upload("video", VIDEO))
    run.step("hash.types", "POST", "/h/hash?types=video_md5", show="photo=aaa-orig.jpg", **upload("photo", photo))
    run.step("hash.no-file", "POST", "/h/hash", show="(no file)", data={"x": "y"}, files={"x": (None, "y")})
    run.step("hash.bad-field", "POST", "/h/hash", show="picture=aaa-orig.jpg", **upload("picture", photo))
    run.step("hash.url.missing", "GET", "/h/hash")
    run.step("hash.url", "GET", f"/h/hash?url={photo_url}", show="(a photo served on 127.0.0.1)")

    # The photo's signal banked again: HMA makes a new content item of it.
    def new_item(side, ans):
        if ans.get("id") in (side.vars["photo"], "<absent>"):
            return [f"answered id {ans.get('id')}, the id of the content already banked with this signal, not a new content item"]
        return []

    extras = []  # content only HMA banked (Spoor refused it or answered an existing id)
    a, b = run.step("content.add.same-signal", "POST", f"/c/bank/{BANK}/signal", json={"pdq": pdq}, agree=["signals"], expect=new_item, show='{"pdq":<the photo\'s>}')
    if a.get("id") != hma.vars["photo"]:
        extras.append(a.get("id"))

    # Last, as they bank more content in HMA: what Spoor refuses to keep or fetch.
    a, _ = run.step(
        "content.add.content-uri", "POST", f"/c/bank/{BANK}/content",
        show='photo=blur-a-lot.jpg metadata={"content_id":"y","content_uri":…}',
        **upload("photo", other, metadata=json.dumps({"content_id": "y", "content_uri": "https://example.invalid/y.jpg"})),
    )
    extras.append(a.get("id"))
    a, _ = run.step("content.add.note", "POST", f"/c/bank/{BANK}/content", show="photo=blur-a-lot.jpg note=hello", **upload("photo", other, note="hello"))
    extras.append(a.get("id"))
    a, _ = run.step("content.add.url", "POST", f"/c/bank/{BANK}/content?url={other_url}", show="(a photo served on 127.0.0.1)")
    extras.append(a.get("id"))

    # Both hold the same content again (for the throughput run): HMA's extras deleted, its
    # index rebuilt without them.
    for cid in extras:
        if isinstance(cid, int):
            hma.call("DELETE", f"/c/bank/{BANK}/content/{cid}")
    rebuilt = lambda body: isinstance(body, dict) and not any(v.get("index_out_of_date") for v in body.values())
    wait_for(hma, "/c/signal_type/index", rebuilt, 120, "rebuilding the index", fatal=False)

    stale = sorted(set(deliberate) - run.seen)
    for sid in stale:
        print(f"{sid:<30} {'(no such step)':<66} DIFFERENT: the deliberate-differences table lists a step that was not run")
        run.counts["DIFFERENT"] += 1
    c = run.counts
    total = sum(c.values())
    print(f"summary: {total} requests: {c['same']} same, {c['deliberate']} deliberate, {c['DIFFERENT']} DIFFERENT")
    return 1 if c["DIFFERENT"] else 0


if __name__ == "__main__":
    sys.exit(main())
