// loop.cc: the binding's `Loop` class. One instance owns one iou_loop (include/iou.h) for the JS
// thread that created it, and carries requests and completions between that thread and the loop
// thread without a per-request allocation:
//
//   submit   the Driver writes a request's scalars into the staging record (loop.h) and calls
//            submit(buffer | buffers | undefined); the buffer pointer comes from the typed array's
//            info, vectored requests get their iovec array from a per-slot vector reused for the life
//            of the Loop. One iou_loop_submit copies the request into the inbound queue; the turn's
//            first request is published at once (iou_loop_publish_early) and publish() (once per JS
//            turn, from the Driver's microtask) makes the rest visible and ends the turn.
//   complete the loop thread calls notify() at most once per batch: a uv_async_send. On the JS thread
//            OnAsync drains iou_loop_poll_completions straight into the completion area (an
//            ArrayBuffer the Driver reads through typed arrays created once) and calls the Driver's
//            dispatch function once per chunk of up to `capacity` completions.
//
// Ownership: the memory of each request's buffers is held here by a reference to its V8 backing
// store (kept_), from submit until the request's completion is polled (forever for requests
// abandoned kernel-held), so that detaching an ArrayBuffer never frees memory the kernel may touch;
// the Driver's pending table keeps the views themselves until dispatch. The
// Loop keeps the dispatch function strongly referenced and the async handle ref'd only while
// requests are in flight (or a close is under way), so an idle Driver neither keeps the process alive
// nor escapes garbage collection; its finalizer (or the environment's cleanup hook when Node exits or
// a worker ends) closes the loop with timeout 0 and joins the thread.
//
// Environment teardown: when a worker ends, Node unloads this addon with the worker's environment
// unless another thread loaded it too, so no code of ours may run after that: not the loop thread
// (joined in the hook) and not the async handle's close callback. The hook is therefore an async
// cleanup hook (napi_add_async_cleanup_hook), owned by the handle's AsyncSlot and removed by its
// close callback: Node keeps running the worker's event loop, and keeps the addon loaded, until
// that callback has run. A plain cleanup hook would return with the close callback still queued, to
// be run by libuv after the unload.
//
// Threads: every JS_ method, OnAsync, OnClosed, AsyncCleanup and the destructor run on the JS thread
// that created the Loop (the loop's owner in iou.h's terms). Notify runs on the loop thread.
//
// A terminating environment (worker.terminate(), process.exit() from another thread) can call any
// JS_ method while Node-API calls that need JavaScript fail. Such a failure throws nothing
// (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, binding.gyp), and no method chains a call onto a
// result that may be empty (an empty Napi value has no env, and a failure reported through it is
// fatal): arguments are read with plain Node-API getters that need no JavaScript.
#include "loop.h"

#include <unistd.h>
#include <uv.h>
#include <v8.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace iou_binding {
namespace {

// Tags Loop instances so that a foreign object passed as `this` is refused (napi_type_tag).
const napi_type_tag kLoopTypeTag = {0x9b1f3c2a6d4e5f70ULL, 0x1c2d3e4f5a6b7c8dULL};

// Gets a Uint8Array's bytes. Returns false for anything else (the Driver validated already).
bool BytesOf(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  bool is_typedarray = false;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray) return false;
  napi_typedarray_type type;
  void* raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array) return false;
  *data = static_cast<uint8_t*>(raw);
  return true;
}

// The memory of a Uint8Array, held so that it stays valid while the kernel may touch it, even if
// the caller detaches the ArrayBuffer (transfer(), structuredClone with transfer, posting it to a
// worker): V8 frees a backing store only when its last reference goes. Node-API has no such
// reference, so this reads the V8 handle behind the napi_value (Node-API's values are V8 handles).
// Returns nullptr for anything that is not an ArrayBufferView. JS thread, inside a handle scope.
std::shared_ptr<v8::BackingStore> BackingStoreOf(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  if (local.IsEmpty() || !local->IsArrayBufferView()) return nullptr;
  return local.As<v8::ArrayBufferView>()->Buffer()->GetBackingStore();
}

// Backing stores of requests abandoned while the kernel kept their memory, and of requests still
// outstanding when a Loop is torn down: never released, because the kernel may still write into
// them after the ring is gone. Process-wide; touched only on JS threads, under its mutex.
std::mutex quarantine_mutex;
std::vector<std::shared_ptr<v8::BackingStore>>* quarantine = new std::vector<std::shared_ptr<v8::BackingStore>>();

void Quarantine(std::vector<std::shared_ptr<v8::BackingStore>>& stores) {
  std::lock_guard<std::mutex> lock(quarantine_mutex);
  for (auto& store : stores) {
    if (store) quarantine->push_back(std::move(store));
  }
  stores.clear();
}

// A boolean argument; false for anything else, without coercion. Coercion (Napi::Value::ToBoolean)
// may run JavaScript, so it fails while the environment is terminating, and its empty result has no
// env for the next call to report through.
bool BoolArg(napi_env env, napi_value value) {
  bool out = false;
  napi_get_value_bool(env, value, &out);
  return out;
}

}  // namespace

// Loops whose thread has exited but not ended yet, per environment (its instance data). A Loop torn
// down from JavaScript (destroy(), after the final dispatch) never waits for its thread to end: the
// thread can be held in the kernel's exit path for as long as io-wq takes to finish a request the
// shutdown abandoned (iou_loop_try_destroy), and the JS thread must not wait for kernel work. Such a
// loop is kept here and freed by the first later open() or destroy() in this environment that finds
// its thread ended, or at the latest when the environment ends: there the destructor waits, before
// Node may unload the addon the thread last ran in. JS thread.
struct Exiting {
  std::vector<struct iou_loop*> loops;

  ~Exiting() {
    for (struct iou_loop* loop : loops) iou_loop_destroy(loop);
  }

  void Sweep() {
    size_t kept = 0;
    for (struct iou_loop* loop : loops)
      if (!iou_loop_try_destroy(loop)) loops[kept++] = loop;
    loops.resize(kept);
  }

  static Exiting* Of(napi_env env) {
    void* data = nullptr;
    napi_get_instance_data(env, &data);
    return static_cast<Exiting*>(data);
  }
};

class Loop;

// The libuv handles of one Loop and what must outlive the Loop until libuv is done with them:
// allocated by open(), freed by the last handle's close callback (OnClosed), which also removes the
// async cleanup hook. The thread engine uses the async handle (the loop thread's notify); the inline
// engine a poll handle on the loop's fd and a timer for its next deadline. Every handle's `data` is
// the slot. JS thread.
struct AsyncSlot {
  uv_async_t handle;  // thread engine
  uv_poll_t poll;     // inline engine: iou_loop_fd readable
  uv_timer_t timer;   // inline engine: iou_loop_timeout_ns
  int open_handles = 0;
  Loop* owner = nullptr;  // the Loop while it uses the handles; null once it closed them (Teardown)
  napi_async_cleanup_hook_handle hook = nullptr;
};

class Loop : public Napi::ObjectWrap<Loop> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Loop",
                       {
                           InstanceMethod<&Loop::JS_open>("open"),
                           InstanceMethod<&Loop::JS_submit>("submit"),
                           InstanceMethod<&Loop::JS_publish>("publish"),
                           InstanceMethod<&Loop::JS_cancel>("cancel"),
                           InstanceMethod<&Loop::JS_close>("close"),
                           InstanceMethod<&Loop::JS_destroy>("destroy"),
                           InstanceMethod<&Loop::JS_stats>("stats"),
                           InstanceMethod<&Loop::JS_poll>("poll"),
                           InstanceMethod<&Loop::JS_enableTrace>("enableTrace"),
                           InstanceMethod<&Loop::JS_takeTrace>("takeTrace"),
                       });
  }

  // new Loop(dispatch, staging, completions). JS thread.
  explicit Loop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Loop>(info), env_(info.Env()) {
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
    stage_ = static_cast<const struct iou_binding_stage*>(staging.Data());
    completions_ = static_cast<struct iou_completion*>(completions.Data());
    capacity_ = static_cast<uint32_t>(completions.ByteLength() / sizeof(struct iou_completion));
  }

  // Finalizer: the Driver was garbage-collected (idle, or the environment is going away). JS thread.
  ~Loop() override { Teardown(false); }

 private:
  // True when `this` carries the Loop type tag. JS thread.
  bool Tagged(const Napi::CallbackInfo& info) {
    bool ok = false;
    napi_check_object_type_tag(env_, info.This(), &kLoopTypeTag, &ok);
    if (!ok) Napi::TypeError::New(env_, "not a Loop").ThrowAsJavaScriptException();
    return ok;
  }

  // open(size, singleIssuer, ioPoll, maxRequestTimeoutNs, timeoutWheelTickNs, idleSpinUs, engine)
  // -> 0 | -errno. JS thread. The spin's ceiling is the C default (300 µs) or idleSpinUs if larger
  // (thread engine only); engine is IOU_ENGINE_* (default thread).
  Napi::Value JS_open(const Napi::CallbackInfo& info) {
    if (!Tagged(info)) return Napi::Value();
    if (loop_ != nullptr || torn_down_) return Napi::Number::New(env_, -EALREADY);
    if (Exiting* exiting = Exiting::Of(env_)) exiting->Sweep();
    struct iou_loop_config config = {};
    config.size = info[0].As<Napi::Number>().Uint32Value();
    config.single_issuer = BoolArg(env_, info[1]);
    config.io_poll = BoolArg(env_, info[2]);
    config.max_request_timeout_ns = static_cast<uint64_t>(info[3].As<Napi::Number>().DoubleValue());
    config.timeout_wheel_tick_ns = static_cast<uint64_t>(info[4].As<Napi::Number>().DoubleValue());
    config.idle_spin_us = info[5].As<Napi::Number>().Uint32Value();  // validated by @iou/core's Config
    config.engine = info.Length() > 6 && info[6].IsNumber() && info[6].As<Napi::Number>().Uint32Value() == IOU_ENGINE_INLINE
                        ? IOU_ENGINE_INLINE
                        : IOU_ENGINE_THREAD;
    config.idle_spin_max_us =
        config.idle_spin_us > IOU_IDLE_SPIN_MAX_DEFAULT_US ? config.idle_spin_us : IOU_IDLE_SPIN_MAX_DEFAULT_US;
    if (tracing_) {
      config.trace = Trace;
      config.trace_ctx = this;
    }

    uv_loop_t* uv_loop = nullptr;
    if (napi_get_uv_event_loop(env_, &uv_loop) != napi_ok) return Napi::Number::New(env_, -EINVAL);
    inline_ = config.engine == IOU_ENGINE_INLINE;
    AsyncSlot* slot = new AsyncSlot;
    slot->owner = this;
    int rc = 0;
    if (inline_) {
      rc = uv_timer_init(uv_loop, &slot->timer);
      if (rc == 0) slot->open_handles = 1;
    } else {
      rc = uv_async_init(uv_loop, &slot->handle, OnAsync);
      if (rc == 0) slot->open_handles = 1;
    }
    if (rc < 0) {
      delete slot;
      return Napi::Number::New(env_, rc);
    }
    async_ = slot;
    slot->handle.data = slot;
    slot->timer.data = slot;
    slot->poll.data = slot;
    Unref();
    if (napi_add_async_cleanup_hook(env_, AsyncCleanup, slot, &slot->hook) != napi_ok) {
      slot->hook = nullptr;
      CloseAsync();
      return Napi::Number::New(env_, -EINVAL);
    }

    // The inline engine runs on this thread and never notifies: completions are delivered after
    // each pass (RunInline).
    rc = iou_loop_open(&config, inline_ ? nullptr : Notify, this, &loop_);
    if (rc < 0) {
      loop_ = nullptr;
      CloseAsync();
      return Napi::Number::New(env_, rc);
    }
    if (inline_) {
      rc = uv_poll_init(uv_loop, &slot->poll, iou_loop_fd(loop_));
      if (rc == 0) {
        slot->open_handles++;
        rc = uv_poll_start(&slot->poll, UV_READABLE, OnReady);
      }
      if (rc < 0) {
        iou_loop_destroy(loop_);
        loop_ = nullptr;
        CloseAsync();
        return Napi::Number::New(env_, rc);
      }
      Unref();
    }
    napi_value resource_name;
    napi_create_string_utf8(env_, "IouCompletions", NAPI_AUTO_LENGTH, &resource_name);
    napi_async_init(env_, nullptr, resource_name, &async_context_);
    return Napi::Number::New(env_, 0);
  }

  // submit(data, publishEarly?) -> 1 taken | 0 inbound queue full | -errno. The request's scalars are
  // in the staging area; `data` is a Uint8Array, an array of them (vectored) or undefined (nop,
  // sync). JS thread.
  Napi::Value JS_submit(const Napi::CallbackInfo& info) {
    if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
    const struct iou_binding_stage* s = stage_;
    struct iou_request request = {};
    const uint32_t slot = s->slot;
    request.tag = (static_cast<uint64_t>(s->generation) << 32) | slot;
    request.position = (static_cast<uint64_t>(s->position_hi) << 32) | s->position_lo;
    const double deadline_ms = s->deadline_ms;
    // Rounded up: a deadline never fires before the instant the caller asked for. One at or past
    // 2^64 ns (Infinity included) saturates to the end of the clock, where it never fires: the cast
    // of such a double is undefined.
    const double deadline_ns = std::ceil(deadline_ms * 1e6);
    if (!(deadline_ms > 0))
      request.deadline_ns = 0;
    else if (deadline_ns >= 18446744073709551616.0)  // 2^64
      request.deadline_ns = UINT64_MAX;
    else
      request.deadline_ns = static_cast<uint64_t>(deadline_ns);
    request.fd = s->fd;
    request.op = static_cast<uint8_t>(s->op);
    request.flags = static_cast<uint8_t>(s->flags);

    std::shared_ptr<v8::BackingStore> store;  // the single buffer's; vectored ones go to kept_[slot]
    if (iou_op_moves_data(request.op)) {
      napi_value data = info[0];
      bool is_array = false;
      napi_is_array(env_, data, &is_array);
      if (is_array) {
        uint32_t n = 0;
        napi_get_array_length(env_, data, &n);
        if (n == 0 || n > IOU_MAX_IOV) return Napi::Number::New(env_, -EINVAL);
        if (slot >= iovs_.size()) iovs_.resize(static_cast<size_t>(slot) + 1);
        std::vector<struct iovec>& iov = iovs_[slot];
        iov.resize(n);
        for (uint32_t i = 0; i < n; i++) {
          napi_value element;
          uint8_t* bytes = nullptr;
          size_t length = 0;
          if (napi_get_element(env_, data, i, &element) != napi_ok || !BytesOf(env_, element, &bytes, &length)) {
            return Napi::Number::New(env_, -EINVAL);
          }
          iov[i].iov_base = bytes;
          iov[i].iov_len = length;
        }
        request.iov = iov.data();
        request.iov_count = n;
        if (slot >= kept_.size()) kept_.resize(static_cast<size_t>(slot) + 1);
        std::vector<std::shared_ptr<v8::BackingStore>>& stores = kept_[slot];
        stores.clear();
        for (uint32_t i = 0; i < n; i++) {
          napi_value element;
          napi_get_element(env_, data, i, &element);
          stores.push_back(BackingStoreOf(element));
        }
      } else {
        uint8_t* bytes = nullptr;
        size_t length = 0;
        if (!BytesOf(env_, data, &bytes, &length)) return Napi::Number::New(env_, -EINVAL);
        const uint64_t offset = s->offset;
        const uint64_t len = s->length;
        if (offset + len > length) return Napi::Number::New(env_, -EINVAL);
        request.buf = bytes + offset;
        request.len = static_cast<uint32_t>(len);
        store = BackingStoreOf(data);
      }
    }

    const int rc = iou_loop_submit(loop_, &request, 1);
    if (rc == 1 && iou_op_moves_data(request.op)) {
      // Held from here until the request's completion is delivered (Drain), or for ever if the
      // kernel may keep it (Release of the slot skips abandoned kernel-held requests).
      if (slot >= kept_.size()) kept_.resize(static_cast<size_t>(slot) + 1);
      if (request.iov == nullptr) {
        kept_[slot].clear();
        kept_[slot].push_back(std::move(store));
      }
    } else if (rc != 1 && request.iov != nullptr) {
      kept_[slot].clear();
    }
    if (rc == 1) {
      if (inflight_++ == 0) Hold();
      // The first request of a JS turn: published at once, the turn goes on (iou.h).
      if (info.Length() > 1 && BoolArg(env_, info[1])) iou_loop_publish_early(loop_);
    }
    return Napi::Number::New(env_, rc);
  }

  // publish(): makes the requests submitted so far visible to the loop and ends the owner's turn.
  // JS thread.
  // Inline: the pass runs here and its completions are dispatched before publish returns (the
  // Driver calls it from its own microtask, never from inside a caller's frame).
  Napi::Value JS_publish(const Napi::CallbackInfo&) {
    if (loop_ == nullptr) return Napi::Value();
    iou_loop_publish(loop_);
    if (inline_) AfterPass(true);
    return Napi::Value();
  }

  // cancel(slot, generation) -> 0 | -errno. Publishes first, so that the loop has seen the request
  // the cancel names. JS thread.
  Napi::Value JS_cancel(const Napi::CallbackInfo& info) {
    if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
    const uint64_t tag = (static_cast<uint64_t>(info[1].As<Napi::Number>().Uint32Value()) << 32) |
                         info[0].As<Napi::Number>().Uint32Value();
    // Thread engine: publish first, because a request submitted in this turn must be visible to the
    // loop before its cancel is, or the loop would take the cancel for an unknown tag and drop it.
    // Inline: the pass that takes the cancel (soon: the cancel writes the loop's fd) also finds a
    // request still queued in the inbound queue.
    if (!inline_) iou_loop_publish(loop_);
    return Napi::Number::New(env_, iou_loop_cancel(loop_, tag));
  }

  // close(shutdownTimeoutMs; < 0 = no limit) -> 0 | -errno. Keeps the process alive until the loop
  // thread has exited and destroy() was called. JS thread.
  Napi::Value JS_close(const Napi::CallbackInfo& info) {
    if (!Tagged(info)) return Napi::Value();
    if (loop_ == nullptr) return Napi::Number::New(env_, -ESHUTDOWN);
    const double ms = info[0].As<Napi::Number>().DoubleValue();
    // Saturated: a timeout of 2^63 ns or more (about 292 years) is as good as none, and the cast
    // of a larger double would be undefined.
    const double ns_f = std::ceil(ms * 1e6);
    const int64_t ns = ms < 0 ? -1 : ns_f >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(ns_f);
    if (!inline_) iou_loop_publish(loop_); /* inline: the close's pass admits what is queued */
    const int rc = iou_loop_close(loop_, ns);
    if (rc == 0) {
      closing_ = true;
      Hold();
    }
    return Napi::Number::New(env_, rc);
  }

  // destroy(): joins the loop thread and releases everything; idempotent. JS thread.
  Napi::Value JS_destroy(const Napi::CallbackInfo& info) {
    if (!Tagged(info)) return Napi::Value();
    Teardown(true);
    return Napi::Value();
  }

  // stats() -> the loop's counters, or undefined once destroyed. JS thread.
  Napi::Value JS_stats(const Napi::CallbackInfo& info) {
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
    out.Set("abandoned", Napi::Number::New(env_, static_cast<double>(st.abandoned)));
    out.Set("pendingOperations", Napi::Number::New(env_, st.pending_operations));
    out.Set("singleIssuer", Napi::Boolean::New(env_, st.single_issuer));
    return out;
  }

  // poll(): drains completions now, as a notification would (a safety net while closing). JS thread.
  Napi::Value JS_poll(const Napi::CallbackInfo& info) {
    if (!Tagged(info)) return Napi::Value();
    if (inline_ && loop_ != nullptr) {
      iou_loop_run(loop_);
      AfterPass(true);
    } else {
      Drain(false);
    }
    return Napi::Value();
  }

  // enableTrace(): tests only (the conformance test). Must precede open(): the loop then reports
  // one event per op CQE (iou.h, struct iou_trace_event), buffered here until takeTrace(). JS thread.
  Napi::Value JS_enableTrace(const Napi::CallbackInfo& info) {
    if (!Tagged(info)) return Napi::Value();
    if (loop_ != nullptr) {
      Napi::Error::New(env_, "enableTrace() must be called before open()").ThrowAsJavaScriptException();
      return Napi::Value();
    }
    tracing_ = true;
    return Napi::Value();
  }

  // takeTrace() -> the events buffered since the last call, oldest first. JS thread.
  Napi::Value JS_takeTrace(const Napi::CallbackInfo& info) {
    if (!Tagged(info)) return Napi::Value();
    std::vector<struct iou_trace_event> events;
    {
      std::lock_guard<std::mutex> lock(trace_mutex_);
      events.swap(trace_);
    }
    Napi::Array out = Napi::Array::New(env_, events.size());
    for (size_t i = 0; i < events.size(); i++) {
      const struct iou_trace_event& e = events[i];
      Napi::Object o = Napi::Object::New(env_);
      o.Set("slot", Napi::Number::New(env_, static_cast<uint32_t>(e.tag)));
      o.Set("generation", Napi::Number::New(env_, static_cast<uint32_t>(e.tag >> 32)));
      o.Set("op", Napi::Number::New(env_, e.op));
      o.Set("flags", Napi::Number::New(env_, e.flags));
      o.Set("done", Napi::Number::New(env_, e.done));
      o.Set("total", Napi::Number::New(env_, e.total));
      o.Set("iovCount", Napi::Number::New(env_, e.iov_count));
      o.Set("cancel", Napi::Number::New(env_, e.cancel));
      o.Set("poll", Napi::Boolean::New(env_, e.poll != 0));
      o.Set("res", Napi::Number::New(env_, e.res));
      o.Set("decision", Napi::Number::New(env_, e.decision));
      o.Set("outcome", Napi::Number::New(env_, e.outcome));
      o.Set("result", Napi::Number::New(env_, e.result));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  // The loop's trace hook: buffers one event. Loop thread; the mutex is contended only by
  // takeTrace (tracing is for tests, never on in production).
  static void Trace(void* ctx, const struct iou_trace_event* event) {
    Loop* self = static_cast<Loop*>(ctx);
    std::lock_guard<std::mutex> lock(self->trace_mutex_);
    self->trace_.push_back(*event);
  }

  // Requests are in flight (or a close is under way): keep the process and the Driver alive.
  // JS thread.
  void Hold() {
    if (held_ || async_ == nullptr) return;
    held_ = true;
    Ref();
    dispatch_.Ref();
  }

  // Nothing in flight: let the process exit and the Driver be collected. JS thread.
  void Release() {
    if (!held_ || closing_) return;
    held_ = false;
    Unref();
    dispatch_.Unref();
  }

  // The engine's handles keep the event loop alive (requests outstanding, or closing) or not.
  void Ref() {
    if (async_ == nullptr) return;
    if (inline_) {
      uv_ref(reinterpret_cast<uv_handle_t*>(&async_->poll));
      uv_ref(reinterpret_cast<uv_handle_t*>(&async_->timer));
    } else {
      uv_ref(reinterpret_cast<uv_handle_t*>(&async_->handle));
    }
  }
  void Unref() {
    if (async_ == nullptr) return;
    if (inline_) {
      if (async_->open_handles > 1) uv_unref(reinterpret_cast<uv_handle_t*>(&async_->poll));
      uv_unref(reinterpret_cast<uv_handle_t*>(&async_->timer));
    } else {
      uv_unref(reinterpret_cast<uv_handle_t*>(&async_->handle));
    }
  }

  // Inline: the loop's fd is readable (CQEs or task work are queued). Reads its counter, runs a
  // pass and delivers. JS thread (libuv callback).
  static void OnReady(uv_poll_t* handle, int, int) {
    AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
    Loop* self = slot->owner;
    if (self == nullptr || self->loop_ == nullptr) return;
    uint64_t count;
    while (read(iou_loop_fd(self->loop_), &count, sizeof(count)) < 0 && errno == EINTR) {
    }
    iou_loop_run(self->loop_);
    self->AfterPass(false);
  }

  // Inline: the next deadline (or the shutdown cutoff) came. JS thread (libuv callback).
  static void OnTimer(uv_timer_t* handle) {
    AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
    Loop* self = slot->owner;
    if (self == nullptr || self->loop_ == nullptr) return;
    iou_loop_run(self->loop_);
    self->AfterPass(false);
  }

  // Inline, after a pass: delivers its completions, then arms the timer for the next deadline
  // (dispatch may have torn the loop down: rechecked after every call into JavaScript).
  void AfterPass(bool from_js) {
    Drain(from_js);
    if (loop_ == nullptr || async_ == nullptr) return;
    const int64_t ns = iou_loop_timeout_ns(loop_);
    if (ns < 0) {
      uv_timer_stop(&async_->timer);
      return;
    }
    const uint64_t ms = static_cast<uint64_t>(ns / 1000000) + (ns % 1000000 != 0 ? 1 : 0);
    uv_timer_start(&async_->timer, OnTimer, ms, 0);
  }

  // The loop's notify: wakes OnAsync on the JS thread. Loop thread; never blocks.
  static void Notify(void* ctx) {
    Loop* self = static_cast<Loop*>(ctx);
    uv_async_send(&self->async_->handle);
  }

  // Drains every published completion into the completion area and hands each chunk to the
  // Driver's dispatch(count, final); `final` is true on the last call after the loop thread has
  // exited. JS thread (libuv callback, outside any JS frame).
  static void OnAsync(uv_async_t* handle) {
    AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
    if (slot->owner != nullptr) slot->owner->Drain(false);
  }

  // from_js: called from inside a JavaScript call (the Driver's publish or poll), where dispatch is
  // a plain call; otherwise from a libuv callback, where it is a make-callback (async context,
  // microtasks after it).
  void Drain(bool from_js) {
    if (loop_ == nullptr) return;
    if (draining_) {
      // Called from inside dispatch (an inline pass run by a publish in a microtask that the
      // make-callback below runs): the outer Drain polls again before it returns.
      drain_again_ = true;
      return;
    }
    Napi::HandleScope scope(env_);
    draining_ = true;
    // Read before polling: once the thread has exited, this drain sees every completion.
    const bool exited = iou_loop_exited(loop_);
    for (;;) {
      const uint32_t n = iou_loop_poll_completions(loop_, completions_, capacity_);
      inflight_ -= n;
      ReleaseBuffers(n);
      const bool last = n < capacity_;
      const bool final = exited && last;
      Napi::Value fn = dispatch_.Value();
      if (inflight_ == 0) Release();
      if ((n > 0 || final) && !fn.IsEmpty() && fn.IsFunction()) {
        napi_value argv[2];
        napi_create_uint32(env_, n, &argv[0]);
        napi_get_boolean(env_, final, &argv[1]);
        napi_value recv;  // napi_make_callback wants an object as `this`
        napi_get_global(env_, &recv);
        napi_value result;
        const napi_status status = from_js ? napi_call_function(env_, recv, fn, 2, argv, &result)
                                           : napi_make_callback(env_, async_context_, recv, fn, 2, argv, &result);
        // A throw from dispatch is an uncaught exception. The same status without an exception
        // pending means the environment is terminating and JavaScript could not run: nothing to do.
        bool pending = false;
        if (!from_js && status == napi_pending_exception && napi_is_exception_pending(env_, &pending) == napi_ok &&
            pending) {
          napi_value error;
          napi_get_and_clear_last_exception(env_, &error);
          napi_fatal_exception(env_, error);
        }
      }
      // dispatch may have destroyed the loop (after the final chunk).
      if (loop_ == nullptr) break;
      if (last) {
        if (!drain_again_) break;
        drain_again_ = false;
      }
    }
    draining_ = false;
    // A destroy() from inside dispatch left the async context alive while it was in use.
    if (loop_ == nullptr && async_context_ != nullptr) {
      napi_async_destroy(env_, async_context_);
      async_context_ = nullptr;
    }
  }

  // The first n completions were polled: their requests' memory is the kernel's no longer, except
  // where the loop abandoned a request whose cancel did not land (IOU_COMPLETION_KERNEL_HELD): that
  // memory is quarantined for the life of the process. JS thread, before dispatch (which may reuse
  // the slots).
  void ReleaseBuffers(uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
      const uint32_t slot = static_cast<uint32_t>(completions_[i].tag);
      if (slot >= kept_.size()) continue;
      if (completions_[i].outcome == IOU_OUTCOME_ABANDONED && (completions_[i].flags & IOU_COMPLETION_KERNEL_HELD) != 0) {
        Quarantine(kept_[slot]);
      } else {
        kept_[slot].clear();
      }
    }
  }

  // The environment's async cleanup hook: Node is exiting or the worker ends. Tears the Loop down
  // if it still owns the handle; either way the handle is closing now and its close callback
  // (OnClosed) ends the hook. JS thread.
  static void AsyncCleanup(napi_async_cleanup_hook_handle, void* arg) {
    AsyncSlot* slot = static_cast<AsyncSlot*>(arg);
    if (slot->owner != nullptr) slot->owner->Teardown(false);
  }

  // The async handle's close callback: the last code of ours the handle runs. JS thread.
  static void OnClosed(uv_handle_t* handle) {
    AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
    if (--slot->open_handles > 0) return;
    if (slot->hook != nullptr) napi_remove_async_cleanup_hook(slot->hook);
    delete slot;
  }

  // Closes the engine's handles (the poll handle first stops watching the loop's fd, so the fd may
  // be closed after this). JS thread.
  void CloseAsync() {
    if (async_ == nullptr) return;
    AsyncSlot* slot = async_;
    async_ = nullptr;
    slot->owner = nullptr;
    if (slot->open_handles == 0) {
      if (slot->hook != nullptr) napi_remove_async_cleanup_hook(slot->hook);
      delete slot;
      return;
    }
    if (inline_) {
      if (slot->open_handles > 1) uv_close(reinterpret_cast<uv_handle_t*>(&slot->poll), OnClosed);
      uv_close(reinterpret_cast<uv_handle_t*>(&slot->timer), OnClosed);
    } else {
      uv_close(reinterpret_cast<uv_handle_t*>(&slot->handle), OnClosed);
    }
  }

  // Forces the loop closed (timeout 0: in-flight requests get their cancels and at most the loop's
  // abandonment grace, ~100 ms, to come back), joins its thread and closes the async handle.
  // Idempotent. `from_js` is false in the environment's cleanup hook and the finalizer, where no
  // JavaScript-visible state is touched. JS thread.
  void Teardown(bool from_js) {
    Exiting* exiting = from_js ? Exiting::Of(env_) : nullptr;
    if (loop_ != nullptr) {
      // iou_loop_destroy closes with timeout 0 (shortening a longer close, so that joining never
      // waits on I/O that may not complete), joins the thread and frees what nobody will dispatch.
      // The kernel never sees this binding's iovec arrays (the loop copies them at admission).
      // From JavaScript, once the thread has exited (the Driver's close), it is not joined while
      // it is still in the kernel (Exiting); iou_loop_try_destroy returns after its last notify,
      // so the async handle can close below either way.
      inflight_ = 0;
      if (inline_) CloseAsync(); /* stop polling the loop's fd before destroy closes it */
      if (exiting != nullptr && iou_loop_exited(loop_)) {
        if (!iou_loop_try_destroy(loop_)) exiting->loops.push_back(loop_);
      } else {
        iou_loop_destroy(loop_);
      }
      loop_ = nullptr;
      // Requests nobody will dispatch now: the kernel may still hold their memory.
      for (auto& stores : kept_) Quarantine(stores);
      // Not while Drain is inside napi_make_callback with it (Drain destroys it on the way out),
      // and not from the cleanup hook or a finalizer, where the environment is going away.
      if (from_js && !draining_) {
        napi_async_destroy(env_, async_context_);
        async_context_ = nullptr;
      } else if (!draining_) {
        async_context_ = nullptr;
      }
    }
    closing_ = false;
    if (held_ && from_js) Release();
    CloseAsync();
    torn_down_ = true;
    if (exiting != nullptr) exiting->Sweep();
  }

  napi_env env_;
  struct iou_loop* loop_ = nullptr;
  AsyncSlot* async_ = nullptr;  // while open; then freed by the handle's close callback
  napi_async_context async_context_ = nullptr;
  Napi::FunctionReference dispatch_;  // strong while held_, weak otherwise
  Napi::Reference<Napi::ArrayBuffer> staging_ref_;
  Napi::Reference<Napi::ArrayBuffer> completions_ref_;
  // The staging record: the staging ArrayBuffer's bytes (kept alive by staging_ref_), written by
  // the Driver, read by JS_submit.
  const struct iou_binding_stage* stage_ = nullptr;
  struct iou_completion* completions_ = nullptr;  // the completion ArrayBuffer's bytes
  uint32_t capacity_ = 0;                         // completions per chunk
  uint64_t inflight_ = 0;                         // taken by iou_loop_submit, not yet polled
  std::vector<std::vector<struct iovec>> iovs_;   // per slot; read by the loop when it admits the request
  // Per slot: the backing stores of the request's buffers, from submit until its completion is
  // polled (ReleaseBuffers) or the Loop is torn down (quarantined). Kernel-visible memory.
  std::vector<std::vector<std::shared_ptr<v8::BackingStore>>> kept_;
  bool inline_ = false;  // IOU_ENGINE_INLINE: this thread runs the loop's passes
  bool held_ = false;
  bool closing_ = false;
  bool draining_ = false;     // inside Drain: dispatch is running
  bool drain_again_ = false;  // a nested Drain was asked for: poll once more before returning
  bool torn_down_ = false;
  bool tracing_ = false;    // enableTrace() was called (tests only)
  std::mutex trace_mutex_;  // guards trace_ (loop thread pushes, JS thread takes)
  std::vector<struct iou_trace_event> trace_;
};

void InitLoop(Napi::Env env, Napi::Object exports) {
  napi_set_instance_data(
      env, new Exiting, [](napi_env, void* data, void*) { delete static_cast<Exiting*>(data); }, nullptr);
  exports.Set("Loop", Loop::Define(env));
}

}  // namespace iou_binding
