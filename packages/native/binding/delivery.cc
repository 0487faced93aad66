// delivery.cc: completion delivery. Drain polls the loop's published completions straight into
// the completion area and hands each chunk to the Driver's dispatch(count, final), after releasing
// the memory of the requests it completes (ReleaseBuffers); what wakes it depends on the engine:
//
//   thread   the loop thread's notify (Notify, a uv_async_send) wakes OnAsync on the JS thread
//   inline   the loop's fd turning readable (OnReady) or its next deadline (OnTimer) runs a pass on
//            the JS thread, and AfterPass delivers and re-arms the timer; publish() and poll() run
//            a pass from inside a JavaScript call
//
// Also closeUntaken(), the Driver's close of a completion's fd that nobody wants, and the close of
// every fd a chunk still flags once its dispatch returned (CloseUntakenFds).
//
// Notify runs on the loop thread and never blocks; every other function here runs on the JS thread
// that created the Loop, either from a libuv callback or from inside a JavaScript call (`from_js`).
#include <unistd.h>

#include <cerrno>

#include "loop_class.h"

namespace iou_binding {

// poll(): drains completions now, as a notification would (a safety net while closing). JS thread.
Napi::Value Loop::JS_poll(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  if (inline_ && loop_ != nullptr) {
    iou_loop_run(loop_);
    AfterPass(true);
  } else {
    Drain(false);
  }
  return Napi::Value();
}

// Inline: the loop's fd is readable (CQEs or task work are queued). Reads its counter (the
// eventfd's; the ring fd has none), runs a pass and delivers. JS thread (libuv callback).
void Loop::OnReady(uv_poll_t* handle, int, int) {
  AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
  Loop* self = slot->owner;
  if (self == nullptr || self->loop_ == nullptr) return;
  uint64_t count;
  while (self->counter_fd_ && read(iou_loop_fd(self->loop_), &count, sizeof(count)) < 0 && errno == EINTR) {
  }
  iou_loop_run(self->loop_);
  self->AfterPass(false);
}

// Inline: the next deadline (or the shutdown cutoff) came. JS thread (libuv callback).
void Loop::OnTimer(uv_timer_t* handle) {
  AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
  Loop* self = slot->owner;
  if (self == nullptr || self->loop_ == nullptr) return;
  iou_loop_run(self->loop_);
  self->AfterPass(false);
}

// Inline, after a pass: delivers its completions, then arms the timer for the next deadline
// (dispatch may have torn the loop down: rechecked after every call into JavaScript). A loop that
// exited and is not destroyed yet (its final dispatch threw, or JavaScript cannot run any more) is
// no longer polled: its fd, open until the destroy, may stay readable with completions nobody
// reaps, and the Driver's watch (poll()) retries the delivery. An inline Loop with a loop_ has its
// poll started (JS_open). JS thread.
void Loop::AfterPass(bool from_js) {
  Drain(from_js);
  if (loop_ != nullptr && async_ != nullptr && iou_loop_exited(loop_)) uv_poll_stop(&async_->poll);
  ArmTimer();
}

// Inline: arms the timer for iou_loop_timeout_ns (0: a pass is due at once, with the ring-fd wake
// the loop's only way to call itself back), or stops it. After every call into the loop. JS thread.
void Loop::ArmTimer() {
  if (loop_ == nullptr || async_ == nullptr) return;
  const int64_t ns = iou_loop_timeout_ns(loop_);
  if (ns < 0) {
    uv_timer_stop(&async_->timer);
    return;
  }
  const uint64_t ms = static_cast<uint64_t>(ns / 1000000) + (ns % 1000000 != 0 ? 1 : 0);
  uv_timer_start(&async_->timer, OnTimer, ms, 0);
}

// Thread engine: the loop's notify: wakes OnAsync on the JS thread. Loop thread; never blocks.
// The async handle outlives every notify: Teardown joins the thread, or iou_loop_try_destroy
// returns after its last notify, before the handle is closed.
void Loop::Notify(void* ctx) {
  Loop* self = static_cast<Loop*>(ctx);
  uv_async_send(&self->async_->notify);
}

// Thread engine: drains every published completion into the completion area and hands each chunk
// to the Driver's dispatch(count, final); `final` is true on the last call after the loop thread
// has exited. JS thread (libuv callback, outside any JS frame).
void Loop::OnAsync(uv_async_t* handle) {
  AsyncSlot* slot = static_cast<AsyncSlot*>(handle->data);
  if (slot->owner != nullptr) slot->owner->Drain(false);
}

// from_js: called from inside a JavaScript call (the Driver's publish, or poll() with the inline
// engine), where dispatch is a plain call; otherwise from a libuv callback (or the thread engine's
// poll()), where dispatch runs in a callback scope (async context; microtasks and process.nextTick
// callbacks run when the scope closes). JS thread.
//
// Reentry: the microtasks that close a callback scope may publish, and an inline publish runs a
// pass and drains its completions here, inside the outer Drain. The dispatch that filled the
// completion area has returned by then (dispatching_ is false), so the inner Drain polls and
// dispatches its own completions at once, as a plain call. A Drain asked for while dispatch itself
// is running (poll() from inside a callback) would overwrite the completions it is reading: it
// only leaves drain_again_, and the running Drain polls once more before it returns.
void Loop::Drain(bool from_js) {
  if (loop_ == nullptr) return;
  if (dispatching_) {
    drain_again_ = true;
    return;
  }
  Napi::HandleScope scope(env_);
  drain_depth_++;
  // Read before polling: once the thread has exited, this drain sees every completion.
  const bool exited = iou_loop_exited(loop_);
  for (;;) {
    // The inbound queue was full and the loop has taken requests since: dispatch even without
    // completions, so that the Driver submits what it kept back (its backpressure queue). Read on
    // every round: a pass run from inside dispatch (drain_again_) may have freed room again.
    const bool room = iou_loop_inbound_room(loop_);
    const uint32_t n = iou_loop_poll_completions(loop_, completions_, capacity_);
    inflight_ -= ReleaseBuffers(completions_, n);
    const bool last = n < capacity_;
    const bool final = exited && last;
    Napi::Value fn = dispatch_.Value();
    if (inflight_ == 0) Release();
    if (n > 0 || final || room) {
      // No Driver to hand the chunk to: nobody will take its fds.
      if (fn.IsEmpty() || !fn.IsFunction()) {
        CloseUntakenFds(completions_, n);
      } else if (!Dispatch(fn, n, final, from_js)) {
        // A plain call that threw leaves its exception for the JavaScript caller, and every later
        // call would fail at once: stop, and leave what is left for the next Drain.
        break;
      }
    }
    // dispatch may have destroyed the loop (after the final chunk).
    if (loop_ == nullptr) break;
    if (last) {
      if (!drain_again_) break;
      drain_again_ = false;
    }
  }
  drain_depth_--;
  // A destroy() from inside dispatch left the async context alive while a scope used it.
  if (drain_depth_ == 0 && loop_ == nullptr && async_context_ != nullptr) {
    napi_async_destroy(env_, async_context_);
    async_context_ = nullptr;
  }
}

// Calls the Driver's dispatch(n, final) for the chunk in the completion area. From JavaScript, a
// plain call: false if it threw (the exception is pending for the caller). From a libuv callback,
// inside a callback scope that is closed (running microtasks and ticks) after dispatching_ is
// cleared; a throw there is reported as an uncaught exception before the scope closes, so unlike
// napi_make_callback the scope's microtasks still run after a handled one. Returns true then.
// Either way, what the chunk still flags once dispatch returned is closed (CloseUntakenFds). JS
// thread.
bool Loop::Dispatch(Napi::Value fn, uint32_t n, bool final, bool from_js) {
  napi_value argv[2];
  napi_create_uint32(env_, n, &argv[0]);
  napi_get_boolean(env_, final, &argv[1]);
  napi_value recv;  // dispatch's `this` (the scope's resource argument must be an object too)
  napi_get_global(env_, &recv);
  napi_value result;
  if (from_js) {
    dispatching_ = true;
    const napi_status status = napi_call_function(env_, recv, fn, 2, argv, &result);
    dispatching_ = false;
    CloseUntakenFds(completions_, n);
    return status != napi_pending_exception;
  }
  // Fails only on invalid arguments: the resource is an object, and async_context_ lives as long
  // as loop_ (both go in Teardown), which Drain checked.
  napi_callback_scope callback_scope = nullptr;
  napi_open_callback_scope(env_, recv, async_context_, &callback_scope);
  dispatching_ = true;
  const napi_status status = napi_call_function(env_, recv, fn, 2, argv, &result);
  dispatching_ = false;
  CloseUntakenFds(completions_, n);
  // The same status without an exception pending means the environment is terminating and
  // JavaScript could not run: nothing else to do.
  bool pending = false;
  if (status == napi_pending_exception && napi_is_exception_pending(env_, &pending) == napi_ok && pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env_, &error);
    napi_fatal_exception(env_, error);
  }
  if (callback_scope != nullptr) napi_close_callback_scope(env_, callback_scope);
  return true;
}

// The fds of the n completions that nobody took: the Driver clears a completion's IOU_COMPLETION_FD
// (Wire.takeFd, or closeUntaken) before its fd goes anywhere, so those still flagged after any
// dispatch (one that did not finish: it threw, or the worker was terminated and JavaScript could
// not run; one that did while its environment was ending: the Driver leaves flagged an fd whose
// mark or closeUntaken the binding refused then, with JavaScript still running a little), and
// those no dispatch will see (no Driver; Teardown), never reached anyone and are closed here. The
// Driver may have marked one (closeOnExit) just before it would have taken it: the mark goes with
// the close, so Teardown never closes that number a second time (by then it may be another
// thread's). JS thread.
void Loop::CloseUntakenFds(const struct iou_completion* completions, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if ((completions[i].flags & IOU_COMPLETION_FD) == 0) continue;
    exit_fds_.erase(completions[i].result);
    close(completions[i].result);
  }
}

// closeUntaken(i) -> 0 | -errno: closes the fd of completion i of the completion area (close(2),
// its closeOnExit mark dropped) and clears its IOU_COMPLETION_FD, in one call: the fd is closed
// once, here, or (when the binding cannot run this call: its environment is ending) by
// CloseUntakenFds after the dispatch. -EBADF for a completion that flags no fd. JS thread, inside
// dispatch (the Driver's fd of a request whose caller stopped waiting: Delivery.fromLoop).
Napi::Value Loop::JS_closeUntaken(const Napi::CallbackInfo& info) {
  if (!Tagged(info)) return Napi::Value();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env_, -EINVAL);
  const int64_t i = info[0].As<Napi::Number>().Int64Value();
  if (completions_ == nullptr || i < 0 || i >= static_cast<int64_t>(capacity_) ||
      (completions_[i].flags & IOU_COMPLETION_FD) == 0) {
    return Napi::Number::New(env_, -EBADF);
  }
  completions_[i].flags = static_cast<uint8_t>(completions_[i].flags & ~IOU_COMPLETION_FD);
  const int32_t fd = completions_[i].result;
  exit_fds_.erase(fd);
  return Napi::Number::New(env_, close(fd) < 0 ? -errno : 0);
}

// Teardown's completions, before ReleaseBuffers: a close of a marked fd that the loop's stop
// abandoned before the kernel ran it (not KERNEL_HELD) left the fd open: closed here (and its Unix
// socket path unlinked), since no JavaScript will (Delivery.closeAbandoned does it otherwise). JS
// thread.
void Loop::CloseAbandonedCloses(const struct iou_completion* completions, uint32_t n) {
  if (exit_closes_.empty()) return;
  for (uint32_t i = 0; i < n; i++) {
    const auto entry = exit_closes_.find(static_cast<uint32_t>(completions[i].tag));
    if (entry == exit_closes_.end()) continue;
    if (completions[i].outcome == IOU_OUTCOME_ABANDONED && (completions[i].flags & IOU_COMPLETION_KERNEL_HELD) == 0) {
      CloseMarked(entry->second.first, entry->second.second);
    }
  }
}

// The n completions were polled: their requests' memory is the kernel's no longer, except where
// the loop abandoned a request whose cancel did not land (IOU_COMPLETION_KERNEL_HELD): that memory
// is quarantined for the life of the process. A multishot result (IOU_COMPLETION_MORE) ends
// nothing. Returns how many requests ended. JS thread, before dispatch (which may reuse the slots),
// or in Teardown.
uint32_t Loop::ReleaseBuffers(const struct iou_completion* completions, uint32_t n) {
  uint32_t ended = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (completions[i].flags & IOU_COMPLETION_MORE) continue;
    ended++;
    const uint32_t slot = static_cast<uint32_t>(completions[i].tag);
    if (!exit_closes_.empty()) exit_closes_.erase(slot);
    if (completions[i].outcome == IOU_OUTCOME_ABANDONED && (completions[i].flags & IOU_COMPLETION_KERNEL_HELD) != 0) {
      buffers_.Quarantine(slot);
    } else {
      buffers_.Release(slot);
    }
  }
  return ended;
}

}  // namespace iou_binding
