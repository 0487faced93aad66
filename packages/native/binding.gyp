{
  "targets": [
    {
      "target_name": "iou",
      "sources": [
        "<!@(ls -1 csrc/*.c)",
        "binding/addon.cc",
        "binding/loop.cc"
      ],
      "include_dirs": ["include", "binding", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++20"],
      "ldflags": ["-pthread"]
    }
  ]
}
