/*
 * ring_stress.c: the uring extension's C code (ring_core.c, engine.c) driven hard on this machine's own
 * kernel, built with -fsanitize=address,undefined by run_asan.sh. Every check that fails prints one
 * line and exits 1; ASan/UBSan findings abort with their report. No NVMe device needed: NOPs, pipe
 * reads, socket uring_cmds (SIOCINQ), and the load engine against a socket (every I/O -EOPNOTSUPP), its
 * ioctl threads against a socket (every ioctl ENOTTY) and its block path reading a file.
 *
 * Usage: ring_stress [NOPS]   (default 200000)
 */
#include "ring_core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "ring_stress: %s:%d: ", __FILE__, __LINE__);      \
			fprintf(stderr, __VA_ARGS__);                                     \
			fputc('\n', stderr);                                              \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

static void ring_open(struct nvt_ring *r, uint32_t entries, uint32_t cq_entries)
{
	uint32_t flags = NVT_SETUP_BASE | (cq_entries ? IORING_SETUP_CQSIZE : 0);
	int ret = nvt_ring_init(r, entries, cq_entries, flags | NVT_SETUP_COOP);

	if (ret == -EINVAL) /* kernels before 5.19 lack COOP_TASKRUN */
		ret = nvt_ring_init(r, entries, cq_entries, flags);
	CHECK(ret == 0, "nvt_ring_init: %s", strerror(-ret));
}

/* NOPs in bursts larger than the CQ: the kernel overflows, nvt_reap must flush and lose nothing. */
static void nops_with_cq_overflow(unsigned long total)
{
	struct nvt_ring r;
	struct nvt_completion out[7]; /* smaller than a burst: reap in pieces */
	static unsigned char seen[1 << 16];
	unsigned long done = 0, next = 0;

	ring_open(&r, 8, 16);
	while (done < total) {
		uint32_t burst = 0;

		memset(seen, 0, sizeof(seen));
		for (int round = 0; round < 4; round++) { /* 4 x 8 = 32 completions for a 16-entry CQ */
			for (int i = 0; i < 8; i++, burst++)
				CHECK(nvt_prep_nop(&r, next + burst) == 0, "prep_nop refused with a free SQ");
			CHECK(nvt_prep_nop(&r, 0) < 0, "a full SQ took a ninth entry");
			CHECK(nvt_submit(&r, 0, 0) == 8, "submit did not take 8");
		}
		CHECK(r.features & IORING_FEAT_NODROP, "the kernel drops CQEs on overflow");
		for (uint32_t got = 0; got < burst;) {
			int n = nvt_reap(&r, out, 7);

			CHECK(n >= 0, "reap: %s", strerror(-n));
			if (n == 0) {
				CHECK(nvt_submit(&r, 1, 0) >= 0, "wait");
				continue;
			}
			for (int i = 0; i < n; i++) {
				uint64_t k = out[i].user_data - next;

				CHECK(k < burst && !seen[k], "unexpected or repeated user_data %llu",
				      (unsigned long long)out[i].user_data);
				CHECK(out[i].res == 0, "NOP res %d", out[i].res);
				seen[k] = 1;
			}
			got += (uint32_t)n;
		}
		CHECK(nvt_cq_dropped(&r) == 0, "CQEs dropped");
		next += burst;
		done += burst;
	}
	nvt_ring_exit(&r);
	printf("nops: %lu through an 8/16 ring with CQ overflow\n", done);
}

/* Reads on pipes completing in reverse order, each into its own heap buffer of exactly its length. */
static void pipe_reads_out_of_order(int rounds)
{
	enum { N = 16 };
	struct nvt_ring r;
	struct nvt_completion out[N];
	int fds[N][2];

	ring_open(&r, N, 0);
	for (int i = 0; i < N; i++)
		CHECK(pipe(fds[i]) == 0, "pipe");
	for (int round = 0; round < rounds; round++) {
		char *buf[N];

		for (int i = 0; i < N; i++) {
			buf[i] = malloc(32);
			CHECK(nvt_prep_read(&r, fds[i][0], buf[i], 32, (uint64_t)-1, (uint64_t)i) == 0, "prep_read");
		}
		CHECK(nvt_submit(&r, 0, 0) == N, "submit reads");
		for (int i = N - 1; i >= 0; i--) {
			char msg[32];
			int len = snprintf(msg, sizeof(msg), "round %d pipe %d", round, i);

			CHECK(write(fds[i][1], msg, (size_t)len) == len, "write");
			for (;;) {
				int n = nvt_reap(&r, out, 1);

				CHECK(n >= 0, "reap");
				if (n == 1) {
					CHECK(out[0].user_data == (uint64_t)i, "pipe %d completed for %d", (int)out[0].user_data, i);
					CHECK(out[0].res == len && memcmp(buf[i], msg, (size_t)len) == 0, "pipe %d data", i);
					break;
				}
				CHECK(nvt_submit(&r, 1, 0) >= 0, "wait");
			}
			free(buf[i]);
		}
	}
	nvt_ring_exit(&r);
	for (int i = 0; i < N; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	printf("pipe reads: %d rounds of %d, out of order\n", rounds, N);
}

/* Reads still in flight when the ring is torn down: the kernel cancels them at exit, so their buffers
 * may be freed after nvt_ring_exit and data written later stays in the pipe, read by nobody else. */
static void ring_exit_with_reads_in_flight(int rounds)
{
	enum { N = 8 };

	for (int round = 0; round < rounds; round++) {
		struct nvt_ring r;
		int fds[N][2];
		char *buf[N];

		ring_open(&r, N, 0);
		for (int i = 0; i < N; i++) {
			CHECK(pipe(fds[i]) == 0, "pipe");
			buf[i] = malloc(64);
			CHECK(nvt_prep_read(&r, fds[i][0], buf[i], 64, (uint64_t)-1, (uint64_t)i) == 0, "prep_read");
		}
		CHECK(nvt_submit(&r, 0, 0) == N, "submit");
		nvt_ring_exit(&r);
		for (int i = 0; i < N; i++)
			free(buf[i]);
		for (int i = 0; i < N; i++) {
			char back[16];

			CHECK(write(fds[i][1], "after exit", 10) == 10, "write");
			CHECK(read(fds[i][0], back, sizeof(back)) == 10 && memcmp(back, "after exit", 10) == 0,
			      "a read of an exited ring took the data");
			close(fds[i][0]);
			close(fds[i][1]);
		}
	}
	printf("ring exit with reads in flight: %d rounds\n", rounds);
}

static int tcp_pair(int *client, int *server)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int listener = socket(AF_INET, SOCK_STREAM, 0);

	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 1) ||
	    getsockname(listener, (struct sockaddr *)&addr, &len))
		return -1;
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&addr, sizeof(addr)))
		return -1;
	*server = accept(listener, NULL, NULL);
	close(listener);
	return *server < 0 ? -1 : 0;
}

/* IORING_OP_URING_CMD on a TCP socket: SIOCINQ answers with the bytes queued. */
static void socket_uring_cmds(int count)
{
	struct nvt_ring r;
	struct nvt_completion out[32];
	int client, server, queued = 0;

	CHECK(tcp_pair(&client, &server) == 0, "a loopback TCP pair: %s", strerror(errno));
	ring_open(&r, 32, 0);
	if (!nvt_probe_op(&r, IORING_OP_URING_CMD)) {
		printf("socket uring_cmds: skipped (no IORING_OP_URING_CMD)\n");
		goto out;
	}
	for (int done = 0; done < count;) {
		int batch = count - done < 32 ? count - done : 32;
		unsigned char cmd[NVT_CMD_MAX] = { 0 };

		CHECK(send(client, "x", 1, 0) == 1, "send");
		queued++;
		usleep(done % 4096 == 0 ? 1000 : 0); /* let loopback deliver now and then */
		for (int i = 0; i < batch; i++)
			CHECK(nvt_prep_uring_cmd(&r, server, SOCKET_URING_OP_SIOCINQ, cmd, (uint32_t)(i % NVT_CMD_MAX),
						 (uint64_t)i, 0, 0) == 0, "prep_uring_cmd");
		CHECK(nvt_submit(&r, (uint32_t)batch, 0) >= 0, "submit");
		for (int got = 0; got < batch;) {
			int n = nvt_reap(&r, out, 32);

			CHECK(n >= 0, "reap");
			for (int i = 0; i < n; i++)
				CHECK(out[i].res >= 0 && out[i].res <= queued, "SIOCINQ said %d, %d sent", out[i].res, queued);
			got += n;
			if (got < batch && n == 0)
				CHECK(nvt_submit(&r, 1, 0) >= 0, "wait");
		}
		done += batch;
	}
	printf("socket uring_cmds: %d SIOCINQ\n", count);
out:
	nvt_ring_exit(&r);
	close(client);
	close(server);
}

/* The load engine: bad parameters refused, then many I/Os that the socket refuses, counted exactly. */
static void engine_runs(uint64_t ios)
{
	struct nvt_ring r;
	struct nvt_engine_params p;
	struct nvt_engine_result *res = calloc(1, sizeof(*res));
	int sock = socket(AF_INET, SOCK_STREAM, 0);
	unsigned char *buffers = malloc(32 * 4096);
	struct iovec iov[32];
	int ret;

	ring_open(&r, 32, 0);
	memset(&p, 0, sizeof(p));
	p.fd = sock;
	p.nsid = 1;
	p.opcode = 0x02;
	p.random = 1;
	p.lba_size = 512;
	p.block_size = 4096;
	p.qd = 64; /* more than the SQ */
	p.lba_count = 1 << 20;
	p.duration_ns = 10ULL * 1000 * 1000 * 1000;
	p.max_ios = ios;
	p.buffers = buffers;
	CHECK(nvt_engine_run(&r, &p, 1, res) == -EINVAL, "qd above the SQ size accepted");
	p.qd = 0;
	CHECK(nvt_engine_run(&r, &p, 1, res) == -EINVAL, "qd 0 accepted");
	p.qd = 32;
	p.block_size = 1000;
	CHECK(nvt_engine_run(&r, &p, 1, res) == -EINVAL, "a block size not a multiple of the LBA accepted");
	p.block_size = 4096;
	p.lba_count = 4;
	CHECK(nvt_engine_run(&r, &p, 1, res) == -EINVAL, "a region smaller than one I/O accepted");
	p.lba_count = 1 << 20;

	for (int fixed = 0; fixed <= 1; fixed++) {
		if (fixed) {
			for (int i = 0; i < 32; i++) {
				iov[i].iov_base = buffers + (size_t)i * 4096;
				iov[i].iov_len = 4096;
			}
			CHECK(nvt_register_buffers(&r, iov, 32) == 0, "register buffers");
		}
		p.fixed = (uint32_t)fixed;
		p.random = (uint32_t)!fixed;
		ret = nvt_engine_run(&r, &p, 1, res);
		CHECK(ret == 0, "engine: %s", strerror(-ret));
		CHECK(res->ios == ios && res->errors == ios && res->bytes == 0, "engine counted %llu ios %llu errors",
		      (unsigned long long)res->ios, (unsigned long long)res->errors);
		uint64_t in_hist = 0;
		for (uint32_t b = 0; b < NVT_HIST_BUCKETS; b++)
			in_hist += res->hist[b];
		CHECK(in_hist == ios, "histogram holds %llu of %llu", (unsigned long long)in_hist, (unsigned long long)ios);
		if (fixed)
			CHECK(nvt_unregister_buffers(&r) == 0, "unregister buffers");
	}
	nvt_ring_exit(&r);
	close(sock);
	free(buffers);
	free(res);
	printf("engine: 2 x %llu I/Os (plain and fixed buffers), bad parameters refused\n", (unsigned long long)ios);
}

static uint64_t hist_total(const struct nvt_engine_result *res)
{
	uint64_t n = 0;

	for (uint32_t b = 0; b < NVT_HIST_BUCKETS; b++)
		n += res->hist[b];
	return n;
}

/* The ioctl interface: threads of synchronous ioctls on two targets (sockets: every one ENOTTY), counted
 * exactly per target, then the block path reading a file: plain and fixed, one enter per SQE and batched. */
static void engine_other_interfaces(uint64_t ios)
{
	struct nvt_engine_params p[2];
	struct nvt_engine_result *res = calloc(2, sizeof(*res));
	unsigned char *buffers = aligned_alloc(4096, 16 * 4096);
	char path[] = "/tmp/nvt-ring-stress-XXXXXX";
	int socks[2] = { socket(AF_INET, SOCK_STREAM, 0), socket(AF_INET, SOCK_STREAM, 0) };
	struct nvt_ring r;
	struct iovec iov[8];
	int fd, ret;

	memset(p, 0, sizeof(p));
	for (int k = 0; k < 2; k++) {
		p[k].fd = socks[k];
		p[k].nsid = 1;
		p[k].opcode = 0x02;
		p[k].random = (uint32_t)k;
		p[k].lba_size = 512;
		p[k].block_size = 4096;
		p[k].qd = 4;
		p[k].lba_count = 1 << 20;
		p[k].duration_ns = 10ULL * 1000 * 1000 * 1000;
		p[k].max_ios = ios;
		p[k].interface = NVT_IF_IOCTL;
		p[k].buffers = buffers + (size_t)k * 4 * 4096;
	}
	CHECK(nvt_engine_run(NULL, p, 2, res) == 0, "ioctl engine");
	for (int k = 0; k < 2; k++) {
		CHECK(res[k].ios == ios && res[k].errors == ios && res[k].first_error == -ENOTTY,
		      "ioctl target %d: %llu ios, %llu errors, first %d", k, (unsigned long long)res[k].ios,
		      (unsigned long long)res[k].errors, res[k].first_error);
		CHECK(hist_total(&res[k]) == ios, "ioctl histogram");
	}
	p[1].interface = NVT_IF_BLOCK;
	CHECK(nvt_engine_run(NULL, p, 2, res) == -EINVAL, "targets of two interfaces accepted");

	fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	CHECK(ftruncate(fd, 1 << 20) == 0, "ftruncate");
	CHECK(nvt_ring_init_raw(&r, 8, 0, 0, 0) == 0, "a plain ring");
	CHECK(r.sqe_size == 64 && r.cqe_size == 16, "plain ring entry sizes %u %u", r.sqe_size, r.cqe_size);
	for (int i = 0; i < 8; i++) {
		iov[i].iov_base = buffers + (size_t)i * 4096;
		iov[i].iov_len = 4096;
	}
	CHECK(nvt_register_buffers(&r, iov, 8) == 0, "register buffers");
	p[0].interface = NVT_IF_BLOCK;
	p[0].fd = fd;
	p[0].qd = 8;
	p[0].lba_count = (1 << 20) / 512;
	p[0].stop_on_errno = 1;
	for (int variant = 0; variant < 4; variant++) {
		p[0].fixed = (uint32_t)(variant & 1);
		p[0].batch = (uint32_t)(variant >> 1);
		p[0].random = (uint32_t)(variant & 1);
		ret = nvt_engine_run(&r, p, 1, res);
		CHECK(ret == 0, "block engine: %s", strerror(-ret));
		CHECK(res[0].ios == ios && res[0].errors == 0 && res[0].bytes == ios * 4096,
		      "block variant %d: %llu ios, %llu errors (first %d)", variant, (unsigned long long)res[0].ios,
		      (unsigned long long)res[0].errors, res[0].first_error);
		CHECK(hist_total(&res[0]) == ios, "block histogram");
		CHECK(variant >> 1 ? res[0].enters >= ios : res[0].enters < ios, "enters %llu for %llu ios",
		      (unsigned long long)res[0].enters, (unsigned long long)ios);
	}
	p[0].lba_count = 4;
	CHECK(nvt_engine_run(&r, p, 1, res) == -EINVAL, "a region smaller than one I/O accepted");
	nvt_ring_exit(&r);
	close(fd);
	close(socks[0]);
	close(socks[1]);
	free(buffers);
	free(res);
	printf("engine: ioctl threads on 2 targets, block path 4 ways, x %llu I/Os\n", (unsigned long long)ios);
}

int main(int argc, char **argv)
{
	unsigned long nops = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;

	setvbuf(stdout, NULL, _IOLBF, 0);
	nops_with_cq_overflow(nops);
	pipe_reads_out_of_order(2000);
	ring_exit_with_reads_in_flight(200);
	socket_uring_cmds(20000);
	engine_runs(50000);
	engine_other_interfaces(20000);
	for (uint64_t ns = 0; ns < (1ULL << 20); ns += 7)
		CHECK(nvt_hist_bucket(ns) < NVT_HIST_BUCKETS, "bucket of %llu", (unsigned long long)ns);
	CHECK(nvt_hist_bucket(UINT64_MAX) == NVT_HIST_BUCKETS - 1, "bucket of the largest value");
	printf("ring_stress: ok\n");
	return 0;
}
