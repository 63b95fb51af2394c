/*
 * ring_core.h: the io_uring and NVMe passthrough user ABI that nvtui uses, and the interface of
 * the small ring helpers in ring_core.c.
 *
 * Every layout and number below is the kernel's user ABI, written out here so the build needs
 * neither liburing nor recent kernel headers:
 *   - include/uapi/linux/io_uring.h   (struct io_uring_sqe, io_uring_cqe, io_uring_params, ...)
 *   - include/uapi/linux/nvme_ioctl.h (struct nvme_uring_cmd, NVME_URING_CMD_*)
 * tests/test_uring_host.py compiles a probe against this file and against the installed kernel
 * headers and compares every size, offset and constant.
 */
#ifndef NVT_RING_CORE_H
#define NVT_RING_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h> /* _IOWR */
#include <sys/uio.h>   /* struct iovec */

/* io_uring syscalls: include/uapi/asm-generic/unistd.h; one number on every architecture (5.1+). */
#define NVT_NR_io_uring_setup 425
#define NVT_NR_io_uring_enter 426
#define NVT_NR_io_uring_register 427

/* ---- include/uapi/linux/io_uring.h ---- */

struct io_uring_sqe {
	uint8_t opcode;
	uint8_t flags; /* IOSQE_* */
	uint16_t ioprio;
	int32_t fd;
	union {
		uint64_t off;
		struct {
			uint32_t cmd_op; /* IORING_OP_URING_CMD: the driver's command */
			uint32_t __pad1;
		};
	};
	uint64_t addr;
	uint32_t len;
	union {
		uint32_t rw_flags;
		uint32_t uring_cmd_flags; /* IORING_URING_CMD_FIXED */
	};
	uint64_t user_data;
	uint16_t buf_index; /* registered buffer, with IORING_URING_CMD_FIXED */
	uint16_t personality;
	uint32_t file_index;
	union {
		struct {
			uint64_t addr3;
			uint64_t __pad2[1];
		};
		uint8_t cmd[0]; /* uring_cmd payload: 16 bytes, or 80 with IORING_SETUP_SQE128 */
	};
};

struct io_uring_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
	uint64_t big_cqe[]; /* with IORING_SETUP_CQE32: 16 more bytes; NVMe puts its result in [0] */
};

struct io_sqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
	uint64_t resv2;
};

struct io_cqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
	uint64_t resv2;
};

struct io_uring_params {
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t flags;
	uint32_t sq_thread_cpu;
	uint32_t sq_thread_idle;
	uint32_t features;
	uint32_t wq_fd;
	uint32_t resv[3];
	struct io_sqring_offsets sq_off;
	struct io_cqring_offsets cq_off;
};

struct io_uring_probe_op {
	uint8_t op;
	uint8_t resv;
	uint16_t flags; /* IO_URING_OP_SUPPORTED */
	uint32_t resv2;
};

struct io_uring_probe {
	uint8_t last_op;
	uint8_t ops_len;
	uint16_t resv;
	uint32_t resv2[3];
	struct io_uring_probe_op ops[];
};

/* io_uring_setup() flags */
#define IORING_SETUP_IOPOLL (1U << 0)
#define IORING_SETUP_SQPOLL (1U << 1)
#define IORING_SETUP_CQSIZE (1U << 3)
#define IORING_SETUP_CLAMP (1U << 4)
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#define IORING_SETUP_SQE128 (1U << 10)
#define IORING_SETUP_CQE32 (1U << 11)
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)

/* opcodes (enum io_uring_op) */
#define IORING_OP_NOP 0
#define IORING_OP_READ_FIXED 4
#define IORING_OP_WRITE_FIXED 5
#define IORING_OP_READ 22
#define IORING_OP_WRITE 23
#define IORING_OP_URING_CMD 46

/* sqe->uring_cmd_flags */
#define IORING_URING_CMD_FIXED (1U << 0)

/* mmap offsets */
#define IORING_OFF_SQ_RING 0ULL
#define IORING_OFF_CQ_RING 0x8000000ULL
#define IORING_OFF_SQES 0x10000000ULL

/* sq_ring->flags */
#define IORING_SQ_NEED_WAKEUP (1U << 0)
#define IORING_SQ_CQ_OVERFLOW (1U << 1)
#define IORING_SQ_TASKRUN (1U << 2)

/* io_uring_enter() flags */
#define IORING_ENTER_GETEVENTS (1U << 0)
#define IORING_ENTER_SQ_WAKEUP (1U << 1)

/* io_uring_params->features */
#define IORING_FEAT_SINGLE_MMAP (1U << 0)
#define IORING_FEAT_NODROP (1U << 1)

/* io_uring_register() opcodes */
#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1
#define IORING_REGISTER_EVENTFD 4
#define IORING_UNREGISTER_EVENTFD 5
#define IORING_REGISTER_PROBE 8

#define IO_URING_OP_SUPPORTED (1U << 0)

/* cmd_op of IORING_OP_URING_CMD on a socket (enum in io_uring.h, Linux 6.7+) */
#define SOCKET_URING_OP_SIOCINQ 0

/* ---- include/uapi/linux/nvme_ioctl.h ---- */

struct nvme_uring_cmd {
	uint8_t opcode;
	uint8_t flags;
	uint16_t rsvd1;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t metadata;
	uint64_t addr;
	uint32_t metadata_len;
	uint32_t data_len;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
	uint32_t timeout_ms;
	uint32_t rsvd2;
};

/* The synchronous passthrough ioctl (NVME_IOCTL_IO_CMD): the driver fills `result` with DW0. */
struct nvme_passthru_cmd {
	uint8_t opcode;
	uint8_t flags;
	uint16_t rsvd1;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t metadata;
	uint64_t addr;
	uint32_t metadata_len;
	uint32_t data_len;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
	uint32_t timeout_ms;
	uint32_t result;
};

#define NVME_IOCTL_IO_CMD _IOWR('N', 0x43, struct nvme_passthru_cmd)
#define NVME_URING_CMD_IO _IOWR('N', 0x80, struct nvme_uring_cmd)
#define NVME_URING_CMD_IO_VEC _IOWR('N', 0x81, struct nvme_uring_cmd)
#define NVME_URING_CMD_ADMIN _IOWR('N', 0x82, struct nvme_uring_cmd)
#define NVME_URING_CMD_ADMIN_VEC _IOWR('N', 0x83, struct nvme_uring_cmd)

/* ---- nvtui's ring ---- */

#define NVT_SQE_SIZE 128 /* IORING_SETUP_SQE128: the size of every nvtui ring's SQEs but the block path's */
#define NVT_CQE_SIZE 32  /* IORING_SETUP_CQE32 */
#define NVT_CMD_MAX 80   /* bytes of uring_cmd payload in a 128-byte SQE */

/* Flags every nvtui ring gets: big entries for NVMe passthrough; task work run when the task
 * enters the kernel anyway (no IPI), with IORING_SQ_TASKRUN telling us when it is pending. */
#define NVT_SETUP_BASE (IORING_SETUP_SQE128 | IORING_SETUP_CQE32)
#define NVT_SETUP_COOP (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG)

struct nvt_ring {
	int fd;
	uint32_t setup_flags;
	uint32_t features;
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t sqe_size; /* 128 with IORING_SETUP_SQE128, else 64 */
	uint32_t cqe_size; /* 32 with IORING_SETUP_CQE32, else 16 */
	/* shared with the kernel */
	uint32_t *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_dropped, *sq_array;
	uint32_t *cq_head, *cq_tail, *cq_mask, *cq_overflow;
	unsigned char *sqes;
	unsigned char *cqes;
	/* ours: SQEs filled up to here; published to *sq_tail by nvt_submit */
	uint32_t sqe_tail;
	void *sq_map, *cq_map;
	size_t sq_map_len, cq_map_len, sqes_map_len;
};

/* One reaped completion. */
struct nvt_completion {
	uint64_t user_data;
	int32_t res;      /* NVMe status field (>= 0) or -errno */
	uint32_t flags;   /* cqe->flags */
	uint64_t result;  /* big_cqe[0]: the NVMe completion's DW0 | DW1 << 32 */
	uint64_t time_ns; /* CLOCK_MONOTONIC when reaped */
};

int nvt_ring_init(struct nvt_ring *r, uint32_t entries, uint32_t cq_entries, uint32_t flags);
int nvt_ring_init_raw(struct nvt_ring *r, uint32_t entries, uint32_t cq_entries, uint32_t flags,
		      uint32_t sq_thread_idle_ms);
void nvt_ring_exit(struct nvt_ring *r);
uint64_t nvt_now_ns(void);
uint32_t nvt_sq_space(struct nvt_ring *r);
uint32_t nvt_sq_pending(struct nvt_ring *r);
uint32_t nvt_cq_ready(struct nvt_ring *r);
uint32_t nvt_sq_flags(struct nvt_ring *r);
uint32_t nvt_cq_dropped(struct nvt_ring *r);
struct io_uring_sqe *nvt_get_sqe(struct nvt_ring *r);
int nvt_prep_nop(struct nvt_ring *r, uint64_t user_data);
int nvt_prep_read(struct nvt_ring *r, int fd, void *buf, uint32_t len, uint64_t offset, uint64_t user_data);
int nvt_prep_uring_cmd(struct nvt_ring *r, int fd, uint32_t cmd_op, const void *cmd, uint32_t cmd_len,
		       uint64_t user_data, uint32_t uring_cmd_flags, uint16_t buf_index);
int nvt_submit(struct nvt_ring *r, uint32_t min_complete, uint32_t flags);
int nvt_reap(struct nvt_ring *r, struct nvt_completion *out, uint32_t max);
int nvt_register_eventfd(struct nvt_ring *r, int efd);
int nvt_register_buffers(struct nvt_ring *r, const struct iovec *iov, uint32_t n);
int nvt_unregister_buffers(struct nvt_ring *r);
int nvt_probe_op(struct nvt_ring *r, uint32_t op);


/* ---- the load engine (engine.c): a batched submit/reap loop with every I/O timed in C ---- */

/* Latency histogram: nvtui.stats's log-linear layout (SUB_BITS, MAX_SHIFT, BUCKETS there; engine.py
 * refuses to load when these differ, tests compare nvt_hist_bucket with stats.bucket_of). Values below
 * 32 ns get a bucket each; above, 32 buckets per power of two (about 3 % wide): bucket i >= 32 holds
 * [m << s, (m + 1) << s) with s = i / 32 - 1, m = 32 + i % 32. Values past 2**(MAX_SHIFT + 6) clamp. */
#define NVT_HIST_SUB_BITS 5
#define NVT_HIST_MAX_SHIFT 40
#define NVT_HIST_BUCKETS ((NVT_HIST_MAX_SHIFT + 2) << NVT_HIST_SUB_BITS)
#define NVT_ENGINE_MAX_QD 4096

/* How the engine reaches the device. */
#define NVT_IF_URING_CMD 0 /* IORING_OP_URING_CMD on the namespace's char device (a ring with SQE128, CQE32) */
#define NVT_IF_BLOCK 1     /* IORING_OP_READ/WRITE(_FIXED) on the block device opened O_DIRECT (a plain ring) */
#define NVT_IF_IOCTL 2     /* NVME_IOCTL_IO_CMD on the char device from `qd` threads, one I/O each; no ring */
#define NVT_ENGINE_MAX_TARGETS 256

/* One target of a run: a namespace and what to keep in flight on it. A run drives up to
 * NVT_ENGINE_MAX_TARGETS of them on one ring (their depths add up); `interface`, `batch` and `nop` must be
 * the same for all. */
struct nvt_engine_params {
	int fd;                  /* the char device (uring_cmd, ioctl) or the block device (block) */
	uint32_t nsid;
	uint32_t opcode;         /* 0x02 read, 0x01 write */
	uint32_t random;         /* 1: uniformly random offsets; 0: sequential, wrapping */
	uint32_t lba_size;       /* bytes per LBA (data only) */
	uint32_t block_size;     /* bytes per I/O, a multiple of lba_size */
	uint32_t metadata_size;  /* separate metadata bytes per LBA, 0 when none (passthrough only) */
	uint32_t qd;             /* I/Os kept in flight on this target */
	uint32_t fixed;          /* 1: slot i uses registered buffer buf_base + i */
	uint32_t stop_on_errno;  /* 1: after an I/O the kernel fails (-errno), issue no more; drain and return */
	uint32_t nop;            /* 1: IORING_OP_NOPs instead of I/O (the ring's own cost; no device) */
	uint32_t interface;      /* NVT_IF_* */
	uint32_t batch;          /* 0: every SQE queued by a round of completions goes in one io_uring_enter,
				  * which also waits; 1: each SQE gets an enter of its own (fio's default) */
	uint32_t buf_base;       /* the registered buffer of slot 0 (fixed) */
	uint64_t first_lba;
	uint64_t lba_count;      /* the region: [first_lba, first_lba + lba_count) */
	uint64_t duration_ns;
	uint64_t max_ios;        /* stop after this many (0: only the duration counts) */
	uint64_t seed;           /* random: the generator's state (0: a fixed default) */
	uint64_t position;       /* sequential: the I/O-sized position to start at */
	unsigned char *buffers;  /* qd * block_size bytes: slot i at i * block_size */
	unsigned char *metadata; /* qd * (block_size / lba_size) * metadata_size bytes, or NULL */
};

/* One target's outcome. `enters` and `elapsed_ns` are the run's, the same in every target's. */
struct nvt_engine_result {
	uint64_t ios;
	uint64_t errors;          /* completions with a non-zero status or -errno */
	int32_t first_error;      /* res of the first of them */
	uint32_t pad;
	uint64_t bytes;
	uint64_t elapsed_ns;
	uint64_t lat_min_ns, lat_max_ns, lat_sum_ns;
	uint64_t enters;          /* io_uring_enter calls */
	uint64_t next_seed;       /* params for a following run that continues this one's offsets */
	uint64_t next_position;
	uint64_t hist[NVT_HIST_BUCKETS];
};

uint32_t nvt_hist_bucket(uint64_t ns);
/* Runs `n` targets on ring `r` (NULL for NVT_IF_IOCTL) until every target's duration or max_ios is
 * reached and every I/O reaped; fills out[0..n). Returns 0 (failed I/Os are in out[k].errors) or -errno
 * when the ring or the run itself failed (-EINVAL: parameters the ring cannot take). */
int nvt_engine_run(struct nvt_ring *r, const struct nvt_engine_params *p, uint32_t n, struct nvt_engine_result *out);

#endif
