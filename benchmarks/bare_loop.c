/*
 * bare_loop.c: the ceiling nvtui is measured against. A bare C loop over one io_uring that submits and
 * reaps in batches and records nothing (no per-I/O timestamps, no histogram): only a count.
 *
 *   bare_loop io DEV NSID LBA_SIZE NLBAS QD SECONDS [fixed] [poll]
 *       Random 4 KiB reads over the first NLBAS LBAs (of LBA_SIZE bytes) of namespace NSID through NVMe
 *       passthrough (IORING_OP_URING_CMD on /dev/ngXnY), QD in flight, every completion re-queued.
 *       "fixed": one registered buffer per slot; "poll": an IOPOLL ring (nvme poll_queues).
 *   bare_loop nop BATCH SECONDS
 *       IORING_OP_NOP round trips, BATCH per io_uring_enter (submit BATCH, wait for BATCH, reap).
 *
 * Prints one JSON object: mode, ios, seconds, iops, enters, cpu_seconds.
 * Written from the kernel's uapi headers (linux/io_uring.h, linux/nvme_ioctl.h); no liburing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/nvme_ioctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
/* The same ring as nvtui's (ring_core.h): big entries for NVMe passthrough, and completions run as task
 * work when the task enters the kernel anyway (no IPI); without COOP_TASKRUN this loop ran slower. */
#define RING_FLAGS \
	(IORING_SETUP_SQE128 | IORING_SETUP_CQE32 | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG)

struct ring {
	int fd;
	unsigned sq_entries, *sq_tail, *sq_mask, *cq_head, *cq_tail, *cq_mask;
	unsigned char *sqes, *cqes;
	unsigned sqe_size, cqe_size, tail;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bare_loop: %s: %s\n", what, strerror(err));
	exit(1);
}

static void ring_init(struct ring *r, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	unsigned char *sq, *cq;
	unsigned *array;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		die("io_uring_setup", errno);
	r->sqe_size = flags & IORING_SETUP_SQE128 ? 128 : 64;
	r->cqe_size = flags & IORING_SETUP_CQE32 ? 32 : 16;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * r->cqe_size, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * r->sqe_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		die("mmap", errno);
	r->sq_entries = p.sq_entries;
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	array = (unsigned *)(sq + p.sq_off.array);
	for (unsigned i = 0; i < p.sq_entries; i++)
		array[i] = i; /* SQE i always sits in array slot i */
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = cq + p.cq_off.cqes;
	r->tail = *r->sq_tail;
}

static struct io_uring_sqe *next_sqe(struct ring *r)
{
	struct io_uring_sqe *sqe = (void *)(r->sqes + (size_t)(r->tail & *r->sq_mask) * r->sqe_size);
	r->tail++;
	memset(sqe, 0, r->sqe_size);
	return sqe;
}

static int enter(struct ring *r, unsigned to_submit, unsigned min_complete)
{
	__atomic_store_n(r->sq_tail, r->tail, __ATOMIC_RELEASE);
	for (;;) {
		int ret = (int)syscall(__NR_io_uring_enter, r->fd, to_submit, min_complete, IORING_ENTER_GETEVENTS,
				       NULL, 0);
		if (ret >= 0 || errno != EINTR)
			return ret;
	}
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next_random(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

struct io_job {
	int fd;
	unsigned nsid, lba_size, fixed;
	uint64_t slots; /* BS-sized positions */
	unsigned char *buffers;
};

static void prep_read(struct ring *r, const struct io_job *j, unsigned slot)
{
	struct io_uring_sqe *sqe = next_sqe(r);
	struct nvme_uring_cmd *cmd = (struct nvme_uring_cmd *)sqe->cmd;
	uint64_t slba = (next_random() % j->slots) * (BS / j->lba_size);

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = j->fd;
	sqe->cmd_op = NVME_URING_CMD_IO;
	sqe->user_data = slot;
	if (j->fixed) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = (unsigned short)slot;
	}
	cmd->opcode = 0x02; /* Read */
	cmd->nsid = j->nsid;
	cmd->addr = (uint64_t)(uintptr_t)(j->buffers + (size_t)slot * BS);
	cmd->data_len = BS;
	cmd->cdw10 = (uint32_t)slba;
	cmd->cdw11 = (uint32_t)(slba >> 32);
	cmd->cdw12 = BS / j->lba_size - 1;
}

static int run_io(int argc, char **argv)
{
	struct ring r;
	struct io_job j;
	unsigned qd, poll = 0, in_flight = 0, to_submit = 0;
	uint64_t ios = 0, enters = 0, errors = 0, begin, deadline, nlbas;
	double seconds, cpu0;

	if (argc < 8)
		return 2;
	memset(&j, 0, sizeof(j));
	j.fd = open(argv[2], O_RDWR);
	if (j.fd < 0)
		die(argv[2], errno);
	j.nsid = (unsigned)strtoul(argv[3], NULL, 0);
	j.lba_size = (unsigned)strtoul(argv[4], NULL, 0);
	nlbas = strtoull(argv[5], NULL, 0);
	qd = (unsigned)strtoul(argv[6], NULL, 0);
	seconds = strtod(argv[7], NULL);
	for (int i = 8; i < argc; i++) {
		j.fixed |= !strcmp(argv[i], "fixed");
		poll |= !strcmp(argv[i], "poll");
	}
	j.slots = nlbas / (BS / j.lba_size);
	if (posix_memalign((void **)&j.buffers, 4096, (size_t)qd * BS))
		die("posix_memalign", ENOMEM);
	memset(j.buffers, 0, (size_t)qd * BS);
	ring_init(&r, qd, RING_FLAGS | (poll ? IORING_SETUP_IOPOLL : 0));
	if (j.fixed) {
		struct iovec *iov = calloc(qd, sizeof(*iov));
		for (unsigned i = 0; i < qd; i++) {
			iov[i].iov_base = j.buffers + (size_t)i * BS;
			iov[i].iov_len = BS;
		}
		if (syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_BUFFERS, iov, qd) < 0)
			die("IORING_REGISTER_BUFFERS", errno);
	}
	cpu0 = cpu_seconds();
	begin = now_ns();
	deadline = begin + (uint64_t)(seconds * 1e9);
	for (unsigned slot = 0; slot < qd; slot++, in_flight++, to_submit++)
		prep_read(&r, &j, slot);
	while (in_flight) {
		int stop = now_ns() >= deadline;
		unsigned head, tail;

		if (enter(&r, to_submit, 1) < 0 && errno != EAGAIN && errno != EBUSY)
			die("io_uring_enter", errno);
		enters++;
		to_submit = 0;
		head = *r.cq_head;
		tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
		for (; head != tail; head++) {
			struct io_uring_cqe *cqe = (void *)(r.cqes + (size_t)(head & *r.cq_mask) * r.cqe_size);
			unsigned slot = (unsigned)cqe->user_data;

			errors += cqe->res != 0;
			ios++;
			in_flight--;
			if (!stop) {
				prep_read(&r, &j, slot);
				in_flight++;
				to_submit++;
			}
		}
		__atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
	}
	seconds = (now_ns() - begin) / 1e9;
	printf("{\"mode\": \"io\", \"qd\": %u, \"fixed\": %u, \"poll\": %u, \"ios\": %llu, \"errors\": %llu, "
	       "\"seconds\": %.6f, \"iops\": %.1f, \"enters\": %llu, \"cpu_seconds\": %.6f}\n",
	       qd, j.fixed, poll, (unsigned long long)ios, (unsigned long long)errors, seconds, ios / seconds,
	       (unsigned long long)enters, cpu_seconds() - cpu0);
	return errors ? 1 : 0;
}

static int run_nop(int argc, char **argv)
{
	struct ring r;
	unsigned batch;
	uint64_t ios = 0, enters = 0, begin, deadline;
	double seconds, cpu0;

	if (argc < 4)
		return 2;
	batch = (unsigned)strtoul(argv[2], NULL, 0);
	seconds = strtod(argv[3], NULL);
	ring_init(&r, batch, RING_FLAGS);
	cpu0 = cpu_seconds();
	begin = now_ns();
	deadline = begin + (uint64_t)(seconds * 1e9);
	while (now_ns() < deadline) {
		unsigned head, tail;

		for (unsigned i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = next_sqe(&r);
			sqe->opcode = IORING_OP_NOP;
			sqe->user_data = i;
		}
		if (enter(&r, batch, batch) < 0)
			die("io_uring_enter", errno);
		enters++;
		head = *r.cq_head;
		tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
		ios += tail - head;
		__atomic_store_n(r.cq_head, tail, __ATOMIC_RELEASE);
	}
	seconds = (now_ns() - begin) / 1e9;
	printf("{\"mode\": \"nop\", \"batch\": %u, \"ios\": %llu, \"seconds\": %.6f, \"iops\": %.1f, "
	       "\"enters\": %llu, \"cpu_seconds\": %.6f}\n",
	       batch, (unsigned long long)ios, seconds, ios / seconds, (unsigned long long)enters,
	       cpu_seconds() - cpu0);
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 2;

	if (argc > 1 && !strcmp(argv[1], "io"))
		ret = run_io(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "nop"))
		ret = run_nop(argc, argv);
	if (ret == 2)
		fprintf(stderr, "usage: bare_loop io DEV NSID LBA_SIZE NLBAS QD SECONDS [fixed] [poll]\n"
				"       bare_loop nop BATCH SECONDS\n");
	return ret;
}
