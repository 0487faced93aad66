// trace.cc: the test-only trace (trace.h) and the two Loop methods that expose it to tests,
// enableTrace() and takeTrace(). Trace::Hook runs on the thread that runs the loop's passes; every
// other function here on the JS thread that owns the Loop.
#include "trace.h"

#include <cstdint>

#include "loop_class.h"

namespace iou_binding {

void Trace::Hook(void* ctx, const struct iou_trace_event* event) {
  Trace* self = static_cast<Trace*>(ctx);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->events_.push_back(*event);
}

Napi::Array Trace::Take(Napi::Env env) {
  std::vector<struct iou_trace_event> events;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events.swap(events_);
  }
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) {
    const struct iou_trace_event& e = events[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("slot", Napi::Number::New(env, static_cast<uint32_t>(e.tag)));
    o.Set("generation", Napi::Number::New(env, static_cast<uint32_t>(e.tag >> 32)));
    o.Set("op", Napi::Number::New(env, e.op));
    o.Set("flags", Napi::Number::New(env, e.flags));
    o.Set("done", Napi::Number::New(env, e.done));
    o.Set("total", Napi::Number::New(env, e.total));
    o.Set("iovCount", Napi::Number::New(env, e.iov_count));
    o.Set("cancel", Napi::Number::New(env, e.cancel));
    o.Set("poll", Napi::Boolean::New(env, e.poll != 0));
    o.Set("res", Napi::Number::New(env, e.res));
    o.Set("decision", Napi::Number::New(env, e.decision));
    o.Set("outcome", Napi::Number::New(env, e.outcome));
    o.Set("result", Napi::Number::New(env, e.result));
    o.Set("more", Napi::Boolean::New(env, e.more != 0));
    o.Set("completionFlags", Napi::Number::New(env, e.completion_flags));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// enableTrace(): tests only (the conformance test). Must precede open(): the loop then reports
// one event per op CQE (iou.h, struct iou_trace_event), buffered until takeTrace(). JS thread.
Napi::Value Loop::JS_enableTrace(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  if (loop_ != nullptr) {
    Napi::Error::New(env_, "enableTrace() must be called before open()").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  trace_.Enable();
  return Napi::Value();
}

// takeTrace() -> the events buffered since the last call, oldest first. JS thread.
Napi::Value Loop::JS_takeTrace(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  return trace_.Take(env_);
}

}  // namespace iou_binding
