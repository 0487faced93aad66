// file.cc: exports.files, the one file call made synchronously on the JS thread: statx(2) of an
// open fd for its type and size, readFile's step between its open and its reads. The kernel runs
// every IORING_OP_STATX on an io-wq worker (it never tries a statx inline, as it does an open, a
// read or a close), so a stat on the ring costs the worker's wake-up and then the owner's for the
// completion, which is most of a small file's readFile. AT_STATX_DONT_SYNC keeps the call from
// blocking: the attributes come from the inode in memory, and a network or FUSE file system does
// not ask its server (the open just before revalidated them). Returns 0 or -errno, never throws.
#include <napi.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "loop.h"

namespace iou_binding {
namespace {

// statTypeAndSize(fd, into: Uint8Array of at least 256 bytes) -> 0 | -errno: statx(fd, "",
// AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_SIZE) into `into` (a struct statx, as the
// ring's stat writes it). A shorter `into` is EINVAL, before the call.
Napi::Value JS_statTypeAndSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array into = info[1].As<Napi::Uint8Array>();
  if (into.ByteLength() < sizeof(struct statx)) return Napi::Number::New(env, -EINVAL);
  int rc = statx(info[0].As<Napi::Number>().Int32Value(), "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
                 STATX_TYPE | STATX_SIZE, reinterpret_cast<struct statx*>(into.Data()));
  return Napi::Number::New(env, rc < 0 ? -errno : 0);
}

}  // namespace

void InitFiles(Napi::Env env, Napi::Object exports) {
  Napi::Object files = Napi::Object::New(env);
  files.Set("statTypeAndSize", Napi::Function::New(env, JS_statTypeAndSize, "statTypeAndSize"));
  exports.Set("files", files);
}

}  // namespace iou_binding
