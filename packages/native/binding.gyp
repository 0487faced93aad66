{
  "targets": [
    {
      "target_name": "iou",
      "sources": [
        "<!@(ls -1 csrc/*.c)",
        "binding/addon.cc",
        "binding/delivery.cc",
        "binding/file.cc",
        "binding/lifetime.cc",
        "binding/loop.cc",
        "binding/socket.cc",
        "binding/trace.cc",
        "binding/wire.cc"
      ],
      "include_dirs": ["include", "binding", "<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a binding method can run while its environment is
      # terminating (worker.terminate(), process.exit() from another thread): Node-API calls that
      # need JavaScript then fail, and node-addon-api turns the throw that reports the failure into
      # a fatal error (abort). With it, node-addon-api drops a throw that cannot happen (no exception
      # pending and napi_throw refused): the JavaScript that called the method is being torn down and
      # never sees its result. Every binding method is written to return harmlessly after one.
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      # -fvisibility=hidden: the addon exports only its module registration (NAPI_MODULE_EXPORT);
      # calls between its own functions are then direct, and the compiler may inline them.
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++20"],
      "ldflags": ["-pthread"]
    }
  ]
}
