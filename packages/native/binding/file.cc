// file.cc: exports.files, the one file call made synchronously on the JS thread: statx(2) of an
// open fd for its type, size and mount, readFile's step between its open and its reads. The kernel
// runs every IORING_OP_STATX on an io-wq worker (it never tries a statx inline, as it does an open,
// a read or a close), so a stat on the ring costs the worker's wake-up and then the owner's for the
// completion, which is most of a small file's readFile. AT_STATX_DONT_SYNC keeps the call from
// asking a remote file system's server; its answer is used only for a file on a local file system,
// which ignores the flag (ReadFile.ts decides by the mount's type, and stats any other file on the
// ring). Made with syscall(2), so that a C library without a statx wrapper builds it too. Returns 0
// or -errno, never throws on numbers and a Uint8Array.
#include <napi.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "loop.h"

// Kernel headers older than the calls (the values are the kernel's ABI).
#ifndef AT_STATX_DONT_SYNC
#define AT_STATX_DONT_SYNC 0x4000
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef SYS_statx
#define SYS_statx __NR_statx
#endif

namespace iou_binding {
namespace {

// statTypeAndSize(fd, into: Uint8Array of at least 256 bytes) -> 0 | -errno: statx(fd, "",
// AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_SIZE | STATX_MNT_ID) into `into` (a
// struct statx, as the ring's stat writes it). A shorter `into` is EINVAL and a negative fd EBADF,
// before the call.
Napi::Value JS_statTypeAndSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array into = info[1].As<Napi::Uint8Array>();
  if (env.IsExceptionPending()) return env.Undefined();
  if (fd < 0) return Napi::Number::New(env, -EBADF);
  if (into.ByteLength() < sizeof(struct statx)) return Napi::Number::New(env, -EINVAL);
  long rc = syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_SIZE | STATX_MNT_ID,
                    into.Data());
  return Napi::Number::New(env, rc < 0 ? -errno : 0);
}

}  // namespace

void InitFiles(Napi::Env env, Napi::Object exports) {
  Napi::Object files = Napi::Object::New(env);
  files.Set("statTypeAndSize", Napi::Function::New(env, JS_statTypeAndSize, "statTypeAndSize"));
  exports.Set("files", files);
}

}  // namespace iou_binding
