// lifetime.cc: the Loop's lifetime: open() (the iou_loop and the libuv handles of its engine),
// close(), destroy(), closeOnExit() and Teardown (also run by the finalizer and the environment's
// cleanup hook, where it closes the fds marked with closeOnExit); the AsyncSlot those handles live
// in and its async cleanup hook; the Exiting list of loops whose thread has not ended; and
// Hold/Release/Ref/Unref, which keep the process and the Driver alive
// exactly while requests are in flight or a close is under way. Every function here runs on the
// JS thread that created the Loop.
//
// Environment teardown: when a worker ends, Node unloads this addon with the worker's environment
// unless another thread loaded it too, so no code of ours may run after that: not the loop thread
// (joined in the hook) and not the handles' close callbacks. The hook is therefore an async cleanup
// hook (napi_add_async_cleanup_hook), owned by the handles' AsyncSlot and removed by the last close
// callback: Node keeps running the worker's event loop, and keeps the addon loaded, until that
// callback has run. A plain cleanup hook would return with the close callback still queued, to be
// run by libuv after the unload.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <vector>

#include "loop_class.h"

namespace iou_binding {
namespace {

// Loops whose thread has exited but not ended yet, per environment (its instance data). A Loop torn
// down from JavaScript (destroy(), after the final dispatch) never waits for its thread to end: the
// thread can be held in the kernel's exit path for as long as io-wq takes to finish a request the
// shutdown abandoned (iou_loop_try_destroy), and the JS thread must not wait for kernel work. Such a
// loop is kept here and freed by its own Loop's released() (the Driver's close() asks for a while),
// or by the first later open() or destroy() in this environment that finds its thread ended, or at
// the latest when the environment ends: there the destructor waits, before Node may unload the addon
// the thread last ran in. JS thread.
struct Exiting {
  // Each kept loop with its number (Keep), by which its Loop asks whether it is freed (Has).
  struct Kept {
    struct iou_loop* loop;
    uint64_t id;
  };
  std::vector<Kept> loops;
  uint64_t next_id = 1;

  ~Exiting() {
    for (const Kept& kept : loops) iou_loop_destroy(kept.loop);
  }

  uint64_t Keep(struct iou_loop* loop) {
    loops.push_back({loop, next_id});
    return next_id++;
  }

  bool Has(uint64_t id) const {
    for (const Kept& kept : loops)
      if (kept.id == id) return true;
    return false;
  }

  void Sweep() {
    size_t kept = 0;
    for (const Kept& entry : loops)
      if (!iou_loop_try_destroy(entry.loop)) loops[kept++] = entry;
    loops.resize(kept);
  }

  static Exiting* Of(napi_env env) {
    void* data = nullptr;
    napi_get_instance_data(env, &data);
    return static_cast<Exiting*>(data);
  }
};

}  // namespace

Loop::~Loop() {
  Teardown(false);
}

// open(size, singleIssuer, ioPoll, maxRequestTimeoutNs, timeoutWheelTickNs, idleSpinUs, engine,
// operations, maxInFlight, recvPool, recvBufferSize, inlineWake) -> 0 | -errno. JS thread. The spin's ceiling
// is the C default (300 µs) or idleSpinUs if larger (thread engine only); engine is IOU_ENGINE_*
// (default thread); operations the IOU_CLASS_* bits the loop accepts (default all; other bits:
// -EINVAL from iou_loop_open); maxInFlight absent or 0: the size. recvPool (a Uint8Array of count *
// recvBufferSize bytes, count a power of two) holds the provided buffers of recvMany, kept alive by
// this Loop (Buffers::HoldPool); absent: none.
Napi::Value Loop::JS_open(const Napi::CallbackInfo& info) {
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
  config.engine =
      info.Length() > 6 && info[6].IsNumber() && info[6].As<Napi::Number>().Uint32Value() == IOU_ENGINE_INLINE
          ? IOU_ENGINE_INLINE
          : IOU_ENGINE_THREAD;
  config.operations = info.Length() > 7 && info[7].IsNumber()
                          ? static_cast<uint8_t>(std::min(info[7].As<Napi::Number>().Uint32Value(), 255u))
                          : IOU_CLASS_ALL;
  config.max_in_flight = info.Length() > 8 && info[8].IsNumber() ? info[8].As<Napi::Number>().Uint32Value() : 0;
  if (info.Length() > 10 && info[9].IsTypedArray() && info[10].IsNumber()) {
    Napi::Uint8Array pool = info[9].As<Napi::Uint8Array>();
    const uint32_t size = info[10].As<Napi::Number>().Uint32Value();
    if (pool.TypedArrayType() != napi_uint8_array || size == 0 || pool.ByteLength() % size != 0)
      return Napi::Number::New(env_, -EINVAL);
    config.recv_buffers = pool.Data();
    config.recv_buffer_size = size;
    config.recv_buffer_count = static_cast<uint32_t>(pool.ByteLength() / size);
    buffers_.HoldPool(pool);
  }
  // inlineWake: IOU_INLINE_WAKE_* (validated by @iou/core's Config); absent: the C default.
  if (info.Length() > 11 && info[11].IsNumber())
    config.inline_wake = static_cast<uint8_t>(std::min(info[11].As<Napi::Number>().Uint32Value(), 255u));
  config.idle_spin_max_us =
      config.idle_spin_us > IOU_IDLE_SPIN_MAX_DEFAULT_US ? config.idle_spin_us : IOU_IDLE_SPIN_MAX_DEFAULT_US;
  if (trace_.enabled()) {
    config.trace = Trace::Hook;
    config.trace_ctx = &trace_;
  }

  uv_loop_t* uv_loop = nullptr;
  if (napi_get_uv_event_loop(env_, &uv_loop) != napi_ok) return Napi::Number::New(env_, -EINVAL);
  inline_ = config.engine == IOU_ENGINE_INLINE;
  AsyncSlot* slot = new AsyncSlot;
  slot->owner = this;
  int rc = 0;
  if (inline_) {
    rc = uv_timer_init(uv_loop, &slot->timer);
    if (rc == 0) slot->uv_open_count = 1;
  } else {
    rc = uv_async_init(uv_loop, &slot->notify, OnAsync);
    if (rc == 0) slot->uv_open_count = 1;
  }
  if (rc < 0) {
    delete slot;
    return Napi::Number::New(env_, rc);
  }
  async_ = slot;
  slot->notify.data = slot;
  slot->timer.data = slot;
  slot->poll.data = slot;
  Unref();
  if (napi_add_async_cleanup_hook(env_, AsyncCleanup, slot, &slot->hook) != napi_ok) {
    slot->hook = nullptr;
    CloseAsync();
    return Napi::Number::New(env_, -EINVAL);
  }

  // The inline engine runs on this thread and never notifies: completions are delivered after
  // each pass (AfterPass, delivery.cc).
  rc = iou_loop_open(&config, inline_ ? nullptr : Notify, this, &loop_);
  if (rc < 0) {
    loop_ = nullptr;
    CloseAsync();
    return Napi::Number::New(env_, rc);
  }
  if (inline_) {
    counter_fd_ = iou_loop_inline_wake(loop_) == IOU_INLINE_WAKE_EVENTFD;
    rc = uv_poll_init(uv_loop, &slot->poll, iou_loop_fd(loop_));
    if (rc == 0) {
      slot->uv_open_count++;
      rc = uv_poll_start(&slot->poll, UV_READABLE, OnReady);
    }
    if (rc < 0) {
      CloseAsync(); /* the poll handle first, as Teardown: the destroy closes the fd it was given */
      iou_loop_destroy(loop_);
      loop_ = nullptr;
      return Napi::Number::New(env_, rc);
    }
    Unref();
  }
  napi_value resource_name;
  napi_create_string_utf8(env_, "IouCompletions", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env_, nullptr, resource_name, &async_context_);
  return Napi::Number::New(env_, 0);
}

// close(shutdownTimeoutMs; < 0 = no limit) -> 0 | -errno. Keeps the process alive until the loop
// thread has exited and destroy() was called. JS thread.
Napi::Value Loop::JS_close(const Napi::CallbackInfo& info) {
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
    if (inline_ && !counter_fd_) ArmTimer();  // the ring-fd wake announces the close's pass through the timer
  }
  return Napi::Number::New(env_, rc);
}

// destroy() -> 0 | 1: joins the loop thread and releases everything; idempotent. 1 when the loop's
// thread had exited but not ended (still leaving the kernel), so the loop was kept on the Exiting
// list; released() says when it is freed. JS thread.
Napi::Value Loop::JS_destroy(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  Teardown(true);
  // Teardown's last sweep may have freed it already.
  Exiting* exiting = Exiting::Of(env_);
  if (kept_id_ != 0 && (exiting == nullptr || !exiting->Has(kept_id_))) kept_id_ = 0;
  return Napi::Number::New(env_, kept_id_ != 0 ? 1 : 0);
}

// released() -> whether the loop this Loop's destroy() kept is freed (true when it kept none):
// frees every kept loop whose thread has ended, as an open does. JS thread.
Napi::Value Loop::JS_released(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  Exiting* exiting = Exiting::Of(env_);
  if (kept_id_ != 0 && exiting != nullptr) {
    exiting->Sweep();
    if (!exiting->Has(kept_id_)) kept_id_ = 0;
  }
  return Napi::Boolean::New(env_, kept_id_ == 0);
}

// closeOnExit(fd, on, path?, dev?, ino?) -> 0 | -EINVAL: adds fd (with the Unix socket path to
// unlink after it, if the socket is bound then and, with dev and ino (bigints), the path still
// names that file: CloseMarked) to (on) or takes it out of the fds that Teardown closes from the
// cleanup hook or the finalizer. JS thread.
Napi::Value Loop::JS_closeOnExit(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) return Napi::Number::New(env_, -EINVAL);
  const int32_t fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) return Napi::Number::New(env_, -EINVAL);
  if (info[1].As<Napi::Boolean>().Value()) {
    ExitMark mark;
    if (info.Length() > 2 && info[2].IsString()) mark.path = info[2].As<Napi::String>().Utf8Value();
    if (info.Length() > 4 && info[3].IsBigInt() && info[4].IsBigInt()) {
      bool exact_dev = false;
      bool exact_ino = false;
      mark.dev = info[3].As<Napi::BigInt>().Uint64Value(&exact_dev);
      mark.ino = info[4].As<Napi::BigInt>().Uint64Value(&exact_ino);
      if (!exact_dev || !exact_ino) return Napi::Number::New(env_, -EINVAL);
      mark.identified = true;
    }
    if (!torn_down_) exit_fds_[fd] = std::move(mark);
  } else {
    exit_fds_.erase(fd);
  }
  return Napi::Number::New(env_, 0);
}

// closeMarked(fd) -> 0 | -errno: takes fd out of the closeOnExit marks and closes it (close(2)), in
// one call: between two calls a terminating thread could stop after the unmark, leaving the fd
// unmarked and open. JS thread.
Napi::Value Loop::JS_closeMarked(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env_, -EINVAL);
  const int32_t fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) return Napi::Number::New(env_, -EBADF);
  exit_fds_.erase(fd);
  return Napi::Number::New(env_, close(fd) < 0 ? -errno : 0);
}

void CloseMarked(int32_t fd, const ExitMark& mark) {
  // The path is unlinked only if this socket is bound to a path, which can only be its own: a
  // listener's socket is marked with its path before its bind is sent, so one whose bind failed
  // (another server's file: EADDRINUSE) or never ran leaves the file alone. Once identified, only
  // while the path names that file: one removed and made anew by someone else is theirs.
  const std::string& path = mark.path;
  bool bound = false;
  if (!path.empty()) {
    struct sockaddr_un address {};
    socklen_t length = sizeof address;
    bound = getsockname(fd, reinterpret_cast<struct sockaddr*>(&address), &length) == 0 &&
            address.sun_family == AF_UNIX && length > offsetof(struct sockaddr_un, sun_path) &&
            address.sun_path[0] != '\0';
  }
  if (bound && mark.identified) {
    struct stat now {};
    bound = lstat(path.c_str(), &now) == 0 && static_cast<uint64_t>(now.st_dev) == mark.dev &&
            static_cast<uint64_t>(now.st_ino) == mark.ino;
  }
  close(fd);
  if (bound) unlink(path.c_str());
}

// Requests are in flight (or a close is under way): keep the process and the Driver alive.
// JS thread.
void Loop::Hold() {
  if (held_ || async_ == nullptr) return;
  held_ = true;
  Ref();
  dispatch_.Ref();
}

// Nothing in flight: let the process exit and the Driver be collected. JS thread.
void Loop::Release() {
  if (!held_ || closing_) return;
  held_ = false;
  Unref();
  dispatch_.Unref();
}

// The engine's handles keep the event loop alive (requests outstanding, or closing) or not.
// JS thread.
void Loop::Ref() {
  if (async_ == nullptr) return;
  if (inline_) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&async_->poll));
    uv_ref(reinterpret_cast<uv_handle_t*>(&async_->timer));
  } else {
    uv_ref(reinterpret_cast<uv_handle_t*>(&async_->notify));
  }
}
void Loop::Unref() {
  if (async_ == nullptr) return;
  if (inline_) {
    if (async_->uv_open_count > 1) uv_unref(reinterpret_cast<uv_handle_t*>(&async_->poll));
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_->timer));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_->notify));
  }
}

// The environment's async cleanup hook: Node is exiting or the worker ends. Tears the Loop down
// if it still owns the handles; either way they are closing now and the last close callback
// (OnClosed) ends the hook. JS thread.
void Loop::AsyncCleanup(napi_async_cleanup_hook_handle, void* arg) {
  AsyncSlot* slot = static_cast<AsyncSlot*>(arg);
  if (slot->owner != nullptr) slot->owner->Teardown(false);
}

// A handle's close callback; the last one is the last code of ours the handles run. JS thread.
void Loop::OnClosed(uv_handle_t* handle) {
  AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
  if (--slot->uv_open_count > 0) return;
  if (slot->hook != nullptr) napi_remove_async_cleanup_hook(slot->hook);
  delete slot;
}

// Closes the engine's handles (the poll handle first stops watching the loop's fd, so the fd may
// be closed after this). JS thread.
void Loop::CloseAsync() {
  if (async_ == nullptr) return;
  AsyncSlot* slot = async_;
  async_ = nullptr;
  slot->owner = nullptr;
  if (slot->uv_open_count == 0) {
    if (slot->hook != nullptr) napi_remove_async_cleanup_hook(slot->hook);
    delete slot;
    return;
  }
  if (inline_) {
    if (slot->uv_open_count > 1) uv_close(reinterpret_cast<uv_handle_t*>(&slot->poll), OnClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&slot->timer), OnClosed);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(&slot->notify), OnClosed);
  }
}

// Forces the loop closed (timeout 0: in-flight requests get their cancels and at most the loop's
// abandonment grace, ~100 ms, to come back), joins its thread and closes the engine's handles.
// Idempotent. `from_js` is false in the environment's cleanup hook and the finalizer, where no
// JavaScript-visible state is touched. JS thread.
void Loop::Teardown(bool from_js) {
  Exiting* exiting = from_js ? Exiting::Of(env_) : nullptr;
  if (loop_ != nullptr) {
    // From JavaScript, once the thread has exited (the Driver's close, whose final dispatch
    // polled every completion), it is not joined while it is still in the kernel (Exiting);
    // iou_loop_try_destroy returns after its last notify, so the async handle can close below
    // either way. Otherwise (a worker or the process ending, requests perhaps in flight)
    // iou_loop_stop closes with timeout 0 (shortening a longer close, so that joining never waits
    // on I/O that may not complete) and joins the thread: every request then has its completion,
    // so the memory of those that ended (all but the kernel-held ones) is released here rather
    // than quarantined, the fds the completions made are closed (nobody will see them), and
    // iou_loop_destroy frees the loop. The kernel never sees this binding's iovec arrays (the loop
    // copies them at admission).
    if (inline_) CloseAsync(); /* stop polling the loop's fd before the stop closes it */
    if (exiting != nullptr && iou_loop_exited(loop_)) {
      if (!iou_loop_try_destroy(loop_)) kept_id_ = exiting->Keep(loop_);
    } else {
      iou_loop_stop(loop_);
      struct iou_completion ended[64];
      uint32_t n = 0;
      do {
        n = iou_loop_poll_completions(loop_, ended, 64);
        CloseAbandonedCloses(ended, n);
        inflight_ -= ReleaseBuffers(ended, n);
        CloseUntakenFds(ended, n);
      } while (n == 64);
      iou_loop_destroy(loop_);
    }
    const bool pending = inflight_ > 0;
    inflight_ = 0;
    loop_ = nullptr;
    // Whatever is still held belongs to requests whose end nobody saw: the kernel may still hold
    // their memory.
    buffers_.QuarantineAll(pending);
    // Not while a Drain is inside a callback scope with it (Drain destroys it on the way out),
    // and not from the cleanup hook or a finalizer, where the environment is going away.
    if (from_js && drain_depth_ == 0) {
      napi_async_destroy(env_, async_context_);
      async_context_ = nullptr;
    } else if (drain_depth_ == 0) {
      async_context_ = nullptr;
    }
  }
  // The loop is gone (no request of it can use them): the fds the Driver left to close on exit,
  // and their Unix socket paths unlinked, as Node's server does when it closes. From JavaScript
  // (destroy(), after the Driver's close) they stay the program's.
  if (!from_js) {
    for (const auto& [fd, mark] : exit_fds_) CloseMarked(fd, mark);
  }
  exit_fds_.clear();
  exit_closes_.clear();
  closing_ = false;
  if (held_ && from_js) Release();
  CloseAsync();
  torn_down_ = true;
  if (exiting != nullptr) exiting->Sweep();
}

// Registers the Loop class and this environment's Exiting list (freed, waiting for every thread
// still on it, when the environment ends). JS thread.
void InitLoop(Napi::Env env, Napi::Object exports) {
  napi_set_instance_data(
      env, new Exiting, [](napi_env, void* data, void*) { delete static_cast<Exiting*>(data); }, nullptr);
  exports.Set("Loop", Loop::Define(env));
}

}  // namespace iou_binding
