/*
 * ring_core.c: a minimal io_uring for NVMe passthrough (IORING_OP_URING_CMD), driven from Python.
 *
 * Python calls one helper per step (prepare an SQE, submit, reap a batch of CQEs), so the per-command
 * work left in Python is small. Memory ordering follows the io_uring ABI (io_uring/io_uring.c, the
 * comment above struct io_rings): the kernel writes sq head and cq tail, we read them with acquire;
 * we write sq tail and cq head with release, after filling SQEs / before handing CQEs back.
 */
#define _GNU_SOURCE
#include "ring_core.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int sys_setup(uint32_t entries, struct io_uring_params *p)
{
	return (int)syscall(NVT_NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags)
{
	return (int)syscall(NVT_NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

static int sys_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args)
{
	int ret = (int)syscall(NVT_NR_io_uring_register, fd, opcode, arg, nr_args);
	return ret < 0 ? -errno : ret;
}

static void *map_ring(int fd, size_t len, uint64_t offset)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)offset);
	return p == MAP_FAILED ? NULL : p;
}

#define RING_PTR(base, off) ((uint32_t *)((unsigned char *)(base) + (off)))

/* Set up a ring with 128-byte SQEs and 32-byte CQEs plus `flags` (e.g. COOP_TASKRUN, IOPOLL).
 * cq_entries 0 lets the kernel pick (twice the SQ). Returns 0 or -errno. */
int nvt_ring_init(struct nvt_ring *r, uint32_t entries, uint32_t cq_entries, uint32_t flags)
{
	return nvt_ring_init_raw(r, entries, cq_entries, flags | NVT_SETUP_BASE, 0);
}

/* A ring with exactly `flags`: without IORING_SETUP_SQE128 / CQE32 its entries are 64 and 16 bytes, as
 * the block path's rings are (fio's too); with IORING_SETUP_SQPOLL a kernel thread consumes the SQ and
 * sleeps after `sq_thread_idle_ms` without work. */
int nvt_ring_init_raw(struct nvt_ring *r, uint32_t entries, uint32_t cq_entries, uint32_t flags,
		      uint32_t sq_thread_idle_ms)
{
	struct io_uring_params p;
	int err;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.sq_thread_idle = sq_thread_idle_ms;
	if (cq_entries) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
	}
	r->fd = sys_setup(entries, &p);
	if (r->fd < 0) {
		err = -errno;
		r->fd = -1;
		return err;
	}
	r->setup_flags = p.flags;
	r->features = p.features;
	r->sq_entries = p.sq_entries;
	r->cq_entries = p.cq_entries;
	r->sqe_size = (p.flags & IORING_SETUP_SQE128) ? 128 : 64;
	r->cqe_size = (p.flags & IORING_SETUP_CQE32) ? 32 : 16;

	r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
	r->cq_map_len = p.cq_off.cqes + (size_t)p.cq_entries * r->cqe_size;
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		/* one mapping holds both rings (5.4+) */
		if (r->cq_map_len > r->sq_map_len)
			r->sq_map_len = r->cq_map_len;
		r->cq_map_len = 0;
	}
	r->sq_map = map_ring(r->fd, r->sq_map_len, IORING_OFF_SQ_RING);
	if (!r->sq_map)
		goto fail;
	r->cq_map = r->cq_map_len ? map_ring(r->fd, r->cq_map_len, IORING_OFF_CQ_RING) : r->sq_map;
	if (!r->cq_map)
		goto fail;
	r->sqes_map_len = (size_t)p.sq_entries * r->sqe_size;
	r->sqes = map_ring(r->fd, r->sqes_map_len, IORING_OFF_SQES);
	if (!r->sqes)
		goto fail;

	r->sq_head = RING_PTR(r->sq_map, p.sq_off.head);
	r->sq_tail = RING_PTR(r->sq_map, p.sq_off.tail);
	r->sq_mask = RING_PTR(r->sq_map, p.sq_off.ring_mask);
	r->sq_flags = RING_PTR(r->sq_map, p.sq_off.flags);
	r->sq_dropped = RING_PTR(r->sq_map, p.sq_off.dropped);
	r->sq_array = RING_PTR(r->sq_map, p.sq_off.array);
	r->cq_head = RING_PTR(r->cq_map, p.cq_off.head);
	r->cq_tail = RING_PTR(r->cq_map, p.cq_off.tail);
	r->cq_mask = RING_PTR(r->cq_map, p.cq_off.ring_mask);
	r->cq_overflow = RING_PTR(r->cq_map, p.cq_off.overflow);
	r->cqes = (unsigned char *)r->cq_map + p.cq_off.cqes;

	/* The SQ array is an indirection we do not use: slot i always names SQE i. */
	for (uint32_t i = 0; i < p.sq_entries; i++)
		r->sq_array[i] = i;
	r->sqe_tail = *r->sq_tail;
	return 0;
fail:
	err = -errno;
	nvt_ring_exit(r);
	return err ? err : -ENOMEM;
}

void nvt_ring_exit(struct nvt_ring *r)
{
	if (r->sqes)
		munmap(r->sqes, r->sqes_map_len);
	if (r->cq_map && r->cq_map != r->sq_map)
		munmap(r->cq_map, r->cq_map_len);
	if (r->sq_map)
		munmap(r->sq_map, r->sq_map_len);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

uint64_t nvt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Free SQ slots: entries neither prepared nor still unconsumed by the kernel. */
uint32_t nvt_sq_space(struct nvt_ring *r)
{
	return r->sq_entries - (r->sqe_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE));
}

/* SQEs prepared but not yet handed to the kernel. */
uint32_t nvt_sq_pending(struct nvt_ring *r)
{
	return r->sqe_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
}

uint32_t nvt_cq_ready(struct nvt_ring *r)
{
	return __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE) - *r->cq_head;
}

uint32_t nvt_sq_flags(struct nvt_ring *r)
{
	return __atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE);
}

/* CQEs the kernel had to drop (only when it could not allocate overflow entries). */
uint32_t nvt_cq_dropped(struct nvt_ring *r)
{
	return __atomic_load_n(r->cq_overflow, __ATOMIC_ACQUIRE);
}

/* The next free SQE, zeroed, or NULL when the SQ is full. The load engine fills its own in place. */
struct io_uring_sqe *nvt_get_sqe(struct nvt_ring *r)
{
	struct io_uring_sqe *sqe;

	if (r->sqe_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries)
		return NULL;
	sqe = (struct io_uring_sqe *)(r->sqes + (size_t)(r->sqe_tail & *r->sq_mask) * r->sqe_size);
	r->sqe_tail++;
	memset(sqe, 0, r->sqe_size);
	return sqe;
}

/* Returns 0, or -EBUSY when the SQ is full (submit, then retry). */
int nvt_prep_nop(struct nvt_ring *r, uint64_t user_data)
{
	struct io_uring_sqe *sqe = nvt_get_sqe(r);

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_NOP;
	sqe->user_data = user_data;
	return 0;
}

/* An IORING_OP_READ of `len` bytes at `offset` (-1: the file position) into `buf`. */
int nvt_prep_read(struct nvt_ring *r, int fd, void *buf, uint32_t len, uint64_t offset, uint64_t user_data)
{
	struct io_uring_sqe *sqe = nvt_get_sqe(r);

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_READ;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)buf;
	sqe->len = len;
	sqe->off = offset;
	sqe->user_data = user_data;
	return 0;
}

/* An IORING_OP_URING_CMD: `cmd` (up to 80 bytes, e.g. a struct nvme_uring_cmd) is copied into the
 * SQE, so the caller's copy may go as soon as this returns; the buffers it points to may not.
 * uring_cmd_flags IORING_URING_CMD_FIXED selects registered buffer `buf_index` for the data.
 * Returns 0, -EBUSY when the SQ is full, -EINVAL when cmd is too big. */
int nvt_prep_uring_cmd(struct nvt_ring *r, int fd, uint32_t cmd_op, const void *cmd, uint32_t cmd_len,
		       uint64_t user_data, uint32_t uring_cmd_flags, uint16_t buf_index)
{
	struct io_uring_sqe *sqe;

	if (cmd_len > NVT_CMD_MAX || r->sqe_size < NVT_SQE_SIZE)
		return -EINVAL;
	sqe = nvt_get_sqe(r);
	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	sqe->user_data = user_data;
	sqe->uring_cmd_flags = uring_cmd_flags;
	sqe->buf_index = buf_index;
	memcpy(sqe->cmd, cmd, cmd_len);
	return 0;
}

/* Completions wait in the kernel rather than in the CQ: overflowed CQEs, or (COOP_TASKRUN) task
 * work that will post them. Either is delivered only by an io_uring_enter with GETEVENTS. */
static int cq_needs_enter(struct nvt_ring *r)
{
	return (nvt_sq_flags(r) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
}

/* Hand the prepared SQEs to the kernel and optionally wait for min_complete completions.
 * Returns the number of SQEs the kernel consumed, or -errno (-EAGAIN / -EBUSY: reap, retry). */
int nvt_submit(struct nvt_ring *r, uint32_t min_complete, uint32_t flags)
{
	int ret;

	/* Publish the SQEs: their contents must be visible before the new tail. */
	__atomic_store_n(r->sq_tail, r->sqe_tail, __ATOMIC_RELEASE);
	if (min_complete || cq_needs_enter(r) || (r->setup_flags & IORING_SETUP_IOPOLL))
		flags |= IORING_ENTER_GETEVENTS;
	for (;;) {
		uint32_t to_submit = nvt_sq_pending(r);

		if (!to_submit && !(flags & IORING_ENTER_GETEVENTS))
			return 0;
		ret = sys_enter(r->fd, to_submit, min_complete, flags);
		if (ret >= 0)
			return ret;
		/* A signal or task work interrupted the wait: the SQEs were consumed (sq head tells). */
		if (errno != EINTR)
			return -errno;
		if (min_complete && nvt_cq_ready(r) >= min_complete)
			return 0;
	}
}

/* Copy up to `max` completions into `out`, oldest first; returns how many, or -errno when the
 * kernel refused to flush its overflow list (-EBADR: CQEs were dropped). Never leaves a completion
 * behind in the kernel while there is room in `out`. */
int nvt_reap(struct nvt_ring *r, struct nvt_completion *out, uint32_t max)
{
	uint32_t n = 0;
	uint64_t now = nvt_now_ns();

	for (;;) {
		uint32_t head = *r->cq_head; /* only we write it */
		uint32_t tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		uint32_t mask = *r->cq_mask;

		for (; head != tail && n < max; head++, n++) {
			const struct io_uring_cqe *cqe =
				(const struct io_uring_cqe *)(r->cqes + (size_t)(head & mask) * r->cqe_size);
			out[n].user_data = cqe->user_data;
			out[n].res = cqe->res;
			out[n].flags = cqe->flags;
			out[n].result = r->cqe_size >= NVT_CQE_SIZE ? cqe->big_cqe[0] : 0;
			out[n].time_ns = now;
		}
		/* The entries are copied: the kernel may reuse their slots. */
		__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
		if (n == max || !cq_needs_enter(r))
			return (int)n;
		/* The CQ is empty but the kernel holds more: let it flush them, then go round again. */
		int ret = sys_enter(r->fd, 0, 0, IORING_ENTER_GETEVENTS);
		if (ret < 0 && errno != EINTR)
			return n ? (int)n : -errno;
		if (nvt_cq_ready(r) == 0 && ret >= 0)
			return (int)n;
	}
}

int nvt_register_eventfd(struct nvt_ring *r, int efd)
{
	return sys_register(r->fd, IORING_REGISTER_EVENTFD, &efd, 1);
}

/* One registered buffer per iovec; sqe->buf_index picks one. */
int nvt_register_buffers(struct nvt_ring *r, const struct iovec *iov, uint32_t n)
{
	return sys_register(r->fd, IORING_REGISTER_BUFFERS, iov, n);
}

int nvt_unregister_buffers(struct nvt_ring *r)
{
	return sys_register(r->fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
}

/* 1 when the kernel supports opcode `op`, 0 when not, -errno when it cannot say. */
int nvt_probe_op(struct nvt_ring *r, uint32_t op)
{
	enum { NOPS = 256 };
	unsigned char storage[sizeof(struct io_uring_probe) + NOPS * sizeof(struct io_uring_probe_op)];
	struct io_uring_probe *probe = (struct io_uring_probe *)storage;
	int ret;

	memset(storage, 0, sizeof(storage));
	ret = sys_register(r->fd, IORING_REGISTER_PROBE, probe, NOPS);
	if (ret < 0)
		return ret;
	if (op > probe->last_op || op >= probe->ops_len)
		return 0;
	return (probe->ops[op].flags & IO_URING_OP_SUPPORTED) ? 1 : 0;
}
