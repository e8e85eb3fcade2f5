/*
 * loadgen: a WebSocket load generator for the TokenTalker protocol (specs 000/002).
 *
 * One thread, one epoll loop, no dependencies: it should never be what limits a run
 * (bench/README.md shows its ceiling against a server that does nothing but relay).
 * Every mode prints one JSON object on stdout, its last line (fanout first prints
 * {"ready":true,...} once its clients are connected, when the timed run begins).
 *
 *   loadgen fanout  HOST PORTS RECEIVERS SENDERS RATE WINDOW SECONDS TOKENFILE
 *       RECEIVERS clients listen; SENDERS clients authenticate with the tokens in
 *       TOKENFILE (one per line) and send chat messages: RATE messages/s in all
 *       (0 = as fast as the WINDOW allows), at most WINDOW messages in flight (sent but
 *       not yet received by every receiver). Each message carries its send time, so
 *       every delivery gives a latency sample.
 *   loadgen idle    HOST PORTS CONNECTIONS HOLD_SECONDS
 *       Open CONNECTIONS WebSockets, report how fast, hold them HOLD_SECONDS (or until
 *       stdin closes), then close them.
 *   loadgen history HOST PORTS SECONDS TOKENFILE COUNT
 *       One authenticated client asks "history COUNT" in a closed loop and waits for
 *       COUNT frames each time.
 *   loadgen rooms   HOST PORTS ROOMS MEMBERS RATE WINDOW SECONDS TOKENFILE ROOMFILE
 *       The room protocol on /ws: ROOMS x MEMBERS connections, connection i with token
 *       i of TOKENFILE, entering room i / MEMBERS (the ROOMS room ids are ROOMFILE's
 *       lines). The first connection of each room sends its messages: RATE messages/s
 *       in all, round-robin across the rooms, at most WINDOW in flight (sent but not
 *       yet received by every connection in the room, the sender's own copy included).
 *       Activity frames (for a user's other rooms) are counted apart from messages.
 *   loadgen storm   HOST A,B ROOMS MEMBERS RATE SECONDS TOKENFILE ROOMFILE RECONNECT BASE_ID
 *       A reconnection storm (bench/reconnect_storm.py): ROOMS x MEMBERS clients of the
 *       room protocol on port A (client i with token i, in room i / MEMBERS), one sender
 *       per room on port B (its first member's token) sending RATE messages/s in all.
 *       A client whose connection is cut reconnects to port A (RECONNECT 0) or B (1)
 *       after a jittered back-off and resumes with SinceID = the last MessageID it saw
 *       (BASE_ID, the newest before the run, if none), then sends "ping": its "pong"
 *       follows the backlog, and from then on it is live again. Reports the time until
 *       every cut client is live, each client's time from its cut to live, refused
 *       attempts and errors, and per client its messages' count and hash.
 *   loadgen crowd   HOST PORTS CONNECTIONS DIALECT TOKENFILE ROOM FIRST
 *       CONNECTIONS clients numbered from FIRST (one process holds only so many sockets:
 *       a crowd larger than that is several load generators, each given its own range),
 *       each from a source address of its own in 127.0.0.0/8 (client n binds 127.0.0.2
 *       + n, so the 4-tuples towards one server port never run out), each
 *       authenticated with a token of TOKENFILE (client n: line n % lines) and in one
 *       room: DIALECT "rooms" connects to /ws?token=... and enters ROOM (with
 *       "Presence": false: spec 004's frames only); "tokentalker" connects to / and
 *       sends "auth <token>" (everyone there hears the lobby; ROOM is ignored). Prints
 *       {"ready":true,...} with the connect rate once all are in, then obeys lines on
 *       stdin, holding the connections meanwhile (EOF ends the run):
 *         "send K": client 0 (the process whose range starts at 0) sends message K,
 *           carrying its send time (CLOCK_MONOTONIC: one clock for every process on
 *           the machine, so any of them can time a delivery);
 *         "report N": prints the latency of every delivery of messages 0..N-1 here,
 *           and how many of them did not arrive ("lost").
 *       Each message K that has reached every client of this process (rooms: all of
 *       them, the sender's own copy included; tokentalker: all but the sender) is
 *       announced with {"done":K,"ms":...}: the time from its sending to its last
 *       arrival here. The runner sends the next message once every process said done.
 *
 * PORTS is one port, or several separated by commas ("9001,9002": the instances of a
 * cluster, one chat). Connections are spread round-robin: receiver i goes to port
 * i % n, sender j to port j % n (idle: connection i to port i % n; history: the first
 * port). With several ports, fanout's JSON also reports the deliveries that crossed
 * from one port to another ("cross_port_deliveries") and their latency.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, since Linux 4.2 */
#endif

enum role { RECEIVER, SENDER, HISTORY, IDLE, MEMBER, CROWD };
enum state { CONNECTING, HANDSHAKING, OPEN, CLOSED };

typedef struct {
    int fd;
    int port;           /* index into ports[] */
    enum role role;
    enum state state;
    int index;          /* sender number, for senders */
    int authed;         /* senders/history: got the "authorized" system frame */
    unsigned char *in;  /* bytes read, not yet parsed */
    size_t in_len, in_cap;
    unsigned char *out; /* bytes to write */
    size_t out_len, out_cap;
    long frames;        /* frames received */
    long activity;      /* rooms: activity frames received */
    int retry_after_s;  /* storm: the Retry-After of a 503 that turned the upgrade away */
} conn_t;

#define MAX_PORTS 64
/* The address of each port's server (one for all, or one per port: boxes in network
 * namespaces of their own each have an address of their own). */
static const char *hosts[MAX_PORTS];
static int ports[MAX_PORTS];
static int nports;
static int epfd;
static conn_t *conns;
static int nconns;
static char **paths; /* rooms, crowd: connection i's path is paths[i % npaths]; else NULL */
static int npaths;
/* Bytes read per recv. Fanout's receivers read many frames at once; crowd's 100,000
 * connections each get a few small ones, and a buffer this size each would not fit. */
static size_t read_chunk = 262144;
static int spread_sources; /* crowd: bind client n to 127.0.0.2 + n before connect */
static long crowd_first;   /* crowd: the number of this process's first client */
static void (*on_open)(conn_t *c); /* crowd: called once a connection's upgrade is done */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void grow(unsigned char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need) cap2 *= 2;
    *buf = realloc(*buf, cap2);
    if (!*buf) die("out of memory");
    *cap = cap2;
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void watch(conn_t *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

static void start_connect(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (spread_sources) {
        /* Each connection from an address of its own: one source address has only the
         * ephemeral port range (about 28,000) towards one server port. The port is
         * picked at connect, for the whole 4-tuple (IP_BIND_ADDRESS_NO_PORT). */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl((127u << 24) + 2u + (uint32_t)(crowd_first + (c - conns)));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind: %s", strerror(errno));
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ports[c->port])};
    if (inet_pton(AF_INET, hosts[c->port], &sa.sin_addr) != 1) die("bad address %s", hosts[c->port]);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add: %s", strerror(errno));
}

static void queue(conn_t *c, const void *data, size_t len) {
    grow(&c->out, &c->out_cap, c->out_len + len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* A client-to-server text frame. Clients must mask; a zero key leaves the payload as is. */
static void queue_text(conn_t *c, const char *text, size_t len) {
    unsigned char head[14];
    size_t n = 0;
    head[n++] = 0x81;
    if (len < 126) {
        head[n++] = 0x80 | (unsigned char)len;
    } else if (len < 65536) {
        head[n++] = 0x80 | 126;
        head[n++] = (unsigned char)(len >> 8);
        head[n++] = (unsigned char)len;
    } else {
        head[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) head[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memset(head + n, 0, 4);
    n += 4;
    queue(c, head, n);
    queue(c, text, len);
}

static void queue_chat(conn_t *c, const char *message) {
    char frame[1024];
    int len = snprintf(frame, sizeof frame, "{\"name\":\"bench\",\"message\":\"%s\"}", message);
    queue_text(c, frame, (size_t)len);
}

/* Write what is queued; returns -1 if the connection broke. */
static int flush(conn_t *c) {
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                watch(c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    watch(c, EPOLLIN);
    return 0;
}

static void send_handshake(conn_t *c, const char *path) {
    char req[4608];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       path, hosts[c->port], ports[c->port]);
    queue(c, req, (size_t)len);
    c->state = HANDSHAKING;
}

/* --- what the modes do with frames --- */

typedef struct {
    int64_t *us;
    size_t n, cap;
} samples_t;

static samples_t latency;       /* one sample per delivery */
static samples_t cross_latency; /* with several ports: deliveries from another port */
static uint16_t **receipts;  /* receipts[sender][seq]: receivers that got it */
static int64_t **sent_at;    /* sent_at[sender][seq] */
static long *next_seq;
static long max_seq;
static int n_receivers, n_senders;
static long inflight, sent_total, completed, deliveries, deliveries_in_window, duplicates, stray;
static long cross_deliveries;
static int sending = 0;
static int64_t history_sent_at;
static long history_waiting;
static int history_count;
static long activity_frames, activity_mentions, misrouted; /* rooms */
static long crowd_ready;         /* crowd: connections authenticated and in their room */
static int crowd_rooms;          /* crowd: the dialect is the room protocol */
static long crowd_expected;      /* crowd: deliveries of each message due here */
#define CROWD_MAX_MESSAGES 1000
static long crowd_received[CROWD_MAX_MESSAGES]; /* crowd: deliveries of message K here */

static void record(samples_t *s, int64_t us) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 20;
        s->us = realloc(s->us, s->cap * sizeof *s->us);
        if (!s->us) die("out of memory");
    }
    s->us[s->n++] = us;
}

/* A message's arrival at a receiver: message `seq` of sender (rooms: room) `source`.
 * Returns its latency in microseconds, or -1 if it was one arrival too many. */
static int64_t count_delivery(long source, long seq, int64_t t) {
    uint16_t *count = &receipts[source][seq];
    if (*count >= n_receivers) {
        duplicates++;
        return -1;
    }
    deliveries++;
    if (sending) deliveries_in_window++;
    int64_t us = (t - sent_at[source][seq]) / 1000;
    record(&latency, us);
    if (++*count == n_receivers) {
        inflight--;
        completed++;
    }
    return us;
}

/* Whether the frame holds the literal `s`. */
#define HAS(p, len, s) memmem((p), (len), (s), sizeof(s) - 1)

/* rooms: a frame to a member connection ("index" is its room). Before "entered" only
 * that (or an error) is expected; then activity frames are counted, and message frames
 * ("Text":"B <room> <seq>") are deliveries; presence frames and the like are stray. */
static void on_member_text(conn_t *c, const unsigned char *p, size_t len, int64_t t) {
    if (!c->authed) {
        if (HAS(p, len, "\"Type\":\"entered\"")) c->authed = 1;
        else if (HAS(p, len, "\"Type\":\"error\"")) die("enter failed: %.*s", (int)len, p);
        return;
    }
    if (HAS(p, len, "\"Type\":\"activity\"")) {
        activity_frames++;
        c->activity++;
        if (HAS(p, len, "\"Mention\":true")) activity_mentions++;
        return;
    }
    const unsigned char *m = HAS(p, len, "\"Text\":\"B ");
    if (!m || !HAS(p, len, "\"Type\":\"message\"")) {
        stray++;
        return;
    }
    char *end;
    long room = strtol((const char *)m + 10, &end, 10);
    long seq = strtol(end + 1, &end, 10);
    if (room < 0 || room >= n_senders || seq < 0 || seq >= max_seq) {
        stray++;
        return;
    }
    if (room != c->index) { /* a message of a room this connection is not in */
        misrouted++;
        return;
    }
    count_delivery(room, seq, t);
}

/* crowd: until "entered" (rooms) or "authorized as" (tokentalker), only that or an
 * error; then a timed message ("B 0 <K> <sent_ns>") counts as a delivery of K,
 * anything else is stray. */
static void on_crowd_text(conn_t *c, const unsigned char *p, size_t len, int64_t t) {
    if (!c->authed) {
        if (crowd_rooms ? HAS(p, len, "\"Type\":\"entered\"") != NULL
                        : HAS(p, len, "authorized as") != NULL) {
            c->authed = 1;
            crowd_ready++;
        } else if (HAS(p, len, "\"error\"") || HAS(p, len, "\"Type\":\"error\"")) {
            die("connection %ld not let in: %.*s", crowd_first + (long)(c - conns), (int)len, p);
        }
        return;
    }
    const unsigned char *m = crowd_rooms ? HAS(p, len, "\"Text\":\"B 0 ")
                                         : HAS(p, len, "\"B 0 ");
    if (!m) {
        stray++;
        return;
    }
    m = memmem(m, (size_t)(p + len - m), "B 0 ", 4);
    char *end;
    long k = strtol((const char *)m + 4, &end, 10);
    long long sent = strtoll(end, NULL, 10);
    if (k < 0 || k >= CROWD_MAX_MESSAGES || sent <= 0 || crowd_received[k] >= crowd_expected) {
        stray++;
        return;
    }
    record(&latency, (t - sent) / 1000);
    if (++crowd_received[k] == crowd_expected) {
        printf("{\"done\":%ld,\"ms\":%.1f}\n", k, (double)(t - sent) / 1e6);
        fflush(stdout);
    }
}

static void on_text(conn_t *c, const unsigned char *p, size_t len) {
    int64_t t = now_ns();
    c->frames++;
    if (c->role == MEMBER) {
        on_member_text(c, p, len, t);
        return;
    }
    if (c->role == CROWD) {
        on_crowd_text(c, p, len, t);
        return;
    }
    if (c->role == SENDER || c->role == HISTORY) {
        if (!c->authed) {
            if (memmem(p, len, "authorized as", 13)) c->authed = 1;
            else if (memmem(p, len, "\"error\"", 7)) die("auth failed: %.*s", (int)len, p);
            return;
        }
        if (c->role == HISTORY && history_waiting > 0) {
            if (--history_waiting == 0) record(&latency, (t - history_sent_at) / 1000);
        }
        return; /* senders also hear each other; those frames are read and dropped */
    }
    if (c->role != RECEIVER) return;
    /* "message":"B <sender> <seq>", with or without a space after the colon */
    const unsigned char *m = memmem(p, len, "\"message\":", 10);
    if (m) {
        m += 10;
        while (m < p + len && *m == ' ') m++;
    }
    if (!m || p + len - m < 3 || memcmp(m, "\"B ", 3) != 0) {
        stray++;
        return;
    }
    char *end;
    long sender = strtol((const char *)m + 3, &end, 10);
    long seq = strtol(end + 1, &end, 10);
    if (sender < 0 || sender >= n_senders || seq < 0 || seq >= max_seq) {
        stray++;
        return;
    }
    int64_t us = count_delivery(sender, seq, t);
    if (us >= 0 && conns[n_receivers + sender].port != c->port) { /* crossed instances */
        cross_deliveries++;
        record(&cross_latency, us);
    }
}

/* What a text frame goes to: on_text, or the storm's own handler. */
static void (*text_handler)(conn_t *, const unsigned char *, size_t) = on_text;

/* Parse complete frames from c->in. Returns -1 if the server closed. */
static int parse_frames(conn_t *c) {
    size_t off = 0;
    int closed = 0;
    while (c->in_len - off >= 2) {
        unsigned char *p = c->in + off;
        int opcode = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t hdr = 2;
        if (len == 126) {
            if (c->in_len - off < 4) break;
            len = ((uint64_t)p[2] << 8) | p[3];
            hdr = 4;
        } else if (len == 127) {
            if (c->in_len - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
            hdr = 10;
        }
        if (p[1] & 0x80) hdr += 4; /* servers do not mask, but be safe */
        if (c->in_len - off < hdr + len) break;
        const unsigned char *payload = p + hdr;
        if (opcode == 1 || opcode == 0) {
            text_handler(c, payload, (size_t)len);
        } else if (opcode == 8) {
            closed = 1;
        } else if (opcode == 9 && len <= 125) { /* ping: answer pong, same payload */
            /* The payload goes back as it came (RFC 6455 5.5.3): the peer's keepalive
             * (websockets: a ping every 20 s) takes only a pong that echoes it. Masked
             * with a zero key, so the bytes are the payload's own. */
            unsigned char pong[6 + 125] = {0x8a, (unsigned char)(0x80 | len), 0, 0, 0, 0};
            memcpy(pong + 6, payload, (size_t)len);
            queue(c, pong, 6 + (size_t)len);
        }
        off += hdr + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return closed ? -1 : 0;
}

static long handshaken;

/* Read everything available. Returns -1 when the connection is gone. */
static int on_readable(conn_t *c) {
    for (;;) {
        grow(&c->in, &c->in_cap, c->in_len + read_chunk);
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0) {
            if (errno == EAGAIN) return 0;
            return -1;
        }
        if (n == 0) return -1;
        c->in_len += (size_t)n;
        if (c->state == HANDSHAKING) {
            unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
            if (!end) continue;
            if (memcmp(c->in, "HTTP/1.1 101", 12) != 0)
                die("upgrade refused: %.*s", (int)(end - c->in), c->in);
            size_t head = (size_t)(end - c->in) + 4;
            memmove(c->in, c->in + head, c->in_len - head);
            c->in_len -= head;
            c->state = OPEN;
            handshaken++;
            if (on_open) on_open(c);
        }
        if (parse_frames(c) < 0) return -1;
        if ((size_t)n < read_chunk) return 0;
    }
}

static int64_t idle_ns; /* time spent in polls that returned no events */
static long receivers_closed; /* counted here, not found by scanning every connection */

static void close_conn(conn_t *c) {
    c->state = CLOSED;
    close(c->fd);
    if (c->role == RECEIVER || c->role == MEMBER) receivers_closed++;
}

static void poll_once(int timeout_ms, const char *path) {
    struct epoll_event events[512];
    int64_t before = now_ns();
    int n = epoll_wait(epfd, events, 512, timeout_ms);
    if (n == 0) idle_ns += now_ns() - before;
    for (int i = 0; i < n; i++) {
        conn_t *c = events[i].data.ptr;
        if (c->state == CLOSED) continue;
        if (c->state == CONNECTING && (events[i].events & (EPOLLOUT | EPOLLERR))) {
            int err = 0;
            socklen_t l = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err) die("connect failed: %s", strerror(err));
            send_handshake(c, paths ? paths[(crowd_first + (c - conns)) % npaths] : path);
        }
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            if (on_readable(c) < 0) {
                close_conn(c);
                continue;
            }
        }
        if (c->out_len && flush(c) < 0) close_conn(c);
    }
}

/* Open `count` connections. Connection i goes to port i % nports, except that those
 * from `restart` on start again from the first port (fanout: the senders). */
static void setup(int count, const char *path, int concurrency, int restart) {
    epfd = epoll_create1(0);
    conns = calloc((size_t)count, sizeof *conns);
    nconns = count;
    for (int i = 0; i < count; i++) conns[i].port = (i < restart ? i : i - restart) % nports;
    int started = 0;
    while (handshaken < count) {
        while (started < count && started - handshaken < concurrency) start_connect(&conns[started++]);
        poll_once(100, path);
        /* Every connection is a RECEIVER (0) until its mode gives it a role, so the
         * counter sees each close: a scan of all of them per poll would cost more than
         * the polls themselves at 100,000. */
        if (receivers_closed) die("%ld connection(s) closed during set-up", receivers_closed);
    }
}

static char **read_tokens(const char *file, int need) {
    FILE *f = fopen(file, "r");
    if (!f) die("cannot open %s", file);
    char **tokens = calloc((size_t)need, sizeof *tokens);
    char line[4096];
    for (int i = 0; i < need; i++) {
        if (!fgets(line, sizeof line, f)) die("%s has fewer than %d tokens", file, need);
        line[strcspn(line, "\r\n")] = 0;
        tokens[i] = strdup(line);
    }
    fclose(f);
    return tokens;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t percentile(const samples_t *s, double p) {
    if (s->n == 0) return -1;
    size_t i = (size_t)(p * (double)(s->n - 1));
    return s->us[i];
}

static void sort_samples(samples_t *s) {
    qsort(s->us, s->n, sizeof *s->us, cmp64);
}

static void authenticate(int first, int count, char **tokens) {
    for (int i = 0; i < count; i++) {
        char msg[4200];
        snprintf(msg, sizeof msg, "auth %s", tokens[i]);
        queue_chat(&conns[first + i], msg);
        flush(&conns[first + i]);
    }
    for (;;) {
        int done = 1;
        for (int i = 0; i < count; i++) done &= conns[first + i].authed;
        if (done) return;
        poll_once(100, "/");
    }
}

/* The timed run of fanout and rooms: n_senders sources (fanout's senders, or rooms)
 * send RATE messages/s in all, round-robin (0: as fast as the WINDOW allows), message
 * `seq` of source `s` queued on `sender(s)` by `queue_message`; then wait up to 3 s for
 * the last to arrive. Returns the seconds it took. */
static double timed_run(double rate, long window, double seconds, const char *path,
                        conn_t *(*sender)(int), void (*queue_message)(conn_t *, int, long)) {
    /* Room for every message a source could send, at the rate or a generous maximum. */
    max_seq = (long)((rate > 0 ? rate : 2000000.0) * seconds / n_senders) + 1024;
    receipts = calloc((size_t)n_senders, sizeof *receipts);
    sent_at = calloc((size_t)n_senders, sizeof *sent_at);
    next_seq = calloc((size_t)n_senders, sizeof *next_seq);
    for (int s = 0; s < n_senders; s++) {
        receipts[s] = calloc((size_t)max_seq, sizeof **receipts);
        sent_at[s] = calloc((size_t)max_seq, sizeof **sent_at);
    }

    /* Everyone is connected (and authenticated, or in their rooms): say so before the
     * first message, so that the runner can leave what connecting cost the server out
     * of its per-delivery CPU (10,000 handshakes outweigh a short run's deliveries).
     * Only the run is timed. */
    printf("{\"ready\":true,\"connections\":%d}\n", nconns);
    fflush(stdout);
    idle_ns = 0;
    int64_t start = now_ns(), stop = start + (int64_t)(seconds * 1e9);
    int turn = 0;
    sending = 1;
    for (;;) {
        int64_t t = now_ns();
        if (sending && t >= stop) sending = 0;
        if (!sending && (inflight == 0 || t >= stop + 3000000000LL)) break;
        if (sending) {
            long allowed = window - inflight;
            if (rate > 0) {
                long due = (long)((double)(t - start) / 1e9 * rate) - sent_total;
                if (due < allowed) allowed = due;
            }
            for (; allowed > 0; allowed--) {
                int s = turn;
                turn = (turn + 1) % n_senders;
                if (next_seq[s] >= max_seq) continue;
                long seq = next_seq[s]++;
                sent_at[s][seq] = now_ns();
                queue_message(sender(s), s, seq);
                inflight++;
                sent_total++;
            }
            for (int s = 0; s < n_senders; s++) {
                conn_t *c = sender(s);
                if (c->out_len && flush(c) < 0) die("sender %d lost its connection", s);
            }
        }
        /* At full rate, spin: react to a freed window slot at once (a blocking wait
         * adds a wake-up delay the peer measurably suffers from). Time spent in polls
         * that found nothing is counted as idle, so "busy" stays meaningful. */
        poll_once(rate > 0 ? 1 : 0, path);
        /* A counter, not a scan: with 10,000 receivers, scanning them after every poll
         * cost more than reading their frames. */
        if (receivers_closed) die("%ld receiver(s) were disconnected", receivers_closed);
    }
    return (double)(now_ns() - start) / 1e9;
}

static conn_t *fanout_sender(int s) { return &conns[n_receivers + s]; }

static void fanout_queue(conn_t *c, int s, long seq) {
    char msg[64];
    snprintf(msg, sizeof msg, "B %d %ld", s, seq);
    queue_chat(c, msg);
}

/* rooms: the first connection of each room sends its messages; with a THREADFILE, as
 * replies in the thread of the room's line of it (a root message's id). */
static conn_t *room_sender(int room) { return &conns[room * n_receivers]; }
static char **thread_ids;

static void room_queue(conn_t *c, int room, long seq) {
    char msg[160];
    int len = thread_ids
        ? snprintf(msg, sizeof msg, "{\"Type\":\"message\",\"Text\":\"B %d %ld\",\"ThreadID\":%s}",
                   room, seq, thread_ids[room])
        : snprintf(msg, sizeof msg, "{\"Type\":\"message\",\"Text\":\"B %d %ld\"}", room, seq);
    queue_text(c, msg, (size_t)len);
}

static int mode_fanout(int argc, char **argv) {
    if (argc != 10) die("usage: fanout HOST PORTS RECEIVERS SENDERS RATE WINDOW SECONDS TOKENFILE");
    n_receivers = atoi(argv[4]);
    n_senders = atoi(argv[5]);
    double rate = atof(argv[6]);
    long window = atol(argv[7]);
    double seconds = atof(argv[8]);
    char **tokens = read_tokens(argv[9], n_senders);

    int64_t t0 = now_ns();
    setup(n_receivers + n_senders, "/", 256, n_receivers);
    double connect_s = (double)(now_ns() - t0) / 1e9;
    for (int i = 0; i < n_receivers; i++) conns[i].role = RECEIVER;
    for (int i = 0; i < n_senders; i++) {
        conns[n_receivers + i].role = SENDER;
        conns[n_receivers + i].index = i;
    }
    authenticate(n_receivers, n_senders, tokens);

    double elapsed = timed_run(rate, window, seconds, "/", fanout_sender, fanout_queue);
    sort_samples(&latency);
    sort_samples(&cross_latency);
    long expected = sent_total * n_receivers;
    printf("{\"mode\":\"fanout\",\"receivers\":%d,\"senders\":%d,\"rate\":%g,\"window\":%ld,"
           "\"seconds\":%g,\"connect_seconds\":%.3f,\"sent\":%ld,\"completed\":%ld,"
           "\"offered_msgs_per_s\":%.1f,\"achieved_msgs_per_s\":%.1f,"
           "\"deliveries\":%ld,\"deliveries_per_s\":%.1f,\"lost\":%ld,\"duplicates\":%ld,"
           "\"stray\":%ld,\"elapsed\":%.3f,\"busy\":%.3f,"
           "\"latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld}",
           n_receivers, n_senders, rate, window, seconds, connect_s, sent_total, completed,
           sent_total / seconds, completed / seconds, deliveries, deliveries_in_window / seconds,
           expected - deliveries, duplicates, stray, elapsed,
           1.0 - (double)idle_ns / 1e9 / elapsed, (long long)percentile(&latency, 0.50),
           (long long)percentile(&latency, 0.90), (long long)percentile(&latency, 0.99),
           (long long)percentile(&latency, 1.0));
    if (nports > 1)
        printf(",\"ports\":%d,\"cross_port_deliveries\":%ld,"
               "\"cross_port_latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld}",
               nports, cross_deliveries, (long long)percentile(&cross_latency, 0.50),
               (long long)percentile(&cross_latency, 0.90),
               (long long)percentile(&cross_latency, 0.99),
               (long long)percentile(&cross_latency, 1.0));
    printf("}\n");
    return 0;
}

/* idle, crowd: keep the connections (reading, answering pings) until a line arrives on
 * stdin (returns 1), stdin closes or the time `until` (CLOCK_MONOTONIC ns) comes (0).
 * A receiver or crowd connection closing ends the run (stdin must be non-blocking). */
static int hold(int64_t until) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
    int line = -1;
    while (line < 0) {
        if (now_ns() >= until) line = 0;
        struct epoll_event events[512];
        int n = epoll_wait(epfd, events, 512, 100);
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c == NULL) {
                char buf[64];
                ssize_t got = read(0, buf, sizeof buf);
                if (got >= 0) line = got > 0;
                continue;
            }
            if (c->state != CLOSED && on_readable(c) < 0) close_conn(c);
            if (c->state != CLOSED && c->out_len) flush(c);
        }
        if (receivers_closed) die("%ld connection(s) closed while held", receivers_closed);
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
    return line;
}

static int mode_idle(int argc, char **argv) {
    if (argc != 6) die("usage: idle HOST PORTS CONNECTIONS HOLD_SECONDS");
    int count = atoi(argv[4]);
    double hold_s = atof(argv[5]);
    int64_t t0 = now_ns();
    setup(count, "/", 256, count);
    double took = (double)(now_ns() - t0) / 1e9;
    for (int i = 0; i < count; i++) conns[i].role = IDLE;
    printf("{\"mode\":\"idle\",\"connections\":%d,\"connect_seconds\":%.3f,"
           "\"connects_per_s\":%.1f}\n", count, took, count / took);
    fflush(stdout);
    /* Hold: keep answering pings and reading frames until HOLD or stdin closes. */
    fcntl(0, F_SETFL, O_NONBLOCK);
    hold(now_ns() + (int64_t)(hold_s * 1e9));
    int alive = 0;
    for (int i = 0; i < count; i++) alive += conns[i].state == OPEN;
    fprintf(stderr, "loadgen: %d of %d connections still open at the end\n", alive, count);
    return 0;
}

static int mode_history(int argc, char **argv) {
    if (argc != 7) die("usage: history HOST PORTS SECONDS TOKENFILE COUNT");
    double seconds = atof(argv[4]);
    char **tokens = read_tokens(argv[5], 1);
    history_count = atoi(argv[6]);
    setup(1, "/", 1, 1);
    conn_t *c = &conns[0];
    c->role = HISTORY;
    authenticate(0, 1, tokens);
    char ask[32];
    snprintf(ask, sizeof ask, "history %d", history_count);
    int64_t stop = now_ns() + (int64_t)(seconds * 1e9);
    long asked = 0;
    while (now_ns() < stop) {
        history_waiting = history_count;
        history_sent_at = now_ns();
        queue_chat(c, ask);
        flush(c);
        asked++;
        while (history_waiting > 0) {
            poll_once(1000, "/");
            if (c->state == CLOSED) die("history client disconnected");
        }
    }
    sort_samples(&latency);
    printf("{\"mode\":\"history\",\"count\":%d,\"requests\":%ld,\"requests_per_s\":%.1f,"
           "\"latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld}}\n",
           history_count, asked, asked / seconds, (long long)percentile(&latency, 0.50),
           (long long)percentile(&latency, 0.90), (long long)percentile(&latency, 0.99),
           (long long)percentile(&latency, 1.0));
    return 0;
}

/* rooms, crowd: the room protocol's path for each token, "/ws?token=..." (connection i
 * uses the (i % n)th). */
static void ws_paths(char **tokens, int n) {
    paths = calloc((size_t)n, sizeof *paths);
    npaths = n;
    for (int i = 0; i < n; i++) {
        size_t size = strlen(tokens[i]) + 16;
        paths[i] = malloc(size);
        snprintf(paths[i], size, "/ws?token=%s", tokens[i]);
    }
}

static int mode_rooms(int argc, char **argv) {
    if (argc != 11 && argc != 12)
        die("usage: rooms HOST PORTS ROOMS MEMBERS RATE WINDOW SECONDS TOKENFILE ROOMFILE "
            "[THREADFILE]");
    int rooms = atoi(argv[4]), members = atoi(argv[5]);
    double rate = atof(argv[6]);
    long window = atol(argv[7]);
    double seconds = atof(argv[8]);
    if (rooms < 1 || members < 1 || members > 65535) die("bad ROOMS or MEMBERS");
    int count = rooms * members;
    char **tokens = read_tokens(argv[9], count);
    char **room_ids = read_tokens(argv[10], rooms);
    if (argc == 12) thread_ids = read_tokens(argv[11], rooms);
    /* The message counters are fanout's, with a room where fanout has a sender. */
    n_senders = rooms;
    n_receivers = members;

    ws_paths(tokens, count);
    int64_t t0 = now_ns();
    /* setup() numbers connections from 0, so it cannot know the roles yet: nothing
     * but the handshake's answer arrives before "enter" is sent. */
    setup(count, "/ws", 256, count);
    double connect_s = (double)(now_ns() - t0) / 1e9;
    for (int i = 0; i < count; i++) {
        conn_t *c = &conns[i];
        c->role = MEMBER;
        c->index = i / members;
        char enter[128];
        int len = snprintf(enter, sizeof enter, "{\"Type\":\"enter\",\"RoomID\":%s}",
                           room_ids[c->index]);
        queue_text(c, enter, (size_t)len);
        if (flush(c) < 0) die("connection %d lost before entering", i);
    }
    for (int entered = 0; entered < count;) {
        poll_once(100, "/ws");
        if (receivers_closed) die("%ld connection(s) closed while entering", receivers_closed);
        entered = 0;
        for (int i = 0; i < count; i++) entered += conns[i].authed;
    }
    /* Let the rooms' presence frames (coalesced over 0.25 s) arrive before timing. */
    for (int64_t settle = now_ns() + 1000000000LL; now_ns() < settle;) poll_once(10, "/ws");
    double enter_s = (double)(now_ns() - t0) / 1e9 - connect_s;

    long stray_before = stray;
    double elapsed = timed_run(rate, window, seconds, "/ws", room_sender, room_queue);
    double busy = 1.0 - (double)idle_ns / 1e9 / elapsed;
    /* Activity held back for the end of its second comes up to 1 s after the last
     * message: wait for it, so that every frame the messages caused is counted. */
    for (int64_t tail = now_ns() + 1200000000LL; now_ns() < tail;) poll_once(10, "/ws");
    int listening = 0; /* connections that heard any activity */
    for (int i = 0; i < count; i++) listening += conns[i].activity > 0;
    sort_samples(&latency);
    long expected = sent_total * members;
    printf("{\"mode\":\"rooms\",\"rooms\":%d,\"members\":%d,\"rate\":%g,\"window\":%ld,"
           "\"seconds\":%g,\"connect_seconds\":%.3f,\"enter_seconds\":%.3f,\"sent\":%ld,"
           "\"completed\":%ld,\"offered_msgs_per_s\":%.1f,\"achieved_msgs_per_s\":%.1f,"
           "\"deliveries\":%ld,\"deliveries_per_s\":%.1f,\"lost\":%ld,\"duplicates\":%ld,"
           "\"misrouted\":%ld,\"stray\":%ld,\"activity_frames\":%ld,"
           "\"activity_frames_per_s\":%.1f,\"activity_mentions\":%ld,"
           "\"connections_with_activity\":%d,\"elapsed\":%.3f,\"busy\":%.3f,"
           "\"latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld}}\n",
           rooms, members, rate, window, seconds, connect_s, enter_s, sent_total, completed,
           sent_total / seconds, completed / seconds, deliveries, deliveries_in_window / seconds,
           expected - deliveries, duplicates, misrouted, stray - stray_before, activity_frames,
           activity_frames / seconds, activity_mentions, listening, elapsed, busy,
           (long long)percentile(&latency, 0.50), (long long)percentile(&latency, 0.90),
           (long long)percentile(&latency, 0.99), (long long)percentile(&latency, 1.0));
    return 0;
}

/* --- storm: a reconnection storm on the room protocol --- */

/* One client of the storm: its connection, and what it saw of its room. */
typedef struct {
    int room;            /* index into the room ids */
    int attempt;         /* reconnection attempts since it was cut off (0: none yet) */
    int live;            /* in its room with its backlog ("pong" after "enter") */
    int entered;         /* "entered" seen on this connection */
    int64_t down_at;     /* when its connection was cut (0: never) */
    int64_t retry_at;    /* when to try again (0: not waiting) */
    int64_t attempt_at;  /* when the current attempt started */
    int64_t live_at;     /* when it was live again after the cut */
    long count;          /* messages of its room received */
    long last_id;        /* the highest MessageID received (its SinceID) */
    uint64_t hash;       /* h = h * 1000003 + id over the ids, in order */
} storm_t;

static storm_t *storm;
static int storm_clients, storm_members;
static char **storm_room_ids;
static int storm_port;             /* the port index clients reconnect to */
static long storm_base;            /* the newest MessageID before the run */
static long storm_refused, storm_errors, storm_timeouts, storm_out_of_order, storm_attempts;
static long storm_deferred;        /* upgrades answered 503 + Retry-After: tried again then */
/* Attempts given up, by how far they got: the TCP connect not yet answered; the upgrade
 * sent, no 101 yet; open (`enter` sent with the 101), no "entered" yet; "entered", the
 * pong after the backlog not yet. */
static long storm_timed_out_at[4];
static long storm_cut, storm_back, storm_dropped;
static long storm_sent;
static samples_t storm_reconnect;  /* ms from the cut to live again, per client */
static unsigned int storm_seed = 27;

#define STORM_ATTEMPT_TIMEOUT_NS 15000000000LL

/* Full jitter: attempt n (0-based) waits uniform(0, min(1 s * 2^n, 8 s)). */
static int64_t storm_backoff(int attempt) {
    int64_t cap = 1000000000LL << (attempt < 3 ? attempt : 3);
    return (int64_t)((double)rand_r(&storm_seed) / RAND_MAX * (double)cap);
}

static void storm_connect(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Spread the clients over 127.0.0.1-64 so that 20,000 connections to two ports
     * never run short of ephemeral ports; the kernel picks the port at connect. */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in local = {.sin_family = AF_INET};
    local.sin_addr.s_addr = htonl(0x7f000001 + (uint32_t)((c - conns) % 64));
    if (bind(c->fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ports[c->port])};
    inet_pton(AF_INET, hosts[c->port], &sa.sin_addr);
    c->state = CONNECTING;
    c->in_len = c->out_len = 0;
    c->authed = 0;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        c->state = CLOSED; /* refused at once: handled as a failed attempt by the caller */
        close(c->fd);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add: %s", strerror(errno));
}

/* A client's connection ended (cut by the kill, refused, failed): schedule the next
 * attempt. Senders (index >= storm_clients) must never lose theirs. */
static void storm_lost(conn_t *c, int failed_attempt) {
    int i = (int)(c - conns);
    if (c->state != CLOSED) {
        c->state = CLOSED;
        close(c->fd);
    }
    if (i >= storm_clients) die("sender %d lost its connection", i - storm_clients);
    storm_t *s = &storm[i];
    int64_t t = now_ns();
    if (!failed_attempt) { /* a live (or entering) connection cut: the storm begins for it */
        if (s->down_at == 0) storm_cut++;
        if (s->down_at == 0 || s->live) s->down_at = t;
        s->live = 0;
        s->attempt = 0;
    }
    s->entered = 0;
    s->retry_at = t + storm_backoff(s->attempt);
    s->attempt++;
    c->port = storm_port;
}

/* Turned away with Retry-After: try again after it, plus up to a second of jitter, with
 * the back-off where it was (the server was busy, not failing). */
static void storm_defer(conn_t *c) {
    int i = (int)(c - conns);
    c->state = CLOSED;
    close(c->fd);
    storm_t *s = &storm[i];
    s->entered = 0;
    s->attempt_at = 0;
    s->retry_at = now_ns() + (int64_t)c->retry_after_s * 1000000000LL +
                  (int64_t)((double)rand_r(&storm_seed) / RAND_MAX * 1e9);
}

static void storm_enter(conn_t *c, int resume) {
    int i = (int)(c - conns);
    const char *room = storm_room_ids[i < storm_clients ? storm[i].room : i - storm_clients];
    char enter[192];
    int len;
    if (resume)
        len = snprintf(enter, sizeof enter,
                       "{\"Type\":\"enter\",\"RoomID\":%s,\"SinceID\":%ld,\"Presence\":false}",
                       room, storm[i].last_id ? storm[i].last_id : storm_base);
    else
        len = snprintf(enter, sizeof enter, "{\"Type\":\"enter\",\"RoomID\":%s,\"Presence\":false}",
                       room);
    queue_text(c, enter, (size_t)len);
    queue_text(c, "ping", 4); /* answered after the backlog: then the client is live */
}

static void storm_text(conn_t *c, const unsigned char *p, size_t len) {
    int i = (int)(c - conns);
    if (i >= storm_clients) { /* a sender: its own messages come back; errors must not */
        if (HAS(p, len, "\"Type\":\"error\"")) die("sender error: %.*s", (int)len, p);
        return;
    }
    storm_t *s = &storm[i];
    if (len == 4 && memcmp(p, "pong", 4) == 0) {
        if (!s->live && s->entered) {
            s->live = 1;
            if (s->down_at) {
                s->live_at = now_ns();
                record(&storm_reconnect, (s->live_at - s->down_at) / 1000000);
                storm_back++;
            }
        }
        return;
    }
    if (HAS(p, len, "\"Type\":\"entered\"")) {
        s->entered = 1;
        return;
    }
    if (HAS(p, len, "\"Type\":\"error\"")) {
        if (storm_errors++ < 5) fprintf(stderr, "loadgen: storm error: %.*s\n", (int)len, p);
        return;
    }
    if (!HAS(p, len, "\"Type\":\"message\"")) return;
    const unsigned char *m = HAS(p, len, "\"MessageID\":");
    if (!m) return;
    long id = strtol((const char *)m + 12, NULL, 10);
    if (id <= s->last_id) { /* twice, or out of order */
        storm_out_of_order++;
        return;
    }
    s->last_id = id;
    s->count++;
    s->hash = s->hash * 1000003u + (uint64_t)id;
}

/* Read what is there; on the handshake's answer, enter (resuming after a cut).
 * Returns -1 when the connection is gone, -2 if the upgrade was refused. */
static int storm_readable(conn_t *c) {
    for (;;) {
        grow(&c->in, &c->in_cap, c->in_len + 65536);
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        if (n == 0) return -1;
        c->in_len += (size_t)n;
        if (c->state == HANDSHAKING) {
            unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
            if (!end) continue;
            if (memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
                /* 503 with Retry-After: the server is busy opening others (CHAT_MAX_
                 * HANDSHAKES) and says when to come back: a deferral, not an error. */
                const unsigned char *after = memmem(c->in, (size_t)(end - c->in), "Retry-After: ", 13);
                if (memcmp(c->in, "HTTP/1.1 503", 12) == 0 && after) {
                    c->retry_after_s = atoi((const char *)after + 13);
                    return -3;
                }
                if (storm_errors++ < 5)
                    fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(end - c->in), c->in);
                return -2;
            }
            size_t head = (size_t)(end - c->in) + 4;
            memmove(c->in, c->in + head, c->in_len - head);
            c->in_len -= head;
            c->state = OPEN;
            int i = (int)(c - conns);
            storm_enter(c, i < storm_clients && storm[i].down_at != 0);
        }
        if (parse_frames(c) < 0) return -1; /* to storm_text (text_handler) */
        if ((size_t)n < 65536) return 0;
    }
}

static void storm_poll(int timeout_ms) {
    struct epoll_event events[512];
    int64_t before = now_ns();
    int n = epoll_wait(epfd, events, 512, timeout_ms);
    if (n == 0) idle_ns += now_ns() - before;
    for (int k = 0; k < n; k++) {
        conn_t *c = events[k].data.ptr;
        if (c->state == CLOSED) continue;
        int i = (int)(c - conns);
        int attempt = i < storm_clients && storm[i].down_at != 0 && !storm[i].live;
        if (c->state == CONNECTING && (events[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            int err = 0;
            socklen_t l = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err) {
                if (!attempt) die("connect failed: %s", strerror(err));
                storm_refused++;
                storm_lost(c, 1);
                continue;
            }
            send_handshake(c, paths[i]);
        }
        if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            int r = storm_readable(c);
            if (r == -3 && attempt) {
                storm_deferred++;
                storm_defer(c);
                continue;
            }
            if (r < 0) {
                if (!attempt && r < -1) die("upgrade refused before the storm");
                if (attempt && r == -1 && c->state == OPEN) storm_dropped++; /* after 101 */
                storm_lost(c, attempt);
                continue;
            }
        }
        if (c->out_len && flush(c) < 0) storm_lost(c, attempt);
    }
}

/* Start the attempts that are due, and give up on those that took too long. */
static void storm_retry(void) {
    int64_t t = now_ns();
    for (int i = 0; i < storm_clients; i++) {
        storm_t *s = &storm[i];
        conn_t *c = &conns[i];
        if (s->retry_at && t >= s->retry_at) {
            s->retry_at = 0;
            s->attempt_at = t;
            storm_attempts++;
            storm_connect(c);
            if (c->state == CLOSED) {
                storm_refused++;
                storm_lost(c, 1);
            }
        } else if (!s->live && s->attempt_at && c->state != CLOSED &&
                   t - s->attempt_at > STORM_ATTEMPT_TIMEOUT_NS) {
            storm_timeouts++;
            storm_timed_out_at[c->state == CONNECTING    ? 0
                               : c->state == HANDSHAKING ? 1
                               : s->entered             ? 3
                                                         : 2]++;
            s->attempt_at = 0;
            epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            storm_lost(c, 1);
        }
    }
}

static int mode_storm(int argc, char **argv) {
    if (argc != 12)
        die("usage: storm HOST PORTS ROOMS MEMBERS RATE SECONDS TOKENFILE ROOMFILE "
            "RECONNECT_PORT_INDEX BASE_ID");
    int rooms = atoi(argv[4]);
    storm_members = atoi(argv[5]);
    double rate = atof(argv[6]);
    double seconds = atof(argv[7]);
    storm_port = atoi(argv[10]);
    storm_base = atol(argv[11]);
    if (nports != 2 || storm_port < 0 || storm_port > 1)
        die("storm: PORTS is the clients' instance and the senders', RECONNECT_PORT_INDEX 0 or 1");
    storm_clients = rooms * storm_members;
    text_handler = storm_text;
    int count = storm_clients + rooms; /* then one sender per room, on the second port */
    char **tokens = read_tokens(argv[8], storm_clients);
    storm_room_ids = read_tokens(argv[9], rooms);
    storm = calloc((size_t)storm_clients, sizeof *storm);
    paths = calloc((size_t)count, sizeof *paths);
    for (int i = 0; i < count; i++) {
        const char *token = tokens[i < storm_clients ? i : (i - storm_clients) * storm_members];
        size_t size = strlen(token) + 16;
        paths[i] = malloc(size);
        snprintf(paths[i], size, "/ws?token=%s", token);
        if (i < storm_clients) storm[i].room = i / storm_members;
    }
    epfd = epoll_create1(0);
    conns = calloc((size_t)count, sizeof *conns);
    nconns = count;
    int64_t t0 = now_ns();
    int started = 0;
    for (int ready = 0; ready < count;) {
        while (started < count && started - ready < 256) {
            conn_t *c = &conns[started];
            c->port = started < storm_clients ? 0 : 1;
            c->role = MEMBER;
            storm_connect(c);
            if (c->state == CLOSED) die("connect %d failed", started);
            started++;
        }
        storm_poll(100);
        ready = 0;
        for (int i = 0; i < started; i++) {
            if (conns[i].state == CLOSED) die("connection %d closed during set-up", i);
            ready += i < storm_clients ? storm[i].live : conns[i].state == OPEN;
        }
        if (now_ns() - t0 > 180000000000LL) die("set-up took more than 3 minutes");
    }
    double setup_s = (double)(now_ns() - t0) / 1e9;
    printf("{\"ready\":true,\"connections\":%d,\"setup_seconds\":%.3f}\n", count, setup_s);
    fflush(stdout);

    /* The flow: RATE messages/s in all, round-robin across the rooms' senders, for at
     * least SECONDS and until everyone cut off is live again (at most 120 s more), then
     * 3 s more of flow and 2 s of listening. */
    idle_ns = 0;
    int64_t start = now_ns(), stop = start + (int64_t)(seconds * 1e9), hard = stop + 120000000000LL;
    int64_t all_live_at = 0, first_cut = 0;
    int turn = 0;
    for (;;) {
        int64_t t = now_ns();
        if (!all_live_at && storm_cut > 0 && storm_back == storm_cut) {
            all_live_at = t;
            printf("{\"all_live\":true,\"seconds\":%.3f}\n",
                   first_cut ? (double)(t - first_cut) / 1e9 : -1.0);
            fflush(stdout);
            if (stop < t + 3000000000LL) stop = t + 3000000000LL;
        }
        if (t >= hard || (t >= stop && (storm_cut == 0 || all_live_at))) break;
        long due = (long)((double)(t - start) / 1e9 * rate) - storm_sent;
        for (; due > 0; due--) {
            conn_t *c = &conns[storm_clients + turn];
            char msg[96];
            int len = snprintf(msg, sizeof msg, "{\"Type\":\"message\",\"Text\":\"S %d %ld\"}",
                               turn, storm_sent);
            queue_text(c, msg, (size_t)len);
            if (flush(c) < 0) die("sender %d lost its connection", turn);
            turn = (turn + 1) % rooms;
            storm_sent++;
        }
        storm_poll(1);
        storm_retry();
        if (!first_cut && storm_cut) first_cut = now_ns();
    }
    double flow_s = (double)(now_ns() - start) / 1e9;
    for (int64_t tail = now_ns() + 2000000000LL; now_ns() < tail;) storm_poll(10);
    double busy = 1.0 - (double)idle_ns / 1e9 / ((double)(now_ns() - start) / 1e9);

    FILE *out = stdout;
    int live = 0;
    for (int i = 0; i < storm_clients; i++) live += storm[i].live;
    sort_samples(&storm_reconnect);
    fprintf(out, "{\"mode\":\"storm\",\"clients\":%d,\"rooms\":%d,\"rate\":%g,\"sent\":%ld,"
            "\"setup_seconds\":%.3f,\"flow_seconds\":%.3f,\"cut\":%ld,\"back\":%ld,"
            "\"live_at_end\":%d,\"all_live_seconds\":%.3f,\"attempts\":%ld,\"refused\":%ld,\"deferred\":%ld,"
            "\"errors\":%ld,\"dropped\":%ld,\"timeouts\":%ld,\"timeouts_at\":{\"connecting\":%ld,"
            "\"upgrading\":%ld,\"opened\":%ld,\"entered\":%ld},\"out_of_order\":%ld,\"busy\":%.3f,"
            "\"reconnect_ms\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld},\"seen\":[",
            storm_clients, rooms, rate, storm_sent, setup_s, flow_s, storm_cut, storm_back, live,
            all_live_at && first_cut ? (double)(all_live_at - first_cut) / 1e9 : -1.0,
            storm_attempts, storm_refused, storm_deferred, storm_errors, storm_dropped, storm_timeouts, storm_timed_out_at[0], storm_timed_out_at[1],
            storm_timed_out_at[2], storm_timed_out_at[3], storm_out_of_order, busy,
            (long long)percentile(&storm_reconnect, 0.50),
            (long long)percentile(&storm_reconnect, 0.90),
            (long long)percentile(&storm_reconnect, 0.99),
            (long long)percentile(&storm_reconnect, 1.0));
    /* Per client: [count, hash as a decimal string, last id], for the runner's check
     * against the table. */
    for (int i = 0; i < storm_clients; i++)
        fprintf(out, "%s[%ld,\"%llu\",%ld]", i ? "," : "", storm[i].count,
                (unsigned long long)storm[i].hash, storm[i].last_id);
    fprintf(out, "]}\n");
    return 0;
}

/* crowd: what a connection says once its upgrade is done. */
static char **crowd_tokens;
static int crowd_ntokens;
static const char *crowd_room;

static void crowd_open(conn_t *c) {
    c->role = CROWD;
    if (crowd_rooms) {
        char enter[128];
        int len = snprintf(enter, sizeof enter,
                           "{\"Type\":\"enter\",\"RoomID\":%s,\"Presence\":false}", crowd_room);
        queue_text(c, enter, (size_t)len);
    } else {
        char msg[4200];
        snprintf(msg, sizeof msg, "auth %s", crowd_tokens[(crowd_first + (c - conns)) % crowd_ntokens]);
        queue_chat(c, msg);
    }
}

/* All lines of a token file (at least one). */
static char **read_all_tokens(const char *file, int *count) {
    FILE *f = fopen(file, "r");
    if (!f) die("cannot open %s", file);
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) n += line[0] != '\n';
    fclose(f);
    if (n == 0) die("%s has no tokens", file);
    *count = n;
    return read_tokens(file, n);
}

/* crowd: send message k from client 0, carrying its send time. */
static void crowd_send(long k) {
    if (crowd_first != 0) die("send: client 0 is not in this process");
    if (k < 0 || k >= CROWD_MAX_MESSAGES) die("send: K is 0 to %d", CROWD_MAX_MESSAGES - 1);
    char text[96];
    snprintf(text, sizeof text, "B 0 %ld %lld", k, (long long)now_ns());
    if (crowd_rooms) {
        char msg[192];
        int len = snprintf(msg, sizeof msg, "{\"Type\":\"message\",\"Text\":\"%s\"}", text);
        queue_text(&conns[0], msg, (size_t)len);
    } else {
        queue_chat(&conns[0], text);
    }
    if (flush(&conns[0]) < 0) die("the sender lost its connection");
}

/* crowd: the latency of every delivery here of messages 0..n-1, and how many of them
 * did not arrive. */
static void crowd_report(long n) {
    if (n < 0 || n > CROWD_MAX_MESSAGES) die("report: N is 0 to %d", CROWD_MAX_MESSAGES);
    long lost = 0;
    for (long k = 0; k < n; k++) lost += crowd_expected - crowd_received[k];
    printf("{\"mode\":\"crowd\",\"first\":%ld,\"connections\":%d,\"expected_per_message\":%ld,"
           "\"lost\":%ld,\"stray\":%ld,\"latencies_us\":[",
           crowd_first, nconns, crowd_expected, lost, stray);
    for (size_t i = 0; i < latency.n; i++) printf("%s%lld", i ? "," : "", (long long)latency.us[i]);
    printf("]}\n");
    fflush(stdout);
}

/* crowd: hold the connections (reading, answering pings) and obey the runner's lines on
 * stdin until it closes. A connection closing ends the run. */
static void crowd_obey(void) {
    fcntl(0, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
    char line[256];
    size_t have = 0;
    for (;;) {
        struct epoll_event events[512];
        int n = epoll_wait(epfd, events, 512, 100);
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c != NULL) {
                if (c->state != CLOSED && on_readable(c) < 0) close_conn(c);
                if (c->state != CLOSED && c->out_len) flush(c);
                continue;
            }
            ssize_t got = read(0, line + have, sizeof line - 1 - have);
            if (got == 0) return; /* stdin closed: the run is over */
            if (got < 0) continue;
            have += (size_t)got;
            line[have] = 0;
            char *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = 0;
                long k;
                if (sscanf(line, "send %ld", &k) == 1) crowd_send(k);
                else if (sscanf(line, "report %ld", &k) == 1) crowd_report(k);
                else die("crowd: unknown command %s", line);
                have -= (size_t)(nl + 1 - line);
                memmove(line, nl + 1, have + 1);
            }
            if (have == sizeof line - 1) die("crowd: a line too long on stdin");
        }
        if (receivers_closed) die("%ld connection(s) closed while held", receivers_closed);
    }
}

static int mode_crowd(int argc, char **argv) {
    if (argc != 9) die("usage: crowd HOST PORTS CONNECTIONS DIALECT TOKENFILE ROOM FIRST");
    int count = atoi(argv[4]);
    if (count < 1 || count > 16000000) die("bad CONNECTIONS");
    if (strcmp(argv[5], "rooms") == 0) crowd_rooms = 1;
    else if (strcmp(argv[5], "tokentalker") != 0) die("DIALECT is rooms or tokentalker");
    crowd_tokens = read_all_tokens(argv[6], &crowd_ntokens);
    crowd_room = argv[7];
    crowd_first = atol(argv[8]);
    if (crowd_first < 0 || crowd_first + count > 16000000) die("bad FIRST");
    /* TokenTalker does not echo a message to its sender. */
    crowd_expected = crowd_rooms || crowd_first > 0 ? count : count - 1;
    if (crowd_rooms) ws_paths(crowd_tokens, crowd_ntokens);
    read_chunk = 2048; /* a frame here is at most a few hundred bytes */
    spread_sources = 1;
    on_open = crowd_open;

    int64_t t0 = now_ns();
    setup(count, "/", 256, count); /* each is let in as its upgrade completes */
    double handshake_s = (double)(now_ns() - t0) / 1e9;
    /* Bounded: a minute without a connection getting in ends the run. */
    int64_t progress_at = now_ns();
    for (long seen = crowd_ready; crowd_ready < count;) {
        poll_once(100, "/");
        if (receivers_closed) die("%ld connection(s) closed while getting in", receivers_closed);
        if (crowd_ready != seen) {
            seen = crowd_ready;
            progress_at = now_ns();
        } else if (now_ns() - progress_at > 60000000000LL) {
            die("%ld of %d connections in after a minute without progress", crowd_ready, count);
        }
    }
    double connect_s = (double)(now_ns() - t0) / 1e9;
    printf("{\"ready\":true,\"connections\":%d,\"handshake_seconds\":%.3f,"
           "\"connect_seconds\":%.3f,\"connects_per_s\":%.1f}\n",
           count, handshake_s, connect_s, count / connect_s);
    fflush(stdout);
    crowd_obey();
    return 0;
}

/* "9001" or "9001,9002,...": the ports to spread connections across. */
static void parse_ports(const char *list) {
    const char *p = list;
    for (;;) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n < 1 || n > 65535 || (*end != ',' && *end != 0))
            die("bad port list %s (one port, or several separated by commas)", list);
        if (nports == MAX_PORTS) die("at most %d ports", MAX_PORTS);
        ports[nports++] = (int)n;
        if (*end == 0) return;
        p = end + 1;
    }
}

/* "127.0.0.1" (every port's) or "198.19.200.2,198.19.200.6,..." (one per port, in
 * order). The list is split in place: argv's strings are ours to change. */
static void parse_hosts(char *list) {
    int n = 0;
    for (char *p = strtok(list, ","); p != NULL; p = strtok(NULL, ",")) {
        if (n == MAX_PORTS) die("at most %d hosts", MAX_PORTS);
        hosts[n++] = p;
    }
    if (n == 1)
        for (int i = 1; i < nports; i++) hosts[i] = hosts[0];
    else if (n != nports)
        die("%d hosts for %d ports (one for all, or one per port)", n, nports);
}

int main(int argc, char **argv) {
    if (argc < 4)
        die("usage: loadgen fanout|idle|history|rooms|storm|crowd HOST[,HOST...] PORT[,PORT...] ...");
    raise_fd_limit();
    parse_ports(argv[3]);
    parse_hosts(argv[2]);
    if (strcmp(argv[1], "fanout") == 0) return mode_fanout(argc, argv);
    if (strcmp(argv[1], "idle") == 0) return mode_idle(argc, argv);
    if (strcmp(argv[1], "history") == 0) return mode_history(argc, argv);
    if (strcmp(argv[1], "rooms") == 0) return mode_rooms(argc, argv);
    if (strcmp(argv[1], "storm") == 0) return mode_storm(argc, argv);
    if (strcmp(argv[1], "crowd") == 0) return mode_crowd(argc, argv);
    die("unknown mode %s", argv[1]);
}
