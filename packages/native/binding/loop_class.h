// loop_class.h: the declaration of the binding's `Loop` class, private to the binding's files. Its
// member functions are defined by job, one file each, and every field below is grouped under the
// file that owns it (the only file that writes it, unless its comment names another):
//
//   loop.cc      the class's JavaScript surface: the method table, construction, and the request
//                path (submit, publish, cancel) and stats()
//   lifetime.cc  open, close, destroy and teardown; the libuv handles (AsyncSlot) and the async
//                cleanup hook; the Exiting list; Hold/Release/Ref/Unref
//   wire.cc      the staging record and submit's data into a struct iou_request; the backing
//                stores that keep kernel-visible memory alive (Buffers, wire.h)
//   delivery.cc  completions polled into the completion area and handed to the Driver's dispatch
//                (Drain), from the thread engine's notify or the inline engine's passes; poll()
//   trace.cc     the test-only trace (Trace, trace.h)
//   (socket.cc and file.cc are no part of the class: the synchronous socket calls,
//   exports.sockets, and readFile's synchronous stat, exports.files)
//
// Threads: every member function runs on the JS thread that created the Loop (the loop's owner in
// iou.h's terms) except Notify, which runs on the loop thread (as does the thread engine's
// Trace::Hook, trace.h).
#ifndef IOU_BINDING_LOOP_CLASS_H
#define IOU_BINDING_LOOP_CLASS_H

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "iou.h"
#include "loop.h"
#include "trace.h"
#include "wire.h"

namespace iou_binding {

class Loop;

// What closeOnExit marked an fd with: the Unix socket path to unlink after its close (empty: none)
// and, once the Driver knows it (the listener handed over), the device and inode of the file the
// socket's bind made, so that a file made anew at the path by someone else is left.
struct ExitMark {
  std::string path;
  bool identified = false;
  uint64_t dev = 0;
  uint64_t ino = 0;
};

// close(2) of an fd marked to be closed on exit, and unlink(2) of its Unix socket path if it has
// one, the socket is bound to a path and the path names the file identified (when it is)
// (delivery.cc's CloseAbandonedCloses, lifetime.cc's Teardown). JS thread.
void CloseMarked(int32_t fd, const ExitMark& mark);

// The libuv handles of one Loop and what must outlive the Loop until libuv is done with them:
// allocated by open(), freed by the last handle's close callback (OnClosed), which also removes the
// async cleanup hook. The thread engine uses the async handle (the loop thread's notify); the inline
// engine a poll handle on the loop's fd and a timer for its next deadline. Every handle's `data` is
// the slot. Owned by lifetime.cc; delivery.cc starts the timer and sends on the async handle. JS
// thread (uv_async_send: the loop thread).
struct AsyncSlot {
  uv_async_t notify;  // thread engine: the loop thread's signal that completions wait
  uv_poll_t poll;     // inline engine: iou_loop_fd readable
  uv_timer_t timer;   // inline engine: iou_loop_timeout_ns
  int uv_open_count = 0;
  Loop* owner = nullptr;  // the Loop while it uses the handles; null once it closed them (Teardown)
  napi_async_cleanup_hook_handle hook = nullptr;
};

// A boolean argument; false for anything else, without coercion. Coercion (Napi::Value::ToBoolean)
// may run JavaScript, so it fails while the environment is terminating, and its empty result has no
// env for the next call to report through. JS thread.
inline bool BoolArg(napi_env env, napi_value value) {
  bool out = false;
  napi_get_value_bool(env, value, &out);
  return out;
}

class Loop : public Napi::ObjectWrap<Loop> {
 public:
  // The class with its methods, for `exports.Loop`. JS thread (loop.cc).
  static Napi::Function Define(Napi::Env env);

  // new Loop(dispatch, staging, completions). JS thread (loop.cc).
  explicit Loop(const Napi::CallbackInfo& info);

  // Finalizer: the Driver was garbage-collected (idle, or the environment is going away). JS
  // thread (lifetime.cc).
  ~Loop() override;

 private:
  // loop.cc
  bool Tagged(const Napi::CallbackInfo& info);
  Napi::Value JS_submit(const Napi::CallbackInfo& info);
  Napi::Value JS_submitStaged(const Napi::CallbackInfo& info);
  int SubmitOne(const struct iou_binding_stage& stage, napi_value data);
  Napi::Value JS_publish(const Napi::CallbackInfo& info);
  Napi::Value JS_cancel(const Napi::CallbackInfo& info);
  Napi::Value JS_returnBuffers(const Napi::CallbackInfo& info);
  Napi::Value JS_stats(const Napi::CallbackInfo& info);
  Napi::Value JS_credentialsChanged(const Napi::CallbackInfo& info);

  // lifetime.cc
  Napi::Value JS_open(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  Napi::Value JS_destroy(const Napi::CallbackInfo& info);
  Napi::Value JS_released(const Napi::CallbackInfo& info);
  Napi::Value JS_closeOnExit(const Napi::CallbackInfo& info);
  Napi::Value JS_closeMarked(const Napi::CallbackInfo& info);
  Napi::Value JS_closeUntaken(const Napi::CallbackInfo& info);
  void Hold();
  void Release();
  void Ref();
  void Unref();
  static void AsyncCleanup(napi_async_cleanup_hook_handle, void* arg);
  static void OnClosed(uv_handle_t* handle);
  void CloseAsync();
  void Teardown(bool from_js);

  // delivery.cc
  Napi::Value JS_poll(const Napi::CallbackInfo& info);
  static void OnReady(uv_poll_t* handle, int, int);
  static void OnTimer(uv_timer_t* handle);
  void AfterPass(bool from_js);
  void ArmTimer();
  static void Notify(void* ctx);
  static void OnAsync(uv_async_t* handle);
  void Drain(bool from_js);
  bool Dispatch(Napi::Value fn, uint32_t n, bool final, bool from_js);
  uint32_t ReleaseBuffers(const struct iou_completion* completions, uint32_t n);
  void CloseUntakenFds(const struct iou_completion* completions, uint32_t n);
  void CloseAbandonedCloses(const struct iou_completion* completions, uint32_t n);

  // trace.cc
  Napi::Value JS_enableTrace(const Napi::CallbackInfo& info);
  Napi::Value JS_takeTrace(const Napi::CallbackInfo& info);

  // lifetime.cc (set by the constructor, loop.cc)
  napi_env env_;
  struct iou_loop* loop_ = nullptr;
  // The number the environment's Exiting list gave this Loop's loop when destroy() kept it there
  // (its thread still leaving the kernel); 0: none, or freed since (released()).
  uint64_t kept_id_ = 0;
  AsyncSlot* async_ = nullptr;  // while open; then freed by the handle's close callback
  // The async context dispatch runs in (its callback scope); created by open(), destroyed by
  // Teardown, or by Drain when a destroy() from inside dispatch left it in use.
  napi_async_context async_context_ = nullptr;
  Napi::FunctionReference dispatch_;  // strong while held_, weak otherwise; called by Drain
  // loop.cc: the references that keep the two wire ArrayBuffers alive for the life of the Loop.
  Napi::Reference<Napi::ArrayBuffer> staging_ref_;
  Napi::Reference<Napi::ArrayBuffer> completions_ref_;
  // The staging area: the staging ArrayBuffer's records (kept alive by staging_ref_), written by
  // the Driver, read by JS_submit (record 0) and JS_submitStaged, which write verdicts back.
  struct iou_binding_stage* stage_ = nullptr;
  uint32_t stage_records_ = 0;
  // delivery.cc (set by the constructor, loop.cc)
  struct iou_completion* completions_ = nullptr;  // the completion ArrayBuffer's bytes
  uint32_t capacity_ = 0;                         // completions per chunk
  // Taken by iou_loop_submit (loop.cc counts them in), not yet polled (Drain counts them out);
  // zeroed by Teardown.
  uint64_t inflight_ = 0;
  // wire.cc: the iovec arrays and backing stores of the requests submitted and not yet polled.
  Buffers buffers_;
  // lifetime.cc
  bool inline_ = false;  // IOU_ENGINE_INLINE: this thread runs the loop's passes
  // Inline, IOU_INLINE_WAKE_EVENTFD: the polled fd is an eventfd whose counter OnReady reads (the
  // ring fd of IOU_INLINE_WAKE_RINGFD has none).
  bool counter_fd_ = false;
  bool held_ = false;
  bool closing_ = false;
  bool torn_down_ = false;
  // The fds the Driver asked to have closed if this Loop is finalized or its environment ends
  // before the Driver closes them (closeOnExit), each with the Unix socket path to unlink after it
  // (ExitMark). Taken out when a close of the fd is handed to the loop (SubmitOne), or by the
  // Driver before it closes the fd itself. Teardown closes them from the cleanup hook or the
  // finalizer, after the loop is gone.
  std::unordered_map<int32_t, ExitMark> exit_fds_;
  // The closes of marked fds handed to the loop and not yet polled, by slot, with their paths:
  // one the loop's stop abandoned before the kernel ran it is done by Teardown (close(2), unlink),
  // as Delivery.closeAbandoned does for the Driver. Entries go when the completion is polled
  // (ReleaseBuffers).
  std::unordered_map<uint32_t, std::pair<int32_t, ExitMark>> exit_closes_;
  // delivery.cc (read by Teardown)
  uint32_t drain_depth_ = 0;  // Drains running (an inner one inside an outer's callback scope)
  bool dispatching_ = false;  // the Driver's dispatch is running: a Drain now only asks for another round
  bool drain_again_ = false;  // a Drain was asked for while dispatching: poll once more before returning
  // trace.cc (enableTrace() was called: open() passes Trace::Hook to the loop; tests only)
  Trace trace_;
};

}  // namespace iou_binding

#endif  // IOU_BINDING_LOOP_CLASS_H
