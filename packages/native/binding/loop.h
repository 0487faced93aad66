// loop.h: the binding's `Loop` class (one io_uring loop of include/iou.h seen from JavaScript) and
// the memory layouts it shares with src/binding.ts. Declarations needed only by the binding.
#ifndef IOU_BINDING_LOOP_H
#define IOU_BINDING_LOOP_H

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "iou.h"

namespace iou_binding {

// The staging area: one request's scalar fields, written by the Driver into a 64-byte ArrayBuffer
// just before it calls Loop.submit(buffer). Indices are Uint32Array indices (STAGE_*) or, for the
// deadline, a Float64Array index. src/binding.ts mirrors these numbers.
constexpr uint32_t STAGE_SLOT = 0;          // tag low 32 bits: the pending table's slot
constexpr uint32_t STAGE_GENERATION = 1;    // tag high 32 bits: the slot's generation
constexpr uint32_t STAGE_POSITION_LO = 2;   // file position, low 32 bits
constexpr uint32_t STAGE_POSITION_HI = 3;   // file position, high 32 bits
constexpr uint32_t STAGE_LENGTH = 4;        // bytes, single-buffer requests
constexpr uint32_t STAGE_FD = 5;            // int32
constexpr uint32_t STAGE_OP = 6;            // IOU_OP_*
constexpr uint32_t STAGE_FLAGS = 7;         // IOU_FLAG_*
constexpr uint32_t STAGE_OFFSET = 8;        // byte offset of the range inside the buffer
constexpr uint32_t STAGE_DEADLINE_F64 = 5;  // Float64Array index: absolute monotonic deadline in ms, 0 = none
constexpr size_t STAGE_BYTES = 64;

// The completion area: an array of struct iou_completion that Loop fills from
// iou_loop_poll_completions and the Driver reads as Uint32Array [slot, generation, result] plus a
// Uint8Array outcome at byte 12 and flags (IOU_COMPLETION_*) at byte 13 of each 16-byte record.
static_assert(sizeof(struct iou_completion) == 16, "src/binding.ts reads 16-byte completions");
static_assert(offsetof(struct iou_completion, result) == 8, "src/binding.ts reads result at byte 8");
static_assert(offsetof(struct iou_completion, outcome) == 12, "src/binding.ts reads outcome at byte 12");
static_assert(offsetof(struct iou_completion, flags) == 13, "src/binding.ts reads flags at byte 13");

// Registers the Loop class on `exports`. JS thread.
void InitLoop(Napi::Env env, Napi::Object exports);

}  // namespace iou_binding

#endif  // IOU_BINDING_LOOP_H
