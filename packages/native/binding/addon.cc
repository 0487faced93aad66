// addon.cc: the Node-API binding of @iou/native. Validation happens in TypeScript (src/) before any
// call reaches here; this file converts values and calls the C API in include/iou.h.
// Every function here runs on the JS thread that loaded the addon.
#include <napi.h>
#include <node_version.h>

#include <cstddef>

#include "iou.h"
#include "loop.h"
#include "wire.h"

namespace {

// probe(): { kernel, ioUringDisabled, setupErrno, singleIssuer, coopTaskrun, features, opcodes: boolean[] }
Napi::Value JS_probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct iou_probe p;
  iou_probe(&p);
  Napi::Object out = Napi::Object::New(env);
  out.Set("kernel", Napi::String::New(env, p.kernel));
  out.Set("ioUringDisabled", Napi::Number::New(env, p.io_uring_disabled));
  out.Set("setupErrno", Napi::Number::New(env, p.setup_errno));
  out.Set("singleIssuer", Napi::Boolean::New(env, p.single_issuer));
  out.Set("coopTaskrun", Napi::Boolean::New(env, p.coop_taskrun));
  out.Set("features", Napi::Number::New(env, p.features));
  Napi::Array opcodes = Napi::Array::New(env, p.opcode_count);
  for (uint32_t i = 0; i < p.opcode_count; i++) opcodes.Set(i, Napi::Boolean::New(env, p.opcode_supported[i]));
  out.Set("opcodes", opcodes);
  return out;
}

// constants: the values of include/iou.h's #defines that TypeScript mirrors (src/binding.ts and
// @iou/core's Request), so a test can check that the three spellings agree.
Napi::Object Constants(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("IOU_ENGINE_THREAD", Napi::Number::New(env, IOU_ENGINE_THREAD));
  out.Set("IOU_ENGINE_INLINE", Napi::Number::New(env, IOU_ENGINE_INLINE));
  out.Set("IOU_INLINE_WAKE_EVENTFD", Napi::Number::New(env, IOU_INLINE_WAKE_EVENTFD));
  out.Set("IOU_INLINE_WAKE_RINGFD", Napi::Number::New(env, IOU_INLINE_WAKE_RINGFD));
  out.Set("IOU_OP_NOP", Napi::Number::New(env, IOU_OP_NOP));
  out.Set("IOU_OP_READ_AT", Napi::Number::New(env, IOU_OP_READ_AT));
  out.Set("IOU_OP_WRITE_AT", Napi::Number::New(env, IOU_OP_WRITE_AT));
  out.Set("IOU_OP_SEND", Napi::Number::New(env, IOU_OP_SEND));
  out.Set("IOU_OP_RECV", Napi::Number::New(env, IOU_OP_RECV));
  out.Set("IOU_OP_SYNC", Napi::Number::New(env, IOU_OP_SYNC));
  out.Set("IOU_OP_SOCKET", Napi::Number::New(env, IOU_OP_SOCKET));
  out.Set("IOU_OP_CONNECT", Napi::Number::New(env, IOU_OP_CONNECT));
  out.Set("IOU_OP_ACCEPT", Napi::Number::New(env, IOU_OP_ACCEPT));
  out.Set("IOU_OP_SHUTDOWN", Napi::Number::New(env, IOU_OP_SHUTDOWN));
  out.Set("IOU_OP_BIND", Napi::Number::New(env, IOU_OP_BIND));
  out.Set("IOU_OP_LISTEN", Napi::Number::New(env, IOU_OP_LISTEN));
  out.Set("IOU_OP_OPEN", Napi::Number::New(env, IOU_OP_OPEN));
  out.Set("IOU_OP_CLOSE", Napi::Number::New(env, IOU_OP_CLOSE));
  out.Set("IOU_OP_STAT", Napi::Number::New(env, IOU_OP_STAT));
  out.Set("IOU_OP_TRUNCATE", Napi::Number::New(env, IOU_OP_TRUNCATE));
  out.Set("IOU_OP_ALLOCATE", Napi::Number::New(env, IOU_OP_ALLOCATE));
  out.Set("IOU_OP_UNLINK", Napi::Number::New(env, IOU_OP_UNLINK));
  out.Set("IOU_OP_RENAME", Napi::Number::New(env, IOU_OP_RENAME));
  out.Set("IOU_OP_MKDIR", Napi::Number::New(env, IOU_OP_MKDIR));
  out.Set("IOU_OP_SYMLINK", Napi::Number::New(env, IOU_OP_SYMLINK));
  out.Set("IOU_OP_LINK", Napi::Number::New(env, IOU_OP_LINK));
  out.Set("IOU_OP_RECV_MANY", Napi::Number::New(env, IOU_OP_RECV_MANY));
  out.Set("IOU_OP_ACCEPT_MANY", Napi::Number::New(env, IOU_OP_ACCEPT_MANY));
  out.Set("IOU_CLASS_FILES", Napi::Number::New(env, IOU_CLASS_FILES));
  out.Set("IOU_CLASS_SOCKETS", Napi::Number::New(env, IOU_CLASS_SOCKETS));
  out.Set("IOU_CLASS_ALL", Napi::Number::New(env, IOU_CLASS_ALL));
  out.Set("IOU_FLAG_EXACT", Napi::Number::New(env, IOU_FLAG_EXACT));
  out.Set("IOU_FLAG_DATA_ONLY", Napi::Number::New(env, IOU_FLAG_DATA_ONLY));
  out.Set("IOU_OUTCOME_OK", Napi::Number::New(env, IOU_OUTCOME_OK));
  out.Set("IOU_OUTCOME_ERROR", Napi::Number::New(env, IOU_OUTCOME_ERROR));
  out.Set("IOU_OUTCOME_TIMEOUT", Napi::Number::New(env, IOU_OUTCOME_TIMEOUT));
  out.Set("IOU_OUTCOME_CANCELLED", Napi::Number::New(env, IOU_OUTCOME_CANCELLED));
  out.Set("IOU_OUTCOME_UNEXPECTED_EOF", Napi::Number::New(env, IOU_OUTCOME_UNEXPECTED_EOF));
  out.Set("IOU_OUTCOME_ABANDONED", Napi::Number::New(env, IOU_OUTCOME_ABANDONED));
  out.Set("IOU_OUTCOME_WRITE_ZERO", Napi::Number::New(env, IOU_OUTCOME_WRITE_ZERO));
  out.Set("IOU_TRACE_CANCEL_NONE", Napi::Number::New(env, IOU_TRACE_CANCEL_NONE));
  out.Set("IOU_TRACE_CANCEL_DEADLINE", Napi::Number::New(env, IOU_TRACE_CANCEL_DEADLINE));
  out.Set("IOU_TRACE_CANCEL_CALLER", Napi::Number::New(env, IOU_TRACE_CANCEL_CALLER));
  out.Set("IOU_TRACE_CANCEL_SHUTDOWN", Napi::Number::New(env, IOU_TRACE_CANCEL_SHUTDOWN));
  out.Set("IOU_TRACE_COMPLETE", Napi::Number::New(env, IOU_TRACE_COMPLETE));
  out.Set("IOU_TRACE_REQUEUE", Napi::Number::New(env, IOU_TRACE_REQUEUE));
  out.Set("IOU_TRACE_POLL_WAIT", Napi::Number::New(env, IOU_TRACE_POLL_WAIT));
  out.Set("IOU_TRACE_MORE", Napi::Number::New(env, IOU_TRACE_MORE));
  out.Set("IOU_COMPLETION_KERNEL_HELD", Napi::Number::New(env, IOU_COMPLETION_KERNEL_HELD));
  out.Set("IOU_COMPLETION_CANCEL_LOST", Napi::Number::New(env, IOU_COMPLETION_CANCEL_LOST));
  out.Set("IOU_COMPLETION_CANCEL_OUTCOME_SHIFT", Napi::Number::New(env, IOU_COMPLETION_CANCEL_OUTCOME_SHIFT));
  out.Set("IOU_COMPLETION_CANCEL_OUTCOME_MASK", Napi::Number::New(env, IOU_COMPLETION_CANCEL_OUTCOME_MASK));
  out.Set("IOU_COMPLETION_MORE", Napi::Number::New(env, IOU_COMPLETION_MORE));
  out.Set("IOU_COMPLETION_BUFFER", Napi::Number::New(env, IOU_COMPLETION_BUFFER));
  out.Set("IOU_COMPLETION_FD", Napi::Number::New(env, IOU_COMPLETION_FD));
  out.Set("IOU_MAX_IOV", Napi::Number::New(env, IOU_MAX_IOV));
  return out;
}

// wire: the byte offsets and sizes of the staging and completion records (loop.h), which
// src/binding.ts reads instead of spelling them.
Napi::Object WireLayout(Napi::Env env) {
  using Stage = iou_binding::iou_binding_stage;
  Napi::Object out = Napi::Object::New(env);
  const auto set = [&](const char* name, size_t value) {
    out.Set(name, Napi::Number::New(env, static_cast<double>(value)));
  };
  set("STAGE_BYTES", sizeof(Stage));
  set("STAGE_SLOT", offsetof(Stage, slot));
  set("STAGE_GENERATION", offsetof(Stage, generation));
  set("STAGE_POSITION_LO", offsetof(Stage, position_lo));
  set("STAGE_POSITION_HI", offsetof(Stage, position_hi));
  set("STAGE_LENGTH", offsetof(Stage, length));
  set("STAGE_FD", offsetof(Stage, fd));
  set("STAGE_OP", offsetof(Stage, op));
  set("STAGE_FLAGS", offsetof(Stage, flags));
  set("STAGE_OFFSET", offsetof(Stage, offset));
  set("STAGE_ARG", offsetof(Stage, arg));
  set("STAGE_ARG2", offsetof(Stage, arg2));
  set("STAGE_EXTENT_LO", offsetof(Stage, extent_lo));
  set("STAGE_EXTENT_HI", offsetof(Stage, extent_hi));
  set("STAGE_DEADLINE_MS", offsetof(Stage, deadline_ms));
  set("STAGE_VERDICT", offsetof(Stage, verdict));
  set("STAGE_RECORDS", IOU_BINDING_STAGE_RECORDS);
  set("COMPLETION_BYTES", sizeof(struct iou_completion));
  set("COMPLETION_SLOT", offsetof(struct iou_completion, tag));
  set("COMPLETION_GENERATION", offsetof(struct iou_completion, tag) + sizeof(uint32_t));
  set("COMPLETION_RESULT", offsetof(struct iou_completion, result));
  set("COMPLETION_OUTCOME", offsetof(struct iou_completion, outcome));
  set("COMPLETION_FLAGS", offsetof(struct iou_completion, flags));
  set("COMPLETION_BUFFER", offsetof(struct iou_completion, buffer));
  set("COMPLETION_DONE", offsetof(struct iou_completion, done));
  return out;
}

// opClasses and opProducesFd: the class column of csrc/request.c's table (IOU_CLASS_* bits) and its
// produces_fd column, indexed by IOU_OP_*, so that a test can check them against @iou/core's
// Operations table.
Napi::Array OpClasses(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, IOU_OP_COUNT);
  for (uint32_t op = 0; op < IOU_OP_COUNT; op++) out.Set(op, Napi::Number::New(env, iou_op_class(op)));
  return out;
}
Napi::Array OpProducesFd(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, IOU_OP_COUNT);
  for (uint32_t op = 0; op < IOU_OP_COUNT; op++) out.Set(op, Napi::Boolean::New(env, iou_op_produces_fd(op)));
  return out;
}

// quarantinedBytes(): the bytes of request memory this process keeps because the kernel may still
// use it (every Loop's, on every thread: wire.cc's quarantine).
Napi::Value JS_quarantinedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), iou_binding::QuarantinedBytes());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, JS_probe, "probe"));
  exports.Set("quarantinedBytes", Napi::Function::New(env, JS_quarantinedBytes, "quarantinedBytes"));
  exports.Set("constants", Constants(env));
  exports.Set("opClasses", OpClasses(env));
  exports.Set("opProducesFd", OpProducesFd(env));
  exports.Set("wire", WireLayout(env));
  // The Node ABI these headers are of. The addon uses V8's API besides Node-API, so it works only in
  // that ABI, yet Node loads a Node-API module anywhere: binding.ts compares this with the running
  // Node's before it uses the addon.
  exports.Set("moduleVersion", Napi::Number::New(env, NODE_MODULE_VERSION));
  iou_binding::InitLoop(env, exports);
  iou_binding::InitSockets(env, exports);
  iou_binding::InitFiles(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(iou, Init)
