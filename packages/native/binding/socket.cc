// socket.cc: the socket calls that never block, made synchronously on the JS thread: socket(2),
// bind(2) and listen(2) where the kernel's io_uring lacks IORING_OP_SOCKET (Linux 5.19) or
// IORING_OP_BIND / IORING_OP_LISTEN (Linux 6.11), setsockopt of an int option, getsockname /
// getpeername (the close(2) of an fd the Driver made and does not hand over is the Loop's
// closeMarked, which unmarks it in the same call). Arguments are validated in TypeScript (src/Sockets.ts); this file converts them and returns the call's
// result, or -errno, never throwing. The socket constants the Driver passes are exported from here,
// so none of them is spelled in TypeScript. Every function runs on the JS thread.
#include <napi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "loop.h"

namespace iou_binding {
namespace {

int32_t Int(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}

Napi::Value Result(Napi::Env env, int rc) {
  return Napi::Number::New(env, rc < 0 ? -errno : rc);
}

// socket(domain, type, protocol) -> fd | -errno
Napi::Value JS_socket(const Napi::CallbackInfo& info) {
  return Result(info.Env(), socket(Int(info, 0), Int(info, 1), Int(info, 2)));
}

// bind(fd, sockaddr: Uint8Array) -> 0 | -errno
Napi::Value JS_bind(const Napi::CallbackInfo& info) {
  Napi::Uint8Array address = info[1].As<Napi::Uint8Array>();
  return Result(info.Env(), bind(Int(info, 0), reinterpret_cast<const struct sockaddr*>(address.Data()),
                                 static_cast<socklen_t>(address.ByteLength())));
}

// listen(fd, backlog) -> 0 | -errno
Napi::Value JS_listen(const Napi::CallbackInfo& info) {
  return Result(info.Env(), listen(Int(info, 0), Int(info, 1)));
}

// setsockopt(fd, level, name, value) with an int value -> 0 | -errno
Napi::Value JS_setsockopt(const Napi::CallbackInfo& info) {
  int value = Int(info, 3);
  return Result(info.Env(), setsockopt(Int(info, 0), Int(info, 1), Int(info, 2), &value, sizeof(value)));
}

// getsockopt(fd, level, name) of an int option -> its value (>= 0) | -errno
Napi::Value JS_getsockopt(const Napi::CallbackInfo& info) {
  int value = 0;
  socklen_t size = sizeof(value);
  int rc = getsockopt(Int(info, 0), Int(info, 1), Int(info, 2), &value, &size);
  return Result(info.Env(), rc < 0 ? rc : value);
}

// getsockname(fd) / getpeername(fd) -> the sockaddr's bytes (a fresh Uint8Array) | -errno
template <int (*Get)(int, struct sockaddr*, socklen_t*)>
Napi::Value JS_name(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct sockaddr_storage storage;
  socklen_t length = sizeof(storage);
  std::memset(&storage, 0, sizeof(storage));
  if (Get(Int(info, 0), reinterpret_cast<struct sockaddr*>(&storage), &length) < 0)
    return Napi::Number::New(env, -errno);
  if (length > sizeof(storage)) length = sizeof(storage);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, length);
  // Empty when the environment is terminating (a worker's terminate()) or out of memory: nothing
  // to copy into.
  if (out.IsEmpty() || (length > 0 && out.Data() == nullptr)) return Napi::Number::New(env, -ENOMEM);
  std::memcpy(out.Data(), &storage, length);
  return out;
}

Napi::Object SocketConstants(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  const auto set = [&](const char* name, int value) { out.Set(name, Napi::Number::New(env, value)); };
  set("AF_UNIX", AF_UNIX);
  set("AF_INET", AF_INET);
  set("AF_INET6", AF_INET6);
  set("SOCK_STREAM", SOCK_STREAM);
  set("SOCK_CLOEXEC", SOCK_CLOEXEC);
  set("SOL_SOCKET", SOL_SOCKET);
  set("SO_REUSEADDR", SO_REUSEADDR);
  set("SO_REUSEPORT", SO_REUSEPORT);
  set("SO_KEEPALIVE", SO_KEEPALIVE);
  set("SO_ACCEPTCONN", SO_ACCEPTCONN);
  set("IPPROTO_TCP", IPPROTO_TCP);
  set("TCP_NODELAY", TCP_NODELAY);
  set("IPPROTO_IPV6", IPPROTO_IPV6);
  set("IPV6_V6ONLY", IPV6_V6ONLY);
  set("SHUT_RD", SHUT_RD);
  set("SHUT_WR", SHUT_WR);
  set("SHUT_RDWR", SHUT_RDWR);
  return out;
}

}  // namespace

void InitSockets(Napi::Env env, Napi::Object exports) {
  Napi::Object sockets = Napi::Object::New(env);
  sockets.Set("socket", Napi::Function::New(env, JS_socket, "socket"));
  sockets.Set("bind", Napi::Function::New(env, JS_bind, "bind"));
  sockets.Set("listen", Napi::Function::New(env, JS_listen, "listen"));
  sockets.Set("setsockopt", Napi::Function::New(env, JS_setsockopt, "setsockopt"));
  sockets.Set("getsockopt", Napi::Function::New(env, JS_getsockopt, "getsockopt"));
  sockets.Set("getsockname", Napi::Function::New(env, JS_name<getsockname>, "getsockname"));
  sockets.Set("getpeername", Napi::Function::New(env, JS_name<getpeername>, "getpeername"));
  sockets.Set("constants", SocketConstants(env));
  exports.Set("sockets", sockets);
}

}  // namespace iou_binding
