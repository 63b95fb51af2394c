/*
 * engine.c: the load engine. Keeps `qd` NVMe reads or writes in flight per target for a duration and
 * times every I/O in C: a Python loop that touches each I/O reaches a third to a half of what the device
 * does (tests/vm figures), this does not.
 *
 * Three ways to the device (params.interface), the rungs of `nvtui bench --ladder`:
 *   - uring_cmd: IORING_OP_URING_CMD on the namespace's char device (the passthrough path);
 *   - block: IORING_OP_READ/WRITE (or their _FIXED forms) on the block device opened O_DIRECT;
 *   - ioctl: the synchronous NVME_IOCTL_IO_CMD from `qd` threads, one I/O in flight each.
 * The ring's own setup says the rest: IOPOLL (the enter polls), SQPOLL (a kernel thread takes the SQ and
 * the engine only fills it, then spins on the CQ as fio does). `batch` says whether every SQE gets an
 * io_uring_enter of its own (fio's default, iodepth_batch_submit=1) or a round of them shares one.
 *
 * A ring interface runs on the thread that calls it (completions are that thread's task work), and can
 * drive several targets (namespaces) at once, each with its own depth, region and counters.
 * With `nop` set it keeps IORING_OP_NOPs in flight instead, timed the same way: the ring's own cost,
 * measured on any machine (benchmarks/host_ring.py).
 */
#define _GNU_SOURCE
#include "ring_core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

uint32_t nvt_hist_bucket(uint64_t ns)
{
	const uint32_t sub = 1U << NVT_HIST_SUB_BITS;
	uint32_t shift;

	if (ns < sub)
		return (uint32_t)ns;
	shift = (63 - (uint32_t)__builtin_clzll(ns)) - NVT_HIST_SUB_BITS;
	if (shift > NVT_HIST_MAX_SHIFT)
		return NVT_HIST_BUCKETS - 1;
	return (shift + 1) * sub + (uint32_t)((ns >> shift) - sub);
}

static uint64_t next_random(uint64_t *state)
{
	/* xorshift64* (Vigna) */
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void account(struct nvt_engine_result *out, int32_t res, uint64_t latency, uint32_t bytes)
{
	out->ios++;
	if (res != 0) {
		if (!out->errors)
			out->first_error = res;
		out->errors++;
	} else {
		out->bytes += bytes;
	}
	out->lat_sum_ns += latency;
	if (latency < out->lat_min_ns)
		out->lat_min_ns = latency;
	if (latency > out->lat_max_ns)
		out->lat_max_ns = latency;
	out->hist[nvt_hist_bucket(latency)]++;
}

struct target {
	const struct nvt_engine_params *p;
	struct nvt_engine_result *out;
	uint32_t base;            /* this target's first slot on the ring */
	uint32_t lbas_per_io;
	uint32_t md_len;          /* metadata bytes per I/O */
	uint64_t slots_in_region; /* I/O-sized positions in the region */
	uint64_t next_seq;
	uint64_t rng;
	uint64_t issued;
	uint64_t deadline;
	int failed;               /* the kernel failed an I/O (a -errno, e.g. the device went away) */
};

/* The region and generator of target `p`; -EINVAL when they make no sense. */
static int target_init(struct target *t, const struct nvt_engine_params *p, struct nvt_engine_result *out)
{
	memset(t, 0, sizeof(*t));
	memset(out, 0, sizeof(*out));
	out->lat_min_ns = UINT64_MAX;
	t->p = p;
	t->out = out;
	t->rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ULL;
	t->next_seq = p->position;
	if (!p->qd)
		return -EINVAL;
	if (p->nop) {
		t->slots_in_region = 1;
		return 0;
	}
	if (!p->lba_size || !p->block_size || p->block_size % p->lba_size || !p->buffers ||
	    (p->metadata_size && !p->metadata))
		return -EINVAL;
	t->lbas_per_io = p->block_size / p->lba_size;
	t->md_len = t->lbas_per_io * p->metadata_size;
	t->slots_in_region = p->lba_count / t->lbas_per_io;
	if (!t->slots_in_region || t->lbas_per_io > 65536)
		return -EINVAL;
	return 0;
}

static void target_finish(struct target *t, uint64_t elapsed, uint64_t enters)
{
	t->out->elapsed_ns = elapsed;
	t->out->enters = enters;
	t->out->next_seed = t->rng;
	t->out->next_position = t->next_seq % t->slots_in_region;
	if (!t->out->ios)
		t->out->lat_min_ns = 0;
}

static uint64_t next_slba(struct target *t)
{
	const struct nvt_engine_params *p = t->p;
	uint64_t position = p->random ? next_random(&t->rng) % t->slots_in_region : t->next_seq++ % t->slots_in_region;

	return p->first_lba + position * t->lbas_per_io;
}

/* ---- the ring interfaces: uring_cmd and block ---- */

struct engine {
	struct nvt_ring *r;
	struct target *t;
	uint32_t n;
	uint32_t interface;
	uint32_t batch;
	int iopoll, sqpoll;
	uint64_t enters;
	uint64_t *started; /* per ring slot: CLOCK_MONOTONIC at submission */
};

/* Fills the SQE in place (no command built aside and copied in: under TCG every extra memset or
 * memcpy of a vector width is emulated and shows in the IOPS). user_data: target << 32 | ring slot. */
static int queue_io(struct engine *e, uint32_t k, uint32_t slot, uint64_t now)
{
	struct target *t = &e->t[k];
	const struct nvt_engine_params *p = t->p;
	struct io_uring_sqe *sqe = nvt_get_sqe(e->r);
	uint32_t local = slot - t->base;
	unsigned char *buf;
	uint64_t slba;

	if (!sqe)
		return -EBUSY;
	e->started[slot] = now;
	sqe->user_data = (uint64_t)k << 32 | slot;
	t->issued++;
	if (p->nop) {
		sqe->opcode = IORING_OP_NOP; /* the rest of the SQE is zeroed by nvt_get_sqe */
		return 0;
	}
	slba = next_slba(t);
	buf = p->buffers + (size_t)local * p->block_size;
	sqe->fd = p->fd;
	if (e->interface == NVT_IF_BLOCK) {
		int read = p->opcode == 0x02;

		if (p->fixed) {
			sqe->opcode = read ? IORING_OP_READ_FIXED : IORING_OP_WRITE_FIXED;
			sqe->buf_index = (uint16_t)(p->buf_base + local);
		} else {
			sqe->opcode = read ? IORING_OP_READ : IORING_OP_WRITE;
		}
		sqe->addr = (uint64_t)(uintptr_t)buf;
		sqe->len = p->block_size;
		sqe->off = slba * p->lba_size;
		return 0;
	}
	struct nvme_uring_cmd *cmd = (struct nvme_uring_cmd *)sqe->cmd; /* zeroed with the SQE */

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->cmd_op = NVME_URING_CMD_IO;
	if (p->fixed) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = (uint16_t)(p->buf_base + local);
	}
	cmd->opcode = (uint8_t)p->opcode;
	cmd->nsid = p->nsid;
	cmd->addr = (uint64_t)(uintptr_t)buf;
	cmd->data_len = p->block_size;
	if (t->md_len) {
		cmd->metadata = (uint64_t)(uintptr_t)(p->metadata + (size_t)local * t->md_len);
		cmd->metadata_len = t->md_len;
	}
	cmd->cdw10 = (uint32_t)slba;
	cmd->cdw11 = (uint32_t)(slba >> 32);
	cmd->cdw12 = t->lbas_per_io - 1; /* NLB, 0-based */
	return 0;
}

static int sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags)
{
	int ret = (int)syscall(NVT_NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);

	return ret < 0 ? -errno : ret;
}

/* Hands the queued SQEs to the kernel; with `wait`, also waits for (IOPOLL: polls for) at least one
 * completion, in the same enter. The enter also runs pending task work, so the CQ is read straight after
 * it, without nvt_reap's extra enter for IORING_SQ_TASKRUN: what that would flush, the next enter
 * delivers. SQPOLL: the kernel thread takes the SQEs; an enter only wakes it when it went to sleep, and
 * the caller spins on the CQ for completions (the thread itself polls an IOPOLL ring). */
static int ring_enter(struct engine *e, int wait)
{
	struct nvt_ring *r = e->r;
	uint32_t to_submit, flags = 0;
	int ret;

	__atomic_store_n(r->sq_tail, r->sqe_tail, __ATOMIC_RELEASE); /* the SQEs are filled: publish them */
	if (e->sqpoll) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the tail store before the flags load (liburing) */
		if (!(nvt_sq_flags(r) & IORING_SQ_NEED_WAKEUP))
			return 0;
		ret = sys_enter(r->fd, 0, 0, IORING_ENTER_SQ_WAKEUP);
		e->enters++;
		return ret < 0 && ret != -EINTR ? ret : 0;
	}
	to_submit = nvt_sq_pending(r);
	if (wait || e->iopoll || (nvt_sq_flags(r) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
		flags = IORING_ENTER_GETEVENTS;
	if (!to_submit && !flags)
		return 0;
	ret = sys_enter(r->fd, to_submit, wait ? 1 : 0, flags);
	e->enters++;
	/* EINTR: a signal cut the wait short; EAGAIN / EBUSY: the kernel wants completions reaped first. */
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY ? ret : 0;
}

static int may_issue(const struct target *t, uint64_t now)
{
	return !t->failed && now < t->deadline && (!t->p->max_ios || t->issued < t->p->max_ios);
}

static int run_ring(struct engine *e)
{
	struct nvt_ring *r = e->r;
	uint64_t begin, now, in_flight = 0;
	int ret = 0;

	begin = now = nvt_now_ns();
	for (uint32_t k = 0; k < e->n; k++)
		e->t[k].deadline = begin + e->t[k].p->duration_ns;
	for (uint32_t k = 0; k < e->n && !ret; k++) {
		struct target *t = &e->t[k];

		for (uint32_t slot = t->base; slot < t->base + t->p->qd && may_issue(t, now); slot++) {
			if (queue_io(e, k, slot, now) < 0)
				break;
			in_flight++;
			if (e->batch == 1 && (ret = ring_enter(e, 0)) < 0)
				break;
		}
	}
	while (in_flight && !ret) {
		uint32_t head = *r->cq_head; /* only we write it */
		uint32_t tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		uint32_t mask;

		/* Batched: submit the last round's SQEs and wait in one enter (it returns at once when
		 * completions are already there). One SQE per enter: they are all in; wait only on an empty CQ. */
		if (e->batch != 1 || head == tail) {
			if ((ret = ring_enter(e, 1)) < 0)
				break;
			tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		}
		if (head == tail)
			continue;
		mask = *r->cq_mask;
		now = nvt_now_ns(); /* one clock read per batch: every I/O reaped here completed by now */
		for (; head != tail; head++) {
			const struct io_uring_cqe *cqe =
				(const struct io_uring_cqe *)(r->cqes + (size_t)(head & mask) * r->cqe_size);
			uint32_t k = (uint32_t)(cqe->user_data >> 32);
			uint32_t slot = (uint32_t)cqe->user_data;
			struct target *t = &e->t[k];
			int32_t res = cqe->res;

			in_flight--;
			/* The block path answers a read or write with the bytes moved; passthrough with the NVMe
			 * status (0: success). Either way a negative value is an errno. */
			if (e->interface == NVT_IF_BLOCK && !t->p->nop)
				res = res == (int32_t)t->p->block_size ? 0 : res < 0 ? res : -EIO;
			account(t->out, res, now - e->started[slot], t->p->nop ? 0 : t->p->block_size);
			/* An errno is not the device's answer but the kernel's: issuing more would only spin on it
			 * (a hot-unplugged device fails every I/O at once). Drain what is in flight. */
			if (res < 0 && t->p->stop_on_errno && !t->failed) {
				t->failed = 1;
				t->out->first_error = res;
			}
			if (may_issue(t, now) && queue_io(e, k, slot, now) == 0) {
				in_flight++;
				if (e->batch == 1) {
					__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
					if ((ret = ring_enter(e, 0)) < 0)
						break;
				}
			}
		}
		/* The entries are read: the kernel may reuse their slots. */
		__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	}
	/* A failed ring leaves I/Os in flight: the caller must not free their buffers (engine.py closes the
	 * ring first, which waits for them). */
	for (uint32_t k = 0; k < e->n; k++)
		target_finish(&e->t[k], nvt_now_ns() - begin, e->enters);
	return ret;
}

/* ---- the ioctl interface: synchronous passthrough from one thread per I/O in flight ---- */

struct ioctl_worker {
	pthread_t thread;
	struct target *t;       /* shared by the target's workers: only the atomics below are written */
	uint32_t index;         /* within the target: its buffer slot */
	uint64_t rng;
	struct nvt_engine_result out;
};

static void *ioctl_worker_main(void *arg)
{
	struct ioctl_worker *w = arg;
	struct target *t = w->t;
	const struct nvt_engine_params *p = t->p;
	unsigned char *buf = p->buffers + (size_t)w->index * p->block_size;
	unsigned char *md = t->md_len ? p->metadata + (size_t)w->index * t->md_len : NULL;

	for (;;) {
		struct nvme_passthru_cmd cmd;
		uint64_t start = nvt_now_ns(), slba, position;
		int32_t res;

		if (start >= t->deadline || __atomic_load_n(&t->failed, __ATOMIC_RELAXED))
			break;
		if (p->max_ios && __atomic_fetch_add(&t->issued, 1, __ATOMIC_RELAXED) >= p->max_ios)
			break;
		position = p->random ? next_random(&w->rng) % t->slots_in_region
				     : __atomic_fetch_add(&t->next_seq, 1, __ATOMIC_RELAXED) % t->slots_in_region;
		slba = p->first_lba + position * t->lbas_per_io;
		memset(&cmd, 0, sizeof(cmd));
		cmd.opcode = (uint8_t)p->opcode;
		cmd.nsid = p->nsid;
		cmd.addr = (uint64_t)(uintptr_t)buf;
		cmd.data_len = p->block_size;
		if (md) {
			cmd.metadata = (uint64_t)(uintptr_t)md;
			cmd.metadata_len = t->md_len;
		}
		cmd.cdw10 = (uint32_t)slba;
		cmd.cdw11 = (uint32_t)(slba >> 32);
		cmd.cdw12 = t->lbas_per_io - 1;
		res = ioctl(p->fd, NVME_IOCTL_IO_CMD, &cmd); /* >= 0: the NVMe status; -1: errno */
		if (res < 0)
			res = -errno;
		account(&w->out, res, nvt_now_ns() - start, p->block_size);
		if (res < 0 && p->stop_on_errno && !__atomic_exchange_n(&t->failed, 1, __ATOMIC_RELAXED))
			w->out.first_error = res;
	}
	return NULL;
}

static void merge_result(struct nvt_engine_result *into, const struct nvt_engine_result *from)
{
	if (from->errors && !into->errors)
		into->first_error = from->first_error;
	into->ios += from->ios;
	into->errors += from->errors;
	into->bytes += from->bytes;
	into->lat_sum_ns += from->lat_sum_ns;
	if (from->ios && from->lat_min_ns < into->lat_min_ns)
		into->lat_min_ns = from->lat_min_ns;
	if (from->lat_max_ns > into->lat_max_ns)
		into->lat_max_ns = from->lat_max_ns;
	for (uint32_t i = 0; i < NVT_HIST_BUCKETS; i++)
		into->hist[i] += from->hist[i];
}

static int run_ioctl(struct target *targets, uint32_t n)
{
	struct ioctl_worker *workers;
	uint32_t total = 0, started = 0;
	uint64_t begin;
	int ret = 0;

	for (uint32_t k = 0; k < n; k++)
		total += targets[k].p->qd;
	workers = calloc(total, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	begin = nvt_now_ns();
	for (uint32_t k = 0, w = 0; k < n; k++) {
		struct target *t = &targets[k];

		t->deadline = begin + t->p->duration_ns;
		for (uint32_t i = 0; i < t->p->qd; i++, w++) {
			workers[w].t = t;
			workers[w].index = i;
			/* each thread its own sequence, all derived from the target's seed */
			workers[w].rng = t->rng ^ (0x9E3779B97F4A7C15ULL * (i + 1));
			if (!workers[w].rng)
				workers[w].rng = 1;
			workers[w].out.lat_min_ns = UINT64_MAX;
		}
	}
	for (; started < total; started++) {
		int err = pthread_create(&workers[started].thread, NULL, ioctl_worker_main, &workers[started]);

		if (err) {
			ret = -err;
			for (uint32_t k = 0; k < n; k++)
				__atomic_store_n(&targets[k].failed, 1, __ATOMIC_RELAXED); /* stop those running */
			break;
		}
	}
	for (uint32_t w = 0; w < started; w++) {
		pthread_join(workers[w].thread, NULL);
		merge_result(workers[w].t->out, &workers[w].out);
	}
	for (uint32_t k = 0; k < n; k++) {
		/* the next slice's threads start from new sequences */
		next_random(&targets[k].rng);
		target_finish(&targets[k], nvt_now_ns() - begin, 0);
	}
	free(workers);
	return ret;
}

/* ---- the entry ---- */

int nvt_engine_run(struct nvt_ring *r, const struct nvt_engine_params *p, uint32_t n, struct nvt_engine_result *out)
{
	struct target targets[NVT_ENGINE_MAX_TARGETS];
	uint64_t started[NVT_ENGINE_MAX_QD];
	struct engine e;
	uint32_t total = 0;
	int ret;

	if (!n || n > NVT_ENGINE_MAX_TARGETS)
		return -EINVAL;
	for (uint32_t k = 0; k < n; k++) {
		if (p[k].interface != p[0].interface || p[k].batch != p[0].batch || p[k].nop != p[0].nop ||
		    p[k].interface > NVT_IF_IOCTL)
			return -EINVAL;
		ret = target_init(&targets[k], &p[k], &out[k]);
		if (ret < 0)
			return ret;
		targets[k].base = total;
		total += p[k].qd;
	}
	if (total > NVT_ENGINE_MAX_QD)
		return -EINVAL;
	if (p[0].interface == NVT_IF_IOCTL)
		return p[0].nop ? -EINVAL : run_ioctl(targets, n);
	if (!r || total > r->sq_entries || total > r->cq_entries)
		return -EINVAL;
	/* passthrough needs the big entries; the block path takes either */
	if (p[0].interface == NVT_IF_URING_CMD && !p[0].nop && (r->sqe_size < NVT_SQE_SIZE || r->cqe_size < NVT_CQE_SIZE))
		return -EINVAL;
	memset(&e, 0, sizeof(e));
	e.r = r;
	e.t = targets;
	e.n = n;
	e.interface = p[0].interface;
	e.batch = p[0].batch;
	e.iopoll = (r->setup_flags & IORING_SETUP_IOPOLL) != 0;
	e.sqpoll = (r->setup_flags & IORING_SETUP_SQPOLL) != 0;
	e.started = started;
	return run_ring(&e);
}
