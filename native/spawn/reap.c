/*
 * Part of the joinflow_spawn addon (registered in spawn.c): reapExited(pid).
 */
#include <errno.h>
#include <node_api.h>
#include <sys/types.h>
#include <sys/wait.h>

/*
 * reapExited(pid) collects the exit status of this process's child `pid` if it has exited (a
 * zombie), without waiting: true when it did, false when the child still runs or is not a child
 * of this process (any more). For children that a worker thread started with child_process and
 * that exited after the thread had ended: libuv reaps only the children of a loop that is still
 * there, so nothing else ever would (src/adapters/local/child-reaper.ts, which checks by
 * /proc/<pid>/stat that `pid` is still that child before it asks).
 */
napi_value ReapExited(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, result;
  int32_t pid = 0;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, arg, &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "reapExited(pid): pid must be a positive integer");
    return NULL;
  }
  pid_t got;
  do got = waitpid(pid, NULL, WNOHANG);
  while (got < 0 && errno == EINTR);
  napi_get_boolean(env, got == pid, &result);
  return result;
}
