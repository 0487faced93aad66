/*
 * The far end of the TCP benchmarks in C, with the same command line and protocol as
 * src/tcp-peer.ts: `tcp-peer <echo|stream|sink> <port> <connections>` connects to the benchmark's
 * listener on 127.0.0.1 one connection at a time (so that they are accepted in this order), then
 *   echo:   writes back whatever it receives;
 *   stream: writes 64 KiB chunks as fast as the connection takes them (unlike the node:net peer it
 *           never reads: the benchmark sends it nothing);
 *   sink:   reads and discards;
 *   churn:  keeps <connections> connections open at a time; when the benchmark closes one (it
 *           accepts and closes at once), closes its end with an RST (SO_LINGER 0, so that no
 *           TIME_WAIT piles up on either side) and connects again. Measures accepts per second;
 *           at most <connections> wait in the listener's backlog between rounds, so no SYN is
 *           ever dropped. Exits when the listener is gone (a connect refused).
 * It exits when every connection has closed (or failed: the benchmark closing its end while we
 * write is the normal way to stop).
 *
 * Why it exists: the peer shares the benchmark machine, and the CPU it needs per message is taken
 * from the process being measured. This one is a single-threaded epoll loop with no runtime around
 * it (bench/README.md, "The TCP peer").
 *
 * Build: cc -O2 -o tcp-peer tcp-peer.c (src/tcp.ts does this on first use, into bench/.build/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum mode { ECHO, STREAM, SINK, CHURN };

#define CHUNK (64 * 1024)
#define MAX_CONNECTIONS 8192

static char chunk[CHUNK];

/* Echo: what is read is written back at once. Bytes the send buffer did not take wait in the
 * connection's backlog, and reading from it pauses until EPOLLOUT has flushed them. */
struct conn {
  int fd;
  int open;
  size_t backlog_off, backlog_len;
  char backlog[CHUNK];
};

static struct conn *conns;
static int open_count;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int connect_one(int port, int quiet) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (quiet) exit(0); /* churn: the benchmark closed its listener */
    die("connect");
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) die("fcntl");
  return fd;
}

static void close_conn(int ep, struct conn *c) {
  if (!c->open) return;
  (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  (void)close(c->fd);
  c->open = 0;
  if (--open_count == 0) exit(0);
}

static void set_events(int ep, struct conn *c, uint32_t events, int index) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)index};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl");
}

/* Writes what is in the backlog; returns 1 when it is empty, 0 when the socket is full, -1 on a
 * closed connection. */
static int flush_backlog(struct conn *c) {
  while (c->backlog_len > 0) {
    ssize_t n = send(c->fd, c->backlog + c->backlog_off, c->backlog_len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->backlog_off += (size_t)n;
    c->backlog_len -= (size_t)n;
  }
  c->backlog_off = 0;
  return 1;
}

static void on_echo(int ep, struct conn *c, int index) {
  if (c->backlog_len > 0) {
    int r = flush_backlog(c);
    if (r < 0) return close_conn(ep, c);
    if (r == 0) return;
    set_events(ep, c, EPOLLIN, index);
  }
  for (;;) {
    ssize_t n = recv(c->fd, c->backlog, CHUNK, 0);
    if (n == 0) return close_conn(ep, c);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) close_conn(ep, c);
      return;
    }
    c->backlog_off = 0;
    c->backlog_len = (size_t)n;
    int r = flush_backlog(c);
    if (r < 0) return close_conn(ep, c);
    if (r == 0) return set_events(ep, c, EPOLLOUT, index);
  }
}

static void on_stream(int ep, struct conn *c) {
  for (;;) {
    ssize_t n = send(c->fd, chunk, CHUNK, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) close_conn(ep, c);
      return;
    }
  }
}

static void on_sink(int ep, struct conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, chunk, CHUNK, 0);
    if (n == 0) return close_conn(ep, c);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) close_conn(ep, c);
      return;
    }
  }
}

/* Churn: the benchmark closed this connection (EOF): reset it and connect again in its place. */
static void on_churn(int ep, struct conn *c, int index, int port) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  (void)close(c->fd);
  c->fd = connect_one(port, 1);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)index};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
}

int main(int argc, char **argv) {
  if (argc != 4) goto usage;
  enum mode mode;
  if (strcmp(argv[1], "echo") == 0)
    mode = ECHO;
  else if (strcmp(argv[1], "stream") == 0)
    mode = STREAM;
  else if (strcmp(argv[1], "sink") == 0)
    mode = SINK;
  else if (strcmp(argv[1], "churn") == 0)
    mode = CHURN;
  else
    goto usage;
  int port = atoi(argv[2]), count = atoi(argv[3]);
  if (port <= 0 || port > 65535 || count <= 0 || count > MAX_CONNECTIONS) goto usage;

  conns = calloc((size_t)count, sizeof *conns);
  if (conns == NULL) die("calloc");
  memset(chunk, 'a', sizeof chunk);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < count; i++) {
    conns[i].fd = connect_one(port, mode == CHURN);
    conns[i].open = 1;
    open_count++;
    /* A stream's RDHUP tells it the benchmark closed its end (it never reads). */
    uint32_t events = mode == STREAM ? (EPOLLOUT | EPOLLRDHUP) : mode == CHURN ? (EPOLLIN | EPOLLRDHUP) : EPOLLIN;
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) die("epoll_ctl");
  }

  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(ep, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      int i = (int)events[k].data.u32;
      struct conn *c = &conns[i];
      if (!c->open) continue;
      if (mode == CHURN) {
        on_churn(ep, c, i, port);
        continue;
      }
      if (events[k].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        close_conn(ep, c);
        continue;
      }
      if (mode == ECHO)
        on_echo(ep, c, i);
      else if (mode == STREAM)
        on_stream(ep, c);
      else
        on_sink(ep, c);
    }
  }

usage:
  fprintf(stderr, "usage: tcp-peer echo|stream|sink|churn <port> <connections>\n");
  return 2;
}
