{
  "targets": [
    {
      "target_name": "joinflow_spawn",
      "sources": ["spawn.c", "child.c", "watch.c", "output.c", "env.c", "exit.c", "reap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"]
    }
  ]
}
