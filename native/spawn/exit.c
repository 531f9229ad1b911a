/*
 * Part of the joinflow_spawn addon (registered in spawn.c): exitNow(code).
 */
#include <node_api.h>
#include <unistd.h>

/*
 * exitNow(code) ends the process at once with that exit status, as _exit(2) does: no atexit
 * handlers, and no waiting for threads. Node's own exit (process.exit() included) first joins
 * every worker thread, and one blocked in a native call that never returns (a read of a pipe no
 * one writes to) is never joined. For a command that has written, flushed and closed all it had
 * to (src/adapters/local/native-exit.ts).
 */
napi_value ExitNow(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t code = 1;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc >= 1) napi_get_value_int32(env, arg, &code);
  _exit(code & 0xff);
  return NULL;
}
