#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (the committed ones came from this script,
plus any crash reproducers added by hand). Run from anywhere: python3 fuzz/make_seeds.py"""
import base64, hashlib, hmac, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- ticket ------------------------------------------------------------------------------------
CUR, PREV = (2, bytes([7] * 32)), (1, bytes([9] * 32))
NOW = 1_700_000_000
DOMAIN = b"plexgate.ticket.v1\0"


def payload(kid, kind, exp, prefix=None, version=1):
    p = bytes([version, kid, kind]) + struct.pack(">q", exp) + bytes([0xAB] * 16)
    p += struct.pack(">q", 42) + struct.pack(">q", 7)
    if prefix is not None:
        p += struct.pack(">H", len(prefix)) + prefix
    return p


def sign(key, p):
    return base64.urlsafe_b64encode(p + hmac.new(key, DOMAIN + p, hashlib.sha256).digest()).rstrip(b"=")


session = b"/video/:/transcode/universal/session/abc/"
payloads = {
    "facade": payload(2, 1, NOW + 60),
    "playback": payload(2, 2, NOW + 60, session),
    "previous_key": payload(1, 2, NOW + 60, b"/library/parts/1/"),
    "expired": payload(2, 1, NOW),
    "unknown_key": payload(5, 1, NOW + 60),
    "kind3": payload(2, 3, NOW + 60),
    "relative_prefix": payload(2, 2, NOW + 60, b"library/"),
    "long_len": payload(2, 2, NOW + 60, b"/a")[:-4] + struct.pack(">H", 600) + b"/a",
    "bad_utf8": payload(2, 2, NOW + 60, b"/\xff\xfe/"),
    "version2": payload(2, 1, NOW + 60, version=2),
    "facade_trailing": payload(2, 1, NOW + 60) + b"x",
}
for name, p in payloads.items():
    key = PREV[1] if p[1] == PREV[0] else CUR[1]
    write("ticket", f"text_{name}", b"\x00" + sign(key, p))
    write("ticket", f"raw_{name}", b"\x01" + p)
for i, junk in enumerate([b"", b"abc", b"!!!!!!!!!!!!", b"A" * 900, b"AAAAAAAA=", b"AQID-_x"]):
    write("ticket", f"text_junk{i}", b"\x00" + junk)
for i, (flip, mask, kind, exp, prefix) in enumerate([
    (0, 1, 0, NOW + 60, b""),
    (5, 0x20, 1, NOW + 60, session),
    (400, 0x80, 1, NOW + 60, b"/library/parts/1/file.mp4"),
    (7, 0, 1, NOW - 1, b"/x/"),
    (9, 3, 1, NOW + 60, b"no-slash"),
    (65535, 0xFF, 1, -1, "/é/日本/".encode()),
]):
    write("ticket", f"mint_{i}", b"\x02" + struct.pack(">HBB", flip, mask, kind) + struct.pack(">q", exp) + prefix)

# --- canonicalize ------------------------------------------------------------------------------
paths = [
    "", "/", "a/../b", "a/./b", "a//b", "a/%2e%2e/b", "a/%2E%2E/b", "a%2fb", "a%2Fb", "a%5cb",
    "a\\b", "a/%00", "a/%252e%252e/b", "a/%zz", "a/%c3%28", "a/b/", "%", "%2", "%%32%65",
    "video/:/transcode/universal/session/x%20y/0.m4s", "/library/metadata/101",
    "/library/parts/9101/1600100000/file.mp4", "/a/%25/b", "/a/%e6%97%a5/b", "/a/\t/b",
    "/a/%7f", "/a/%0d%0a", "/x?X-Plex-Token=1", "/x?a=1&x-plex-token=2&b", "/x?X%2DPlex%2DToken=1",
    "/x?u=%2Fy%3FX-Plex-Token%3D1", "/x#frag", "/x?token=1&Token=2", "/x/?a", "/x?+X-Plex-A=1",
    "/video/:/transcode/universal/session/s1/$Number%05d$.m4s", "/%C0%AE%C0%AE/x", "/x/..%2f",
]
for i, p in enumerate(paths):
    write("canonicalize", f"path{i:02}", p)

# --- scope -------------------------------------------------------------------------------------
S = "/video/:/transcode/universal/session/abc/"
scope_seeds = [
    (0, S, "/video/:/transcode/universal/session/abc/base/00001.ts", None),
    (0, S, "video/:/transcode/universal/session/abcd/x", None),
    (2, S, "/video/:/transcode/universal/session/abc/x", None),
    (1, S, "/video/:/transcode/universal/session/abc", None),
    (0, "/library/parts/1", "/library/parts/12", None),
    (0, "", "/library/metadata/101", "/library/metadata/101/thumb/1"),
    (0, S, "/library/sections/1/refresh", "%2Flibrary%2Fmetadata%2F101%3FX-Plex-Token%3Dsecret"),
    (4, S, "/library/metadata/101", "http://evil.example/x.jpg"),
    (2, S, "/library/parts/9101", "//evil.example/x"),
    (2, S, "/library/parts/abc", "/a/../../etc/passwd"),
    (3, S, "/video/:/transcode/universal/decision", "/x?a=1&X-PLEX-TOKEN=2&b=3"),
    (3, S, "/video/:/transcode/universal/start.m3u8", "relative/path"),
    (3, S, "/playQueues", "/photo?url=%2F"),
    (0, S, "/playQueues/1/items", None),
    (3, S, "/:/timeline", None),
    (6, S, "/:/prefs", None),
    (0, S, "/hubs/home/continueWatching", None),
    (0, S, "/identity", None),
    (7, S, "/search", None),
    (0, S, "/video/:/transcode/universal/session/abc/$Number%05d$.m4s", None),
    (0, S, "/video/:/transcode/universal/session/abc/0/$Time%010d$-$Bandwidth%08d$.m4s", None),
    (0, S, "/video/:/transcode/universal/session/abc/dash/", None),
    (0, S, "/video/:/transcode/universal/session/abc/$Number%05d$/../../s2/x", None),
    (0, S, "/video/:/transcode/universal/session/abc//", None),
    (0, S, "/video/:/transcode/universal/session/abc/$$-$Number%04x$.m4s", None),
    (5, S, "/library/sections/1/all", None),
]
for i, (m, prefix, path, photo) in enumerate(scope_seeds):
    text = f"{prefix}\n{path}" + (f"\n{photo}" if photo is not None else "")
    write("scope", f"seed{i:02}", bytes([m]) + text.encode())

# --- hls / dash --------------------------------------------------------------------------------
FIX = os.path.join(ROOT, "fixtures", "manifests")
for kind, ext, target in [("hls", ".m3u8", "hls"), ("dash", ".mpd", "dash")]:
    for i, f in enumerate(sorted(os.listdir(os.path.join(FIX, kind)))):
        if f.endswith(ext):
            with open(os.path.join(FIX, kind, f), "rb") as fh:
                # The selector byte cycles through the four manifest URL / scope cases.
                write(target, f.removesuffix(ext), bytes([ord("0") + i % 4]) + fh.read())
with open(os.path.join(FIX, "html_404.html"), "rb") as fh:
    html = fh.read()
write("hls", "html_404", b"0" + html)
write("dash", "html_404", b"0" + html)

HS = "session/7d0f1e8a-5c44-4d3b-9e21-6a7b8c9d0e1f"
hls_extra = {
    "daterange_steering": "#EXTM3U\n#EXT-X-DATERANGE:ID=\"a\",START-DATE=\"2024-01-01T00:00:00Z\",X-ASSET-URI=\"i.m3u8\",X-ASSET-LIST=\"l.json\",X-OTHER-URI=\"o\"\r\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"s.json\",PATHWAY-ID=\"p\"\n",
    "passthrough": "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://key42\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"data:text/plain;base64,AAAA\"\n#EXTINF:2,\n00000.ts\n#EXT-X-ENDLIST\n",
    "variables": "#EXTM3U\n#EXT-X-DEFINE:NAME=\"h\",VALUE=\"http://evil.example\"\n#EXTINF:2,\n{$h}/x.ts\n",
    "blanks": "#EXTM3U\n  \t00000.ts \t\n\n#EXTINF:2,\n\t../base/00001.ts?x=1&X-Plex-Token=a#frag\n",
    "absolute_same_origin": "#EXTM3U\n#EXTINF:2,\nhttp://127.0.0.1:32400/video/:/transcode/universal/" + HS + "/base/0.ts?X-Plex-Client-Identifier=c\n#EXTINF:2,\nHTTP://127.0.0.1:32400/video/:/transcode/universal/" + HS + "/base/1.ts\n",
    "userinfo": "#EXTM3U\n#EXTINF:2,\nhttp://u:p@127.0.0.1:32400/video/:/transcode/universal/" + HS + "/base/0.ts\n",
    "backslash": "#EXTM3U\n#EXTINF:2,\n..\\..\\..\\x.ts\n#EXTINF:2,\n%2e%2e/%2e%2e/x.ts\n",
    "unquoted_uri": "#EXTM3U\n#EXT-X-MAP:URI=init.mp4\n",
    "comma_in_quotes": "#EXTM3U\n#EXT-X-MEDIA:NAME=\"a,URI=\\\"x\\\"\",URI=\"audio/index.m3u8\",TYPE=AUDIO\n",
    "token_comment": "#EXTM3U\n# X-Plex-Token=" + "T0kFAKEplexgate42" + "\n#EXTINF:2,\n0.ts\n",
    "protocol_relative": "#EXTM3U\n#EXTINF:2,\n//evil.example/x.ts\n",
    "empty_query": "#EXTM3U\n#EXTINF:2,\n?\n#EXTINF:2,\n#\n",
}
for i, (name, text) in enumerate(hls_extra.items()):
    write("hls", name, bytes([ord("0") + i % 4]) + text.encode())

DS = "session/ws8ajlwvogju2sue33m2sqnl"
dash_extra = {
    "bom_location": "\ufeff<?xml version=\"1.0\"?><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"dynamic\"><Location>start.mpd?X-Plex-Token=T</Location><Period><AdaptationSet><SegmentTemplate media=\"" + DS + "/$Number$.m4s\"/></AdaptationSet></Period></MPD>",
    "prefixed_ns": "<d:MPD xmlns:d=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:x=\"http://www.w3.org/1999/xlink\"><d:BaseURL>" + DS + "/</d:BaseURL><d:Period x:href=\"p.xml\"/><d:Period x:href=\"urn:mpeg:dash:resolve-to-zero:2013\"/></d:MPD>",
    "entities": "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><BaseURL>" + DS + "/a&amp;b/</BaseURL><Period><AdaptationSet><SegmentList><Initialization sourceURL=\"i&#x2e;mp4\"/><SegmentURL media=\"0&quot;.m4s\" index=\"&lt;\"/></SegmentList></AdaptationSet></Period></MPD>",
    "cdata_comment": "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><!-- X-Plex-Token --><BaseURL><![CDATA[" + DS + "/]]></BaseURL><Period><AdaptationSet><Representation id=\"../x\"><SegmentTemplate media=\"$RepresentationID$/$Number$.m4s\"/></Representation></AdaptationSet></Period></MPD>",
    "truncated": "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period><AdaptationSet><SegmentTemplate media=\"",
    "two_bases": "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period><AdaptationSet><SegmentTemplate media=\"$Number$.m4s\" initialization=\"init\" index=\"idx\"/><Representation id=\"a\"><BaseURL>" + DS + "/a/</BaseURL></Representation><Representation id=\"b\"><BaseURL>" + DS + "/b/</BaseURL></Representation></AdaptationSet></Period></MPD>",
}
for i, (name, text) in enumerate(dash_extra.items()):
    write("dash", name, bytes([ord("0") + i % 4]) + text.encode())

# --- range -------------------------------------------------------------------------------------
for i, (length, header) in enumerate([
    (10, "bytes=0-3"), (10, "bytes=4-"), (10, "bytes=-3"), (10, "bytes=-30"), (10, "bytes=5-100"),
    (10, "bytes=10-"), (10, "bytes=-0"), (10, "bytes=0-1,4-5"), (10, "bytes=5-2"), (10, "items=0-1"),
    (10, "bytes=x-1"), (0, "bytes=0-0"), (0, "bytes=-1"), (2**64 - 1, "bytes=18446744073709551614-"),
    (2**64 - 1, "bytes=-18446744073709551615"), (1, " bytes= 0 - 0 "), (5, "bytes=+1-+2"), (5, "bytes=-"),
]):
    write("range", f"seed{i:02}", struct.pack(">Q", length) + header.encode())
write("range", "no_header", b"\x00\x00\x01")

# --- config ------------------------------------------------------------------------------------
with open(os.path.join(ROOT, "config.example.toml"), "rb") as fh:
    write("config", "example", fh.read())
config_seeds = {
    "empty": "",
    "env_only": "\0PLEXGATE_SERVER_LISTEN=0.0.0.0:80\nserver.base_path=/plexgate\nstream.ticket_key_id=300\n",
    "bad_types": "[server]\nlisten = 3\ntrusted_proxies = \"10.0.0.0/8\"\ncors_origins = [1]\n[stream]\nallow_direct = \"maybe\"\n",
    "unknown": "[server]\nlisten_addr = \"x\"\n[nope]\na = 1\ntop = 1\n[stream]\nidle_timeout_secs = 5\n",
    "not_toml": "[server\nlisten = ",
    "secrets": "[demo]\nplex_url = \"http://127.0.0.1:32400\"\n\0demo.plex_token=Zz9SeCrEtVaLuE42\nmetrics.bearer=short\nstorage.secret_key=Qq7NoTbAsE64x\n",
    "lists_env": "\0server.trusted_proxies=10.0.0.0/8, ::1, nope\nserver.cors_origins=*\nauth.allowed_users=a,,b\nimage.proxy_hosts=image.tmdb.org\n",
    "urls": "[server]\npublic_url = \"https://x.example/a?b\"\nbase_path = \"/a/../b/\"\n[plextv]\nurl = \"ftp://plex.tv\"\n[tmdb]\nurl = \"http://\"\n",
    "numbers": "[server]\nmax_body_bytes = 18446744073709551616\nmax_concurrency = -1\nrequest_timeout_secs = 0\n[cache]\nmax_mb = 1e3\n",
    "inline_tables": "server = { listen = \"127.0.0.1:1\" }\n[log]\nformat = \"json\"\nlevel = \"plexgate=debug,,=\"\n[auth]\ncookie_same_site = \"none\"\ncookie_secure = false\n",
    "replaced_env": "\0PLEXGATE_STREAM_IDLE_TIMEOUT_SECS=5\nPLEXGATE_DEMO_PLEX_URL=http://127.0.0.1:32400\n",
}
for name, text in config_seeds.items():
    write("config", name, text)
