// wire.h: the wire conversion. Turns the staging record (loop.h) and submit's `data` argument into
// a struct iou_request, and owns what the request points at from then on: the iovec arrays of
// vectored requests and the references to the V8 backing stores of every request's buffers, which
// keep kernel-visible memory alive even if JavaScript detaches its ArrayBuffer. Memory whose
// request the loop abandoned while the kernel kept it goes to a process-wide quarantine, never
// freed. Implemented in wire.cc; one Buffers per Loop (loop_class.h). JS thread only.
#ifndef IOU_BINDING_WIRE_H
#define IOU_BINDING_WIRE_H

#include <napi.h>
#include <sys/uio.h>
#include <v8.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "iou.h"
#include "loop.h"

namespace iou_binding {

// The staging record's scalar fields as a request: tag, position, deadline (rounded up to whole
// nanoseconds, saturated at the end of the clock), fd, op and flags; no buffer yet. JS thread.
struct iou_request RequestOf(const struct iou_binding_stage& stage);

// The backing store of a typed array's ArrayBuffer. JS thread.
std::shared_ptr<v8::BackingStore> BackingStoreOf(napi_value value);

// Per pending-table slot, the buffers of the request submitted in it. A slot holds at most one
// request at a time (the Driver reuses a slot only after its completion was delivered).
class Buffers {
 public:
  // Points `request` at `data`. IOU_MEMORY_DATA: a Uint8Array (the range stage.offset,
  // stage.length of it) or an array of 1..IOU_MAX_IOV of them (vectored: the iovecs live in the
  // slot's array here). IOU_MEMORY_ARGS: a Uint8Array (buf, len) or an array of one or two (buf,
  // then buf2), whole, one per argument the op's table row names (iou_op_arg), each checked against
  // it: a path's view ends with its NUL, a struct statx's holds it whole. IOU_MEMORY_NONE: nothing
  // (data is not read). Returns 0, or -EINVAL for data the request cannot use. The backing stores
  // are taken here and kept by Submitted. JS thread, inside a handle scope.
  int Attach(napi_env env, const struct iou_binding_stage& stage, napi_value data, struct iou_request* request);

  // After iou_loop_submit of a request prepared by Attach: taken, its backing stores are held from
  // here until its completion is polled (Release) or the Loop is torn down (QuarantineAll);
  // refused, they are dropped. JS thread.
  void Submitted(const struct iou_request& request, bool taken);

  // The slot's request completed: the kernel touches its memory no longer. JS thread.
  void Release(uint32_t slot);

  // The slot's request was abandoned while the kernel may still hold its memory: quarantined for
  // the life of the process. JS thread.
  void Quarantine(uint32_t slot);

  // Teardown, after the completions of the ended requests were released: the stores still held
  // belong to requests whose end nobody saw, and the kernel may still write into their memory
  // after the ring is gone: all quarantined. With `pending` (requests still outstanding) or after
  // a kernel-held request, also the provided-buffer pool. JS thread.
  void QuarantineAll(bool pending);

  // Holds the provided-buffer pool (IOU_OP_RECV_MANY's, the kernel writes into it) for the life of
  // the Loop: released at teardown, quarantined then if a request could still use it. JS thread.
  void HoldPool(napi_value view) { pool_ = BackingStoreOf(view); }

 private:
  // Attach for IOU_MEMORY_ARGS: the views' stores go straight to kept_.
  int AttachArgs(napi_env env, uint32_t slot, napi_value data, struct iou_request* request);

  using Stores = std::vector<std::shared_ptr<v8::BackingStore>>;

  // Per slot: the iovec array of the slot's vectored request, reused for the life of the Loop. The
  // loop copies it when it admits the request (iou.h), so the kernel never reads it.
  std::vector<std::vector<struct iovec>> iovs_;
  // Per slot: the backing stores of the request's buffers, from submit until its completion is
  // polled (Release) or the Loop is torn down (quarantined). Kernel-visible memory.
  std::vector<Stores> kept_;
  // The single buffer's backing store between Attach and Submitted (a vectored request's go
  // straight to kept_).
  std::shared_ptr<v8::BackingStore> single_;
  // The provided-buffer pool, and whether a request that may use it was abandoned kernel-held.
  std::shared_ptr<v8::BackingStore> pool_;
  bool pool_at_risk_ = false;
};

// The bytes this process holds in quarantine (every Loop's, on every thread). Any JS thread.
double QuarantinedBytes();

}  // namespace iou_binding

#endif  // IOU_BINDING_WIRE_H
