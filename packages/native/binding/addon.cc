// addon.cc: the Node-API binding of @iou/native. Validation happens in TypeScript (src/) before any
// call reaches here; this file converts values and calls the C API in include/iou.h.
// Every function here runs on the JS thread that loaded the addon.
#include <napi.h>

#include "iou.h"
#include "loop.h"

namespace {

// probe(): { kernel, ioUringDisabled, setupErrno, singleIssuer, features, opcodes: boolean[] }
Napi::Value JS_probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct iou_probe p;
  iou_probe(&p);
  Napi::Object out = Napi::Object::New(env);
  out.Set("kernel", Napi::String::New(env, p.kernel));
  out.Set("ioUringDisabled", Napi::Number::New(env, p.io_uring_disabled));
  out.Set("setupErrno", Napi::Number::New(env, p.setup_errno));
  out.Set("singleIssuer", Napi::Boolean::New(env, p.single_issuer));
  out.Set("features", Napi::Number::New(env, p.features));
  Napi::Array opcodes = Napi::Array::New(env, p.opcode_count);
  for (uint32_t i = 0; i < p.opcode_count; i++) opcodes.Set(i, Napi::Boolean::New(env, p.opcode_supported[i]));
  out.Set("opcodes", opcodes);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, JS_probe, "probe"));
  iou_binding::InitLoop(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(iou, Init)
