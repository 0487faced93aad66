// loop.h: what addon.cc sees of the binding's `Loop` class (one io_uring loop of include/iou.h seen
// from JavaScript): its registration, and the memory layouts it shares with src/binding.ts. The
// class itself is declared in loop_class.h, which lists the files that implement it, one per job.
#ifndef IOU_BINDING_LOOP_H
#define IOU_BINDING_LOOP_H

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "iou.h"

namespace iou_binding {

// The wire: the two records the Driver (src/Wire.ts) and this binding share through ArrayBuffers.
// Their offsets and sizes are exported by the addon (addon.cc, `wire`), so src/binding.ts reads
// them instead of spelling them; test/constants.test.ts checks that every field is where the
// Driver's typed arrays can reach it.

// The staging record: one request's scalar fields, written by the Driver into the staging area (an
// ArrayBuffer of IOU_BINDING_STAGE_RECORDS records) just before it calls Loop.submit(data) (record
// 0) or Loop.submitStaged(count, datas) (records 0 to count - 1). Read there on the JS thread, which
// writes each record's verdict back; the Driver owns the memory for the life of the Loop.
struct iou_binding_stage {
  uint32_t slot;         // the tag's low 32 bits: the pending table's slot
  uint32_t generation;   // the tag's high 32 bits: the slot's generation
  uint32_t position_lo;  // file position, low 32 bits
  uint32_t position_hi;  // file position, high 32 bits
  uint32_t length;       // bytes, single-buffer requests
  int32_t fd;
  uint32_t op;         // IOU_OP_*
  uint32_t flags;      // IOU_FLAG_*
  uint32_t offset;     // byte offset of the range inside the buffer
  uint32_t arg;        // iou_request.arg
  double deadline_ms;  // absolute CLOCK_MONOTONIC deadline in ms, 0 = none
  uint32_t arg2;       // iou_request.arg2
  uint32_t extent_lo;  // iou_request.extent, low 32 bits
  uint32_t extent_hi;  // iou_request.extent, high 32 bits
  int32_t verdict;     // written by submitStaged: 1 taken, 0 inbound queue full, -errno refused
};

// Records in the staging area: how many requests a JS turn hands over per submitStaged call.
#define IOU_BINDING_STAGE_RECORDS 32
static_assert(offsetof(struct iou_binding_stage, slot) == 0, "stage: slot");
static_assert(offsetof(struct iou_binding_stage, generation) == 4, "stage: generation");
static_assert(offsetof(struct iou_binding_stage, position_lo) == 8, "stage: position_lo");
static_assert(offsetof(struct iou_binding_stage, position_hi) == 12, "stage: position_hi");
static_assert(offsetof(struct iou_binding_stage, length) == 16, "stage: length");
static_assert(offsetof(struct iou_binding_stage, fd) == 20, "stage: fd");
static_assert(offsetof(struct iou_binding_stage, op) == 24, "stage: op");
static_assert(offsetof(struct iou_binding_stage, flags) == 28, "stage: flags");
static_assert(offsetof(struct iou_binding_stage, offset) == 32, "stage: offset");
static_assert(offsetof(struct iou_binding_stage, arg) == 36, "stage: arg");
static_assert(offsetof(struct iou_binding_stage, deadline_ms) == 40, "stage: deadline_ms");
static_assert(offsetof(struct iou_binding_stage, arg2) == 48, "stage: arg2");
static_assert(offsetof(struct iou_binding_stage, extent_lo) == 52, "stage: extent_lo");
static_assert(offsetof(struct iou_binding_stage, extent_hi) == 56, "stage: extent_hi");
static_assert(offsetof(struct iou_binding_stage, verdict) == 60, "stage: verdict");
static_assert(sizeof(struct iou_binding_stage) == 64, "stage: size");

// The completion record is include/iou.h's struct iou_completion itself: Loop polls completions
// straight into an array of them (the completion area) and the Driver reads each record's tag as
// two 32-bit halves (slot, then generation: little-endian), the result as an int32, the outcome
// and flags (IOU_COMPLETION_*) as bytes, the provided buffer's id as a uint16 and the bytes done
// as a uint32.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the Driver reads the tag's slot from its first 4 bytes");
static_assert(offsetof(struct iou_completion, tag) == 0, "completion: tag");
static_assert(offsetof(struct iou_completion, result) == 8, "completion: result");
static_assert(offsetof(struct iou_completion, outcome) == 12, "completion: outcome");
static_assert(offsetof(struct iou_completion, flags) == 13, "completion: flags");
static_assert(offsetof(struct iou_completion, buffer) == 14, "completion: buffer");
static_assert(offsetof(struct iou_completion, done) == 16, "completion: done");
static_assert(sizeof(struct iou_completion) == 24, "completion: size");

// Registers the Loop class on `exports`. JS thread.
void InitLoop(Napi::Env env, Napi::Object exports);
// socket.cc: exports.sockets, the synchronous socket calls (and their constants).
void InitSockets(Napi::Env env, Napi::Object exports);
// file.cc: exports.files, readFile's synchronous stat of its fd.
void InitFiles(Napi::Env env, Napi::Object exports);

}  // namespace iou_binding

#endif  // IOU_BINDING_LOOP_H
