// trace.h: the test-only trace. When a test calls Loop.enableTrace() before open(), the loop
// reports one event per op CQE (iou.h, struct iou_trace_event) through Trace::Hook on the thread
// that runs its passes (the loop thread, or the JS thread for the inline engine); the events are
// buffered here until the JS thread takes them (takeTrace()). Off in production: an untraced loop
// never calls into this file. Implemented in trace.cc; one Trace per Loop (loop_class.h).
#ifndef IOU_BINDING_TRACE_H
#define IOU_BINDING_TRACE_H

#include <napi.h>

#include <mutex>
#include <vector>

#include "iou.h"

namespace iou_binding {

class Trace {
 public:
  // enableTrace() was called: open() passes Hook to the loop. JS thread.
  bool enabled() const { return enabled_; }
  void Enable() { enabled_ = true; }

  // The loop's trace hook (iou_loop_config.trace, with this Trace as its ctx): buffers one event.
  // The thread that runs the loop's passes; the mutex is contended only by Take.
  static void Hook(void* ctx, const struct iou_trace_event* event);

  // The events buffered since the last call, oldest first, as an array of plain objects. JS thread.
  Napi::Array Take(Napi::Env env);

 private:
  bool enabled_ = false;
  std::mutex mutex_;  // guards events_ (Hook pushes, Take takes)
  std::vector<struct iou_trace_event> events_;
};

}  // namespace iou_binding

#endif  // IOU_BINDING_TRACE_H
