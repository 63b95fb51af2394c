/*
 * engine.c: the load engine. Keeps `qd` NVMe reads or writes in flight on one ring for a duration,
 * submitting and reaping in batches, and times every I/O in C: a Python loop that touches each I/O
 * reaches a third to a half of what the device does (tests/vm figures), this does not.
 *
 * It runs on its own ring, on the thread that calls it (completions are that thread's task work).
 * With `nop` set it keeps IORING_OP_NOPs in flight instead, timed the same way: the ring's own cost,
 * measured on any machine (benchmarks/host_ring.py).
 */
#include "ring_core.h"

#include <errno.h>
#include <string.h>

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

struct engine {
	struct nvt_ring *r;
	const struct nvt_engine_params *p;
	uint32_t lbas_per_io;
	uint64_t slots_in_region; /* I/O-sized positions in the region */
	uint64_t next_seq;
	uint64_t rng;
	uint64_t *started;        /* per slot: CLOCK_MONOTONIC at submission */
	int failed;               /* the kernel failed an I/O (a -errno, e.g. the device went away) */
};

/* Fills the SQE in place (no command built aside and copied in: under TCG every extra memset or
 * memcpy of a vector width is emulated and shows in the IOPS). */
static int queue_io(struct engine *e, uint32_t slot, uint64_t now)
{
	const struct nvt_engine_params *p = e->p;
	struct io_uring_sqe *sqe = nvt_get_sqe(e->r);
	struct nvme_uring_cmd *cmd;
	uint64_t position, slba;
	uint32_t md_len = e->lbas_per_io * p->metadata_size;

	if (!sqe)
		return -EBUSY;
	e->started[slot] = now;
	if (p->nop) {
		sqe->opcode = IORING_OP_NOP; /* the rest of the SQE is zeroed by nvt_get_sqe */
		sqe->user_data = slot;
		return 0;
	}
	position = p->random ? next_random(&e->rng) % e->slots_in_region : e->next_seq++ % e->slots_in_region;
	slba = p->first_lba + position * e->lbas_per_io;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = p->fd;
	sqe->cmd_op = NVME_URING_CMD_IO;
	sqe->user_data = slot;
	if (p->fixed) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = (uint16_t)slot;
	}
	cmd = (struct nvme_uring_cmd *)sqe->cmd; /* zeroed with the SQE */
	cmd->opcode = (uint8_t)p->opcode;
	cmd->nsid = p->nsid;
	cmd->addr = (uint64_t)(uintptr_t)(p->buffers + (size_t)slot * p->block_size);
	cmd->data_len = p->block_size;
	if (md_len) {
		cmd->metadata = (uint64_t)(uintptr_t)(p->metadata + (size_t)slot * md_len);
		cmd->metadata_len = md_len;
	}
	cmd->cdw10 = (uint32_t)slba;
	cmd->cdw11 = (uint32_t)(slba >> 32);
	cmd->cdw12 = e->lbas_per_io - 1; /* NLB, 0-based */
	return 0;
}

/* Returns 0 (see out->errors for failed I/Os) or -errno when the ring itself failed. */
int nvt_engine_run(struct nvt_ring *r, const struct nvt_engine_params *p, struct nvt_engine_result *out)
{
	uint64_t started[NVT_ENGINE_MAX_QD];
	struct engine e;
	uint64_t begin, deadline, now, in_flight = 0, issued = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!p->qd || p->qd > r->sq_entries || p->qd > r->cq_entries || p->qd > NVT_ENGINE_MAX_QD)
		return -EINVAL;
	if (!p->nop && (!p->lba_size || !p->block_size || p->block_size % p->lba_size || !p->buffers ||
			(p->metadata_size && !p->metadata)))
		return -EINVAL;
	memset(&e, 0, sizeof(e));
	e.r = r;
	e.p = p;
	e.rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ULL;
	e.next_seq = p->position;
	e.started = started;
	if (p->nop) {
		e.slots_in_region = 1;
	} else {
		e.lbas_per_io = p->block_size / p->lba_size;
		e.slots_in_region = p->lba_count / e.lbas_per_io;
		if (!e.slots_in_region || e.lbas_per_io > 65536)
			return -EINVAL;
	}
	out->lat_min_ns = UINT64_MAX;

	begin = now = nvt_now_ns();
	deadline = begin + p->duration_ns;
	for (uint32_t slot = 0; slot < p->qd && (!p->max_ios || issued < p->max_ios); slot++) {
		if (queue_io(&e, slot, now) < 0)
			break;
		in_flight++;
		issued++;
	}
	while (in_flight) {
		uint32_t head, tail, mask;

		/* Submit whatever was queued and wait for at least one completion (IOPOLL: poll for it). The
		 * enter also runs pending task work, so the CQ is read straight after it, without nvt_reap's
		 * extra enter for IORING_SQ_TASKRUN: what that would flush, the next enter delivers. No CQE can
		 * overflow: at most qd <= the CQ's size are in flight. */
		ret = nvt_submit(r, 1, 0);
		out->enters++;
		if (ret < 0 && ret != -EAGAIN && ret != -EBUSY)
			break;
		ret = 0;
		head = *r->cq_head; /* only we write it */
		tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		if (head == tail)
			continue;
		mask = *r->cq_mask;
		now = nvt_now_ns(); /* one clock read per batch: every I/O reaped here completed by now */
		for (; head != tail; head++) {
			const struct io_uring_cqe *cqe =
				(const struct io_uring_cqe *)(r->cqes + (size_t)(head & mask) * NVT_CQE_SIZE);
			uint32_t slot = (uint32_t)cqe->user_data;
			uint64_t latency = now - e.started[slot];

			in_flight--;
			out->ios++;
			if (cqe->res != 0) {
				if (!out->errors)
					out->first_error = cqe->res;
				out->errors++;
				/* An errno is not the device's answer but the kernel's: issuing more would only spin
				 * on it (a hot-unplugged device fails every I/O at once). Drain what is in flight. */
				if (cqe->res < 0 && p->stop_on_errno && !e.failed) {
					e.failed = 1;
					out->first_error = cqe->res;
				}
			} else if (!p->nop) {
				out->bytes += p->block_size;
			}
			out->lat_sum_ns += latency;
			if (latency < out->lat_min_ns)
				out->lat_min_ns = latency;
			if (latency > out->lat_max_ns)
				out->lat_max_ns = latency;
			out->hist[nvt_hist_bucket(latency)]++;
			if (!e.failed && now < deadline && (!p->max_ios || issued < p->max_ios) &&
			    queue_io(&e, slot, now) == 0) {
				in_flight++;
				issued++;
			}
		}
		/* The entries are read: the kernel may reuse their slots. */
		__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	}
	out->elapsed_ns = nvt_now_ns() - begin;
	out->next_seed = e.rng;
	out->next_position = e.next_seq % e.slots_in_region;
	if (!out->ios)
		out->lat_min_ns = 0;
	return ret;
}
