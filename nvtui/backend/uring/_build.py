"""cffi build script (API mode) for `nvtui.backend.uring._ring`, the C ring helpers in ring_core.c.

setup.py names it in `cffi_modules`, so `pip install` compiles it. The C carries its own copy of the
io_uring / nvme_ioctl ABI (ring_core.h): no liburing, no dependence on the kernel headers' age.
"""

from __future__ import annotations

import os

from cffi import FFI  # type: ignore[import-untyped]

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
#define NVT_SETUP_BASE ...
#define NVT_SETUP_COOP ...
#define NVT_SQE_SIZE ...
#define NVT_CQE_SIZE ...
#define NVT_CMD_MAX ...
#define IORING_SETUP_IOPOLL ...
#define IORING_SETUP_SQPOLL ...
#define IORING_SETUP_CQSIZE ...
#define IORING_SETUP_COOP_TASKRUN ...
#define IORING_SETUP_TASKRUN_FLAG ...
#define IORING_SETUP_SQE128 ...
#define IORING_SETUP_CQE32 ...
#define IORING_SETUP_SINGLE_ISSUER ...
#define IORING_SETUP_DEFER_TASKRUN ...
#define IORING_OP_NOP ...
#define IORING_OP_READ ...
#define IORING_OP_URING_CMD ...
#define IORING_URING_CMD_FIXED ...
#define IORING_SQ_CQ_OVERFLOW ...
#define IORING_SQ_TASKRUN ...
#define IORING_ENTER_GETEVENTS ...
#define IORING_FEAT_SINGLE_MMAP ...
#define IORING_FEAT_NODROP ...
#define SOCKET_URING_OP_SIOCINQ ...
#define NVME_URING_CMD_IO ...
#define NVME_URING_CMD_IO_VEC ...
#define NVME_URING_CMD_ADMIN ...

struct iovec { void *iov_base; size_t iov_len; };

struct nvt_ring {
    int fd;
    uint32_t setup_flags;
    uint32_t features;
    uint32_t sq_entries;
    uint32_t cq_entries;
    uint32_t sqe_size;
    uint32_t cqe_size;
    ...;
};

struct nvt_completion {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
    uint64_t result;
    uint64_t time_ns;
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

#define NVT_HIST_SUB_BITS ...
#define NVT_HIST_MAX_SHIFT ...
#define NVT_HIST_BUCKETS ...
#define NVT_ENGINE_MAX_QD ...
#define NVT_ENGINE_MAX_TARGETS ...
#define NVT_IF_URING_CMD ...
#define NVT_IF_BLOCK ...
#define NVT_IF_IOCTL ...

struct nvt_engine_params {
    int fd;
    uint32_t nsid;
    uint32_t opcode;
    uint32_t random;
    uint32_t lba_size;
    uint32_t block_size;
    uint32_t metadata_size;
    uint32_t qd;
    uint32_t fixed;
    uint32_t stop_on_errno;
    uint32_t nop;
    uint32_t interface;
    uint32_t batch;
    uint32_t buf_base;
    uint64_t first_lba;
    uint64_t lba_count;
    uint64_t duration_ns;
    uint64_t max_ios;
    uint64_t seed;
    uint64_t position;
    unsigned char *buffers;
    unsigned char *metadata;
};

struct nvt_engine_result {
    uint64_t ios;
    uint64_t errors;
    int32_t first_error;
    uint64_t bytes;
    uint64_t elapsed_ns;
    uint64_t lat_min_ns, lat_max_ns, lat_sum_ns;
    uint64_t enters;
    uint64_t next_seed;
    uint64_t next_position;
    uint64_t hist[...];
    ...;
};

uint32_t nvt_hist_bucket(uint64_t ns);
int nvt_engine_run(struct nvt_ring *r, const struct nvt_engine_params *p, uint32_t n,
                   struct nvt_engine_result *out);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "nvtui.backend.uring._ring",
    '#include "ring_core.h"',
    sources=[os.path.relpath(os.path.join(HERE, name)) for name in ("ring_core.c", "engine.c")],
    depends=[os.path.relpath(os.path.join(HERE, "ring_core.h"))],
    include_dirs=[HERE],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-pthread"],
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
