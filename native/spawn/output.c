/*
 * Part of the joinflow_spawn addon (registered in spawn.c): outputGone(fd).
 */
#include <errno.h>
#include <node_api.h>
#include <poll.h>
#include <string.h>
#include <uv.h>

/*
 * outputGone(fd) -> true when nothing written to fd can be read any more: the write end of a pipe
 * whose read ends are all closed (Linux reports POLLERR), a socket whose peer has closed (POLLHUP)
 * or has failed (POLLERR), or a descriptor that is not open (POLLNVAL). Node only learns this from
 * the EPIPE of its next write; a command that writes nothing for a while (`events tail`) asks this
 * instead. A poll() with timeout 0 and no requested events: those three are always reported, and
 * nothing blocks. Meant for pipes and sockets; a tty also reports POLLHUP once hung up.
 */
napi_value OutputGone(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t fd;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, arg, &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "outputGone(fd): fd must be a descriptor number");
    return NULL;
  }
  struct pollfd p = {.fd = fd, .events = 0, .revents = 0};
  int n;
  do n = poll(&p, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    napi_throw_error(env, uv_err_name(-err), strerror(err));
    return NULL;
  }
  napi_value result;
  napi_get_boolean(env, n > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0, &result);
  return result;
}
