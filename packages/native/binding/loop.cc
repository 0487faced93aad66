// loop.cc: the binding's `Loop` class: its JavaScript surface (the method table, construction) and
// the request path (submit, publish, cancel), with stats(). One instance owns one iou_loop
// (include/iou.h) for the JS thread that created it, and carries requests and completions between
// that thread and the loop without a per-request allocation:
//
//   submit   the Driver writes a request's scalars into a staging record (loop.h) and calls
//            submit(buffer | buffers | undefined) for record 0, or, for a JS turn's requests after
//            its first (inline) or its first 16 (thread engine: src/Submission.ts),
//            submitStaged(count, datas) for up to IOU_BINDING_STAGE_RECORDS at once; the
//            buffer pointer comes from the typed array's info, vectored requests get their iovec
//            array from a per-slot vector reused for the life of the Loop (wire.cc). One
//            iou_loop_submit per request copies it into the inbound queue; the turn's first request
//            is published at once (iou_loop_publish_early) and publish() (once per JS turn, from the
//            Driver's microtask) makes the rest visible and ends the turn.
//   complete the loop thread calls notify() at most once per batch: a uv_async_send. On the JS thread
//            OnAsync drains iou_loop_poll_completions straight into the completion area (an
//            ArrayBuffer the Driver reads through typed arrays created once) and calls the Driver's
//            dispatch function once per chunk of up to `capacity` completions (delivery.cc). The
//            inline engine runs the loop's passes on the JS thread instead, from libuv's poll and
//            timer callbacks and from publish(), and delivers after each.
//
// Ownership: the memory of each request's buffers is held by a reference to its V8 backing store
// (Buffers, wire.cc), from submit until the request's completion is polled (forever for requests
// abandoned kernel-held), so that detaching an ArrayBuffer never frees memory the kernel may touch;
// the Driver's pending table keeps the views themselves until dispatch. The Loop keeps the dispatch
// function strongly referenced and its libuv handles ref'd only while requests are in flight (or a
// close is under way), so an idle Driver neither keeps the process alive nor escapes garbage
// collection; its finalizer (or the environment's cleanup hook when Node exits or a worker ends)
// closes the loop with timeout 0 and joins the thread (lifetime.cc).
//
// Threads: every JS_ method, the libuv callbacks, the cleanup hook and the destructor run on the JS
// thread that created the Loop (the loop's owner in iou.h's terms). Notify runs on the loop thread.
// loop_class.h lists which file owns which member.
//
// A terminating environment (worker.terminate(), process.exit() from another thread) can call any
// JS_ method while Node-API calls that need JavaScript fail. Such a failure throws nothing
// (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, binding.gyp), and no method chains a call onto a
// result that may be empty (an empty Napi value has no env, and a failure reported through it is
// fatal): arguments are read with plain Node-API getters that need no JavaScript.
#include <cerrno>
#include <cmath>

#include "loop_class.h"

namespace iou_binding {
namespace {

// Tags Loop instances so that a foreign object passed as `this` is refused (napi_type_tag).
const napi_type_tag kLoopTypeTag = {0x9b1f3c2a6d4e5f70ULL, 0x1c2d3e4f5a6b7c8dULL};

}  // namespace

Napi::Function Loop::Define(Napi::Env env) {
  return DefineClass(env, "Loop",
                     {
                         InstanceMethod<&Loop::JS_open>("open"),
                         InstanceMethod<&Loop::JS_submit>("submit"),
                         InstanceMethod<&Loop::JS_submitStaged>("submitStaged"),
                         InstanceMethod<&Loop::JS_publish>("publish"),
                         InstanceMethod<&Loop::JS_cancel>("cancel"),
                         InstanceMethod<&Loop::JS_returnBuffers>("returnBuffers"),
                         InstanceMethod<&Loop::JS_close>("close"),
                         InstanceMethod<&Loop::JS_destroy>("destroy"),
                         InstanceMethod<&Loop::JS_released>("released"),
                         InstanceMethod<&Loop::JS_closeOnExit>("closeOnExit"),
                         InstanceMethod<&Loop::JS_closeMarked>("closeMarked"),
                         InstanceMethod<&Loop::JS_closeUntaken>("closeUntaken"),
                         InstanceMethod<&Loop::JS_stats>("stats"),
                         InstanceMethod<&Loop::JS_credentialsChanged>("credentialsChanged"),
                         InstanceMethod<&Loop::JS_poll>("poll"),
                         InstanceMethod<&Loop::JS_enableTrace>("enableTrace"),
                         InstanceMethod<&Loop::JS_takeTrace>("takeTrace"),
                     });
}

Loop::Loop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Loop>(info), env_(info.Env()) {
  if (info.Length() < 3 || !info[0].IsFunction() || !info[1].IsArrayBuffer() || !info[2].IsArrayBuffer()) {
    Napi::TypeError::New(env_, "Loop(dispatch, staging, completions)").ThrowAsJavaScriptException();
    return;
  }
  napi_type_tag_object(env_, info.This(), &kLoopTypeTag);
  dispatch_ = Napi::Persistent(info[0].As<Napi::Function>());
  dispatch_.Unref();  // weak until requests are in flight
  Napi::ArrayBuffer staging = info[1].As<Napi::ArrayBuffer>();
  Napi::ArrayBuffer completions = info[2].As<Napi::ArrayBuffer>();
  if (staging.ByteLength() < sizeof(struct iou_binding_stage) ||
      completions.ByteLength() < sizeof(struct iou_completion)) {
    Napi::RangeError::New(env_, "staging or completion area too small").ThrowAsJavaScriptException();
    return;
  }
  staging_ref_ = Napi::Persistent(staging);
  completions_ref_ = Napi::Persistent(completions);
  stage_ = static_cast<struct iou_binding_stage*>(staging.Data());
  stage_records_ = static_cast<uint32_t>(staging.ByteLength() / sizeof(struct iou_binding_stage));
  completions_ = static_cast<struct iou_completion*>(completions.Data());
  capacity_ = static_cast<uint32_t>(completions.ByteLength() / sizeof(struct iou_completion));
}

// True when `this` carries the Loop type tag. JS thread.
bool Loop::Tagged(const Napi::CallbackInfo& info) {
  bool ok = false;
  napi_check_object_type_tag(env_, info.This(), &kLoopTypeTag, &ok);
  if (!ok) Napi::TypeError::New(env_, "not a Loop").ThrowAsJavaScriptException();
  return ok;
}

// One staged request into the inbound queue: 1 taken | 0 inbound queue full | -errno. `data` is a
// Uint8Array, an array of them (vectored, or an operation's arguments) or undefined (nop, sync…).
// JS thread.
int Loop::SubmitOne(const struct iou_binding_stage& stage, napi_value data) {
  struct iou_request request = RequestOf(stage);
  // An operation that points at no memory (IOU_MEMORY_NONE) has no buffer to attach or hold
  // (Attach and Submitted would do nothing for it): skipped, as they are on every nop.
  const bool points_at_memory = iou_op_memory(request.op) != IOU_MEMORY_NONE;
  if (points_at_memory) {
    const int attached = buffers_.Attach(env_, stage, data, &request);
    if (attached < 0) return attached;
  }
  const int rc = iou_loop_submit(loop_, &request, 1);
  if (points_at_memory) buffers_.Submitted(request, rc == 1);
  if (rc == 1 && inflight_++ == 0) Hold();
  // From here the kernel may close the fd and hand its number out again: not closed on exit,
  // unless the loop's stop abandons this close before the kernel ran it (exit_closes_).
  if (rc == 1 && request.op == IOU_OP_CLOSE && !exit_fds_.empty()) {
    const auto marked = exit_fds_.find(request.fd);
    if (marked != exit_fds_.end()) {
      exit_closes_[static_cast<uint32_t>(request.tag)] = {request.fd, std::move(marked->second)};
      exit_fds_.erase(marked);
    }
  }
  return rc;
}

// submit(data, publishEarly?) -> 1 taken | 0 inbound queue full | -errno: staging record 0 (see
// SubmitOne). JS thread.
Napi::Value Loop::JS_submit(const Napi::CallbackInfo& info) {
  if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
  const int rc = SubmitOne(stage_[0], info[0]);
  // The first request of a JS turn: published at once, the turn goes on (iou.h).
  if (rc == 1 && info.Length() > 1 && BoolArg(env_, info[1])) iou_loop_publish_early(loop_);
  return Napi::Number::New(env_, rc);
}

// submitStaged(count, datas) -> how many of staging records 0 to count - 1 were handled, in order,
// each with its verdict written into it (1 taken, -errno refused); the first the inbound queue has
// no room for (verdict 0) ends the walk. `datas[i]` is record i's data. -errno for bad arguments or
// a closed loop. JS thread.
Napi::Value Loop::JS_submitStaged(const Napi::CallbackInfo& info) {
  if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) return Napi::Number::New(env_, -EINVAL);
  const uint32_t count = info[0].As<Napi::Number>().Uint32Value();
  Napi::Array datas = info[1].As<Napi::Array>();
  if (count > stage_records_ || count > datas.Length()) return Napi::Number::New(env_, -EINVAL);
  for (uint32_t i = 0; i < count; i++) {
    struct iou_binding_stage& stage = stage_[i];
    napi_value data = nullptr;
    if (iou_op_memory(stage.op) != IOU_MEMORY_NONE) data = datas.Get(i);
    const int rc = SubmitOne(stage, data);
    stage.verdict = rc;
    if (rc == 0) return Napi::Number::New(env_, i);
  }
  return Napi::Number::New(env_, count);
}

// publish(): makes the requests submitted so far visible to the loop and ends the owner's turn.
// JS thread.
// Inline: the pass runs here and its completions are dispatched before publish returns (the
// Driver calls it from its own microtask, never from inside a caller's frame).
Napi::Value Loop::JS_publish(const Napi::CallbackInfo&) {
  if (loop_ == nullptr) return Napi::Value();
  iou_loop_publish(loop_);
  if (inline_) AfterPass(true);
  return Napi::Value();
}

// cancel(slot, generation) -> 0 | -errno. Publishes first, so that the loop has seen the request
// the cancel names. JS thread.
Napi::Value Loop::JS_cancel(const Napi::CallbackInfo& info) {
  if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
  const uint64_t tag = (static_cast<uint64_t>(info[1].As<Napi::Number>().Uint32Value()) << 32) |
                       info[0].As<Napi::Number>().Uint32Value();
  // Thread engine: publish first, because a request submitted in this turn must be visible to the
  // loop before its cancel is, or the loop would take the cancel for an unknown tag and drop it.
  // Inline: the pass that takes the cancel (soon: the cancel writes the loop's fd) also finds a
  // request still queued in the inbound queue.
  if (!inline_) iou_loop_publish(loop_);
  const int rc = iou_loop_cancel(loop_, tag);
  if (inline_ && !counter_fd_) ArmTimer();  // the ring-fd wake announces the cancel's pass through the timer
  return Napi::Number::New(env_, rc);
}

// returnBuffers(ids: Uint16Array, n) -> 0 | -errno: hands the first n provided buffers named in ids
// back to the kernel (iou_loop_recv_buffers_return; this thread is the buffer ring's only
// producer). JS thread.
Napi::Value Loop::JS_returnBuffers(const Napi::CallbackInfo& info) {
  if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) return Napi::Number::New(env_, -EINVAL);
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  if (array.TypedArrayType() != napi_uint16_array) return Napi::Number::New(env_, -EINVAL);
  const uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  if (n > array.ElementLength()) return Napi::Number::New(env_, -EINVAL);
  const uint16_t* ids = array.As<Napi::Uint16Array>().Data();
  if (ids == nullptr && n > 0) return Napi::Number::New(env_, -EINVAL);  // the environment is terminating
  return Napi::Number::New(env_, iou_loop_recv_buffers_return(loop_, ids, n));
}

// stats() -> the loop's counters, or undefined once destroyed. JS thread.
Napi::Value Loop::JS_stats(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  if (loop_ == nullptr) return Napi::Env(env_).Undefined();
  struct iou_stats st = {};
  iou_loop_stats(loop_, &st);
  Napi::Object out = Napi::Object::New(env_);
  out.Set("submitted", Napi::Number::New(env_, static_cast<double>(st.submitted)));
  out.Set("completed", Napi::Number::New(env_, static_cast<double>(st.completed)));
  out.Set("failed", Napi::Number::New(env_, static_cast<double>(st.failed)));
  out.Set("timedOut", Napi::Number::New(env_, static_cast<double>(st.timed_out)));
  out.Set("cancelled", Napi::Number::New(env_, static_cast<double>(st.cancelled)));
  out.Set("requeued", Napi::Number::New(env_, static_cast<double>(st.requeued)));
  out.Set("sqesStaged", Napi::Number::New(env_, static_cast<double>(st.sqes_staged)));
  out.Set("enters", Napi::Number::New(env_, static_cast<double>(st.enters)));
  out.Set("wakes", Napi::Number::New(env_, static_cast<double>(st.wakes)));
  out.Set("cqOverflow", Napi::Number::New(env_, static_cast<double>(st.cq_overflow)));
  out.Set("cqKernelOverflow", Napi::Number::New(env_, static_cast<double>(st.cq_kernel_overflow)));
  out.Set("abandoned", Napi::Number::New(env_, static_cast<double>(st.abandoned)));
  out.Set("pendingOperations", Napi::Number::New(env_, st.pending_operations));
  out.Set("recvBuffers", Napi::Number::New(env_, st.recv_buffers));
  out.Set("singleIssuer", Napi::Boolean::New(env_, st.single_issuer));
  out.Set("inlineWake", Napi::Number::New(env_, st.inline_wake));
  return out;
}

// credentialsChanged() -> whether the process's uid, gid or groups differ from those at open (false
// once destroyed: nothing is submitted then anyway). JS thread.
Napi::Value Loop::JS_credentialsChanged(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  return Napi::Boolean::New(env_, loop_ != nullptr && iou_loop_credentials_changed(loop_));
}

}  // namespace iou_binding
