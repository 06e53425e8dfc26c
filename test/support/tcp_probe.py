"""One long-lived TCP connection driven from stdin, for connection-tracking tests.

usage: tcp_probe.py HOST PORT
Connects, then for each line on stdin sends it and prints the echoed line, or TIMEOUT when no
answer comes within 1.5 s. The peer is expected to echo lines back (echo mode of tcp_echo).
"""
import socket
import sys

# A first SYN can go unanswered on a loaded machine (its retransmission comes 1 s later, then 3 s).
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
sock.settimeout(1.5)
print("CONNECTED", flush=True)
for line in sys.stdin:
    try:
        sock.sendall(line.encode())
        print(sock.recv(1024).decode().strip() or "CLOSED", flush=True)
    except (socket.timeout, OSError):
        print("TIMEOUT", flush=True)
