# Computes the test vectors of PROTOCOL.md ("Test vectors") and of protocol/tests/keys.rs from the
# specification alone, with Python's `cryptography`, independently of the Rust code:
#     python3 key_schedule_vectors.py
import hashlib, hmac, struct
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The protocol version the vectors are for: PROTOCOL_VERSION in protocol/version.rs.
MAJOR, MINOR = 2, 10

def varint(n):
    if n < 251: return bytes([n])
    if n < 1<<16: return b"\xfb" + struct.pack("<H", n)
    if n < 1<<32: return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)
def string(s): b = s.encode(); return varint(len(b)) + b
def frame(body): return struct.pack("<I", len(body)) + body

cookie = b"test vector cookie"
sides = {
  "client": dict(name="alpha", conn="alpha.example:4697", inc=1, nonce=bytes([0x11])*32, secret=bytes([0x41])*32),
  "server": dict(name="beta", conn="beta.example:4697", inc=2, nonce=bytes([0x22])*32, secret=bytes([0x42])*32),
}
for s in sides.values():
    s["share"] = X25519PrivateKey.from_private_bytes(s["secret"]).public_key().public_bytes_raw()
    s["frames"] = 0  # Sealed

def hello(tag, s):
    return bytes([tag]) + varint(MAJOR) + varint(MINOR) + string(s["name"]) + string(s["conn"]) + varint(s["inc"]) + s["nonce"] + s["share"] + bytes([s["frames"]])

def field(b): return struct.pack("<Q", len(b)) + b
def transcript(c, s):
    out = b""
    for h in (c, s):
        out += struct.pack("<H", MAJOR) + struct.pack("<H", MINOR) + field(h["name"].encode()) + field(h["conn"].encode()) + struct.pack("<Q", h["inc"]) + h["nonce"] + h["share"] + bytes([h["frames"]])
        if h.get("hidden"): out += field(b"hidden node")  # since 2.7, a hidden node's hello only
    return out
c, s = sides["client"], sides["server"]
def proof(role): return hmac.new(cookie, field(b"ractor_cluster handshake proof v2") + field(role) + transcript(c, s), hashlib.sha256).digest()
wire = frame(hello(0, c)) + frame(hello(1, s)) + frame(b"\x02" + proof(b"client")) + frame(b"\x03" + proof(b"server"))
salt = hmac.new(cookie, field(b"ractor_cluster session keys v2") + transcript(c, s), hashlib.sha256).digest()
shared = X25519PrivateKey.from_private_bytes(c["secret"]).exchange(X25519PublicKey.from_public_bytes(s["share"]))
prk = hmac.new(salt, shared, hashlib.sha256).digest()
def expand(label): return hmac.new(prk, label + b"\x01", hashlib.sha256).digest()
c2s = expand(b"ractor_cluster client to server v2"); s2c = expand(b"ractor_cluster server to client v2")
def record(key, counter, pt):
    hdr = struct.pack("<I", len(pt) + 16)
    return hdr + AESGCM(key).encrypt(b"\0\0\0\0" + struct.pack("<Q", counter), pt, hdr)
heartbeat = frame(b"\x03\x00")
print("client_hello", frame(hello(0, c)).hex())
print("server_hello", frame(hello(1, s)).hex())
print("client_proof", frame(b"\x02" + proof(b"client")).hex())
print("server_proof", frame(b"\x03" + proof(b"server")).hex())
print("shared", shared.hex())
print("salt", salt.hex())
print("c2s", c2s.hex())
print("s2c", s2c.hex())
print("client_record0", record(c2s, 0, heartbeat).hex())
print("server_record0", record(s2c, 0, heartbeat + heartbeat).hex())

# The same handshake with a hidden client: its hello goes under tag 5, its transcript grows.
c["hidden"] = True
print("hidden_client_hello", frame(hello(5, c)).hex())
print("hidden_client_proof", frame(b"\x02" + proof(b"client")).hex())
print("hidden_server_proof", frame(b"\x03" + proof(b"server")).hex())
