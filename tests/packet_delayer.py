"""Delay, reorder and drop packets the kernel queues to userspace (an NFQUEUE), as
``tc netem delay D J loss L%`` would: what tests/network_faults.py uses on kernels built
without sch_netem.

The kernel holds every packet that an ``-j NFQUEUE --queue-num N`` rule sends to queue
N until a program gives its verdict. This one is that program: it accepts each packet
after D +- J milliseconds (uniformly drawn; packets drawn shorter overtake those before
them, as netem's jitter reorders them) and drops L% of them. Packets carry only their
metadata to userspace (NFQNL_COPY_META), never their payload.

Run inside the namespace whose rules queue the packets (a queue belongs to its network
namespace): ``ip netns exec NS python tests/packet_delayer.py QUEUE DELAY_MS JITTER_MS
LOSS_PERCENT``. It prints "bound" once it holds the queue, and runs until killed; the
rule's ``--queue-bypass`` lets packets through once it is gone.

The protocol is nfnetlink_queue's (linux/netfilter/nfnetlink_queue.h), on a raw netlink
socket: no library needed.
"""

from __future__ import annotations

import heapq
import random
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2


def _attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _message(kind: int, queue: int, attributes: bytes) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attributes
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind,
                       NLM_F_REQUEST, 0, 0) + body  # fmt: skip


def _packet_ids(data: bytes) -> list[int]:
    """The ids of the queued packets in one read of the socket."""
    ids, offset = [], 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            position = offset + 20  # past nlmsghdr and nfgenmsg
            while position + 4 <= offset + length:
                attribute_length, attribute_kind = struct.unpack_from("=HH", data, position)
                if attribute_length < 4:
                    break
                if attribute_kind & 0x7FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, position + 4)[0])
                position += (attribute_length + 3) & ~3
        elif kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, offset + 16)
            if error:
                raise OSError(-error, f"nfnetlink_queue refused a request ({error})")
        offset += (length + 3) & ~3
    return ids


def main(queue: int, delay_ms: float, jitter_ms: float, loss_percent: float) -> None:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((0, 0))
    command = struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET)
    sock.send(_message(NFQNL_MSG_CONFIG, queue, _attribute(NFQA_CFG_CMD, command)))
    params = struct.pack("!IB", 0, NFQNL_COPY_META)
    sock.send(_message(NFQNL_MSG_CONFIG, queue, _attribute(NFQA_CFG_PARAMS, params)))
    print("bound", flush=True)
    due: list[tuple[float, int, int]] = []  # (when, packet id, verdict)
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            now = time.monotonic()
            for packet_id in _packet_ids(sock.recv(1 << 16)):
                verdict = NF_DROP if random.random() * 100 < loss_percent else NF_ACCEPT
                delay = max(0.0, delay_ms + random.uniform(-jitter_ms, jitter_ms)) / 1000
                heapq.heappush(due, (now + delay, packet_id, verdict))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, packet_id, verdict = heapq.heappop(due)
            header = struct.pack("!II", verdict, packet_id)
            sock.send(_message(NFQNL_MSG_VERDICT, queue, _attribute(NFQA_VERDICT_HDR, header)))


if __name__ == "__main__":
    queue, delay, jitter, loss = sys.argv[1:5]
    main(int(queue), float(delay), float(jitter), float(loss))
