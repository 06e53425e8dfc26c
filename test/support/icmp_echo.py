"""ICMP echo ("ping") for data-plane tests: the image has no ping binary, root can open a raw socket.

usage: icmp_echo.py ADDRESS TIMEOUT_SECONDS [INTERVAL_SECONDS]
Sends an echo request every INTERVAL (default 0.05 s) until a reply from ADDRESS arrives or the
timeout passes. Prints the round trip of the first reply in ms and exits 0; exits 1 on timeout.
"""
import os
import select
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> int:
    dst = sys.argv[1]
    deadline = time.monotonic() + float(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    seq = 0
    sent = {}
    next_send = 0.0
    while True:
        now = time.monotonic()
        if now >= deadline:
            return 1
        if now >= next_send:
            seq = (seq + 1) & 0xFFFF
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            payload = b"pocketstack"
            packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
            try:
                sock.sendto(packet, (dst, 0))
            except OSError:
                pass  # no route yet: keep trying until the deadline
            sent[seq] = now
            next_send = now + interval
        ready, _, _ = select.select([sock], [], [], max(0.0, min(next_send, deadline) - time.monotonic()))
        if not ready:
            continue
        data, addr = sock.recvfrom(2048)
        ihl = (data[0] & 0x0F) * 4
        kind, _code, _sum, rid, rseq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
        if kind == 0 and rid == ident and addr[0] == dst and rseq in sent:
            print("%.3f" % ((time.monotonic() - sent[rseq]) * 1000))
            return 0


sys.exit(main())
