// wire.cc: the wire conversion (wire.h): the staging record and submit's data into a struct
// iou_request, and the references to V8 backing stores that keep a request's memory alive while
// the kernel may touch it, including the process-wide quarantine. Every function here runs on a
// JS thread (the one that owns the Loop; the quarantine is shared by all of them, under its mutex).
#include "wire.h"

#include <linux/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <utility>

namespace iou_binding {
namespace {

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
std::shared_ptr<v8::BackingStore> StoreOf(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  if (local.IsEmpty() || !local->IsArrayBufferView()) return nullptr;
  return local.As<v8::ArrayBufferView>()->Buffer()->GetBackingStore();
}

// A Uint8Array's bytes and the reference that holds its memory (as BytesOf and BackingStoreOf
// together, with one look-up of the view's buffer: this runs for every single-buffer request).
// Returns false for anything else. JS thread, inside a handle scope.
bool HeldBytesOf(napi_value value, uint8_t** data, size_t* length, std::shared_ptr<v8::BackingStore>* store) {
  v8::Local<v8::Value> local;
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  if (local.IsEmpty() || !(local->IsUint8Array() || local->IsUint8ClampedArray())) return false;
  v8::Local<v8::ArrayBufferView> view = local.As<v8::ArrayBufferView>();
  v8::Local<v8::ArrayBuffer> buffer = view->Buffer();
  // As napi_get_typedarray_info computes it; null once the buffer is detached.
  uint8_t* base = static_cast<uint8_t*>(buffer->Data());
  *data = base == nullptr ? nullptr : base + view->ByteOffset();
  *length = view->ByteLength();
  *store = buffer->GetBackingStore();
  return true;
}

// Backing stores of requests abandoned while the kernel kept their memory, and of requests whose
// end nobody saw when a Loop was torn down: never released, because the kernel may still write into
// them after the ring is gone. Process-wide; touched only on JS threads, under its mutex.
std::mutex quarantine_mutex;
std::vector<std::shared_ptr<v8::BackingStore>>* quarantine = new std::vector<std::shared_ptr<v8::BackingStore>>();

void QuarantineStores(std::vector<std::shared_ptr<v8::BackingStore>>& stores) {
  std::lock_guard<std::mutex> lock(quarantine_mutex);
  for (auto& store : stores) {
    if (store) quarantine->push_back(std::move(store));
  }
  stores.clear();
}

}  // namespace

double QuarantinedBytes() {
  std::lock_guard<std::mutex> lock(quarantine_mutex);
  double bytes = 0;
  for (const auto& store : *quarantine) bytes += static_cast<double>(store->ByteLength());
  return bytes;
}

namespace {

// Requests that point at no memory (the operation table's `memory` column): submit's data is not
// read for them.
bool Bufferless(uint8_t op) {
  return iou_op_memory(op) == IOU_MEMORY_NONE;
}

}  // namespace

std::shared_ptr<v8::BackingStore> BackingStoreOf(napi_value value) {
  return StoreOf(value);
}

struct iou_request RequestOf(const struct iou_binding_stage& stage) {
  struct iou_request request = {};
  const uint32_t slot = stage.slot;
  request.tag = (static_cast<uint64_t>(stage.generation) << 32) | slot;
  request.position = (static_cast<uint64_t>(stage.position_hi) << 32) | stage.position_lo;
  const double deadline_ms = stage.deadline_ms;
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
  request.extent = (static_cast<uint64_t>(stage.extent_hi) << 32) | stage.extent_lo;
  request.arg = stage.arg;
  request.arg2 = stage.arg2;
  request.fd = stage.fd;
  // An op or flags beyond their byte would name another op once narrowed: IOU_OP_COUNT instead,
  // which the loop refuses (EINVAL).
  const bool fits = stage.op < IOU_OP_COUNT && stage.flags <= UINT8_MAX;
  request.op = static_cast<uint8_t>(fits ? stage.op : IOU_OP_COUNT);
  request.flags = static_cast<uint8_t>(fits ? stage.flags : 0);
  return request;
}

int Buffers::Attach(napi_env env, const struct iou_binding_stage& stage, napi_value data, struct iou_request* request) {
  if (Bufferless(request->op)) return 0;
  const uint32_t slot = stage.slot;
  if (iou_op_memory(request->op) == IOU_MEMORY_ARGS) return AttachArgs(env, slot, data, request);
  bool is_array = false;
  napi_is_array(env, data, &is_array);
  if (is_array) {
    uint32_t n = 0;
    napi_get_array_length(env, data, &n);
    if (n == 0 || n > IOU_MAX_IOV) return -EINVAL;
    if (slot >= iovs_.size()) iovs_.resize(static_cast<size_t>(slot) + 1);
    std::vector<struct iovec>& iov = iovs_[slot];
    iov.resize(n);
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
      napi_value element;
      uint8_t* bytes = nullptr;
      size_t length = 0;
      if (napi_get_element(env, data, i, &element) != napi_ok || !BytesOf(env, element, &bytes, &length)) {
        return -EINVAL;
      }
      iov[i].iov_base = bytes;
      iov[i].iov_len = length;
      total += length;
    }
    // The Driver staged the buffers' total when it validated them; less now means a buffer was
    // detached while the request waited (backpressure queue, staging; the Driver refuses resizable
    // buffers): refused, as the single buffer's range check below refuses it, instead of moving
    // fewer bytes than asked.
    if (total != stage.length) return -EINVAL;
    request->iov = iov.data();
    request->iov_count = n;
    if (slot >= kept_.size()) kept_.resize(static_cast<size_t>(slot) + 1);
    Stores& stores = kept_[slot];
    stores.clear();
    for (uint32_t i = 0; i < n; i++) {
      napi_value element;
      napi_get_element(env, data, i, &element);
      stores.push_back(StoreOf(element));
    }
  } else {
    uint8_t* bytes = nullptr;
    size_t length = 0;
    std::shared_ptr<v8::BackingStore> store;
    if (!HeldBytesOf(data, &bytes, &length, &store)) return -EINVAL;
    const uint64_t offset = stage.offset;
    const uint64_t len = stage.length;
    if (offset + len > length) return -EINVAL;
    request->buf = bytes + offset;
    request->len = static_cast<uint32_t>(len);
    single_ = std::move(store);
  }
  return 0;
}

// Whether `length` bytes at `bytes` are an argument of `kind` (IOU_ARG_*): a path's view ends with
// its NUL (the kernel reads up to the first NUL, so it never reads past the view), a struct statx
// fits whole (the kernel writes all of it), a socket address is not empty (the kernel reads its
// length from the request).
static bool ArgFits(uint8_t kind, const uint8_t* bytes, size_t length) {
  switch (kind) {
    case IOU_ARG_PATH:
      return length > 0 && bytes[length - 1] == 0;
    case IOU_ARG_STATX:
      return length >= sizeof(struct statx);
    case IOU_ARG_SOCKADDR:
      return length > 0;
    default:
      return false;
  }
}

int Buffers::AttachArgs(napi_env env, uint32_t slot, napi_value data, struct iou_request* request) {
  napi_value views[2] = {data, nullptr};
  uint32_t n = 1;
  bool is_array = false;
  napi_is_array(env, data, &is_array);
  if (is_array) {
    napi_get_array_length(env, data, &n);
    if (n == 0 || n > 2) return -EINVAL;
    for (uint32_t i = 0; i < n; i++) {
      if (napi_get_element(env, data, i, &views[i]) != napi_ok) return -EINVAL;
    }
  }
  // One view per argument the table names, each of what the kernel will read or write through it
  // (a detached view has no bytes, and fails the same checks).
  if (n != (iou_op_arg(request->op, 1) != IOU_ARG_NONE ? 2u : 1u)) return -EINVAL;
  uint8_t* bytes[2] = {nullptr, nullptr};
  size_t lengths[2] = {0, 0};
  for (uint32_t i = 0; i < n; i++) {
    if (!BytesOf(env, views[i], &bytes[i], &lengths[i]) || lengths[i] > UINT32_MAX) return -EINVAL;
    if (!ArgFits(iou_op_arg(request->op, i), bytes[i], lengths[i])) return -EINVAL;
  }
  request->buf = bytes[0];
  request->len = static_cast<uint32_t>(lengths[0]);
  request->buf2 = bytes[1];
  if (slot >= kept_.size()) kept_.resize(static_cast<size_t>(slot) + 1);
  Stores& stores = kept_[slot];
  stores.clear();
  for (uint32_t i = 0; i < n; i++) stores.push_back(StoreOf(views[i]));
  return 0;
}

void Buffers::Submitted(const struct iou_request& request, bool taken) {
  const uint32_t slot = static_cast<uint32_t>(request.tag);
  std::shared_ptr<v8::BackingStore> store = std::move(single_);
  single_.reset();
  const uint8_t memory = iou_op_memory(request.op);
  if (taken && memory != IOU_MEMORY_NONE) {
    // Held from here until the request's completion is delivered (Drain), or for ever if the
    // kernel may keep it (Release of the slot skips abandoned kernel-held requests). Vectored
    // requests and arguments were put in kept_ by Attach already.
    if (slot >= kept_.size()) kept_.resize(static_cast<size_t>(slot) + 1);
    if (memory == IOU_MEMORY_DATA && request.iov == nullptr) {
      kept_[slot].clear();
      kept_[slot].push_back(std::move(store));
    }
  } else if (!taken && (request.iov != nullptr || memory == IOU_MEMORY_ARGS) && slot < kept_.size()) {
    kept_[slot].clear();
  }
}

void Buffers::Release(uint32_t slot) {
  if (slot < kept_.size()) kept_[slot].clear();
}

void Buffers::Quarantine(uint32_t slot) {
  if (slot < kept_.size()) QuarantineStores(kept_[slot]);
  pool_at_risk_ = true; /* it may have been a RECV_MANY */
}

void Buffers::QuarantineAll(bool pending) {
  for (Stores& stores : kept_) QuarantineStores(stores);
  if (pool_ && (pending || pool_at_risk_)) {
    Stores pool{std::move(pool_)};
    QuarantineStores(pool);
  }
  pool_.reset();
}

}  // namespace iou_binding
