#!/usr/bin/env python3
"""Plain-TCP probes of an emulated WAN link (integration/wan/).

  tcpcheck.py serve HOST PORT        # on the provider: answers both probes below
  tcpcheck.py rtt HOST PORT [N]      # round trip of 1 byte, N times: prints "min median" in ms
  tcpcheck.py rate HOST PORT BYTES   # the server sends BYTES: prints "MB/s seconds" (MB = 10^6 bytes)

The rate is timed from the first byte received to the end of the stream (the
set-up round trip is not counted); `serve` runs until killed.
"""
import socket
import statistics
import struct
import sys
import threading
import time


def handle(c):
    with c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = c.recv(1)
        if kind == b"p":  # ping: echo single bytes until EOF
            while (b := c.recv(1)):
                c.sendall(b)
        elif kind == b"s":  # send N bytes
            hdr = b""
            while len(hdr) < 8:
                more = c.recv(8 - len(hdr))
                if not more:
                    return
                hdr += more
            (n,) = struct.unpack("!Q", hdr)
            buf = memoryview(bytes(1 << 20))
            while n > 0:
                k = min(n, len(buf))
                c.sendall(buf[:k])
                n -= k
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass


def serve(host, port):
    s = socket.create_server((host, port), reuse_port=False)
    print("listening", file=sys.stderr, flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def rtt(host, port, n):
    c = socket.create_connection((host, port), timeout=30)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(b"p")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.sendall(b"x")
        if c.recv(1) != b"x":
            sys.exit("rtt: connection closed")
        times.append((time.perf_counter() - t) * 1000)
    c.close()
    print(f"{min(times):.1f} {statistics.median(times):.1f}")


def rate(host, port, n):
    c = socket.create_connection((host, port), timeout=120)
    c.sendall(b"s" + struct.pack("!Q", n))
    buf = bytearray(1 << 20)
    got = c.recv_into(buf)
    t0 = time.perf_counter()
    first = got
    while True:
        k = c.recv_into(buf)
        if not k:
            break
        got += k
    t = time.perf_counter() - t0
    c.close()
    if got != n:
        sys.exit(f"rate: got {got} bytes of {n}")
    print(f"{(got - first) / t / 1e6:.2f} {t:.3f}")


if __name__ == "__main__":
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "serve":
        serve(host, port)
    elif cmd == "rtt":
        rtt(host, port, int(sys.argv[4]) if len(sys.argv) > 4 else 10)
    elif cmd == "rate":
        rate(host, port, int(sys.argv[4]))
    else:
        sys.exit(__doc__)
