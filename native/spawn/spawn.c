/*
 * joinflow_spawn: starts a command with posix_spawn and reports its exit through a pidfd that the
 * caller's libuv loop watches.
 *
 * Why not child_process.spawn(): that forks the calling process, so the kernel copies its page
 * tables (the engine is a ~100 MB process), the engine takes copy-on-write faults afterwards, and
 * the caller blocks until the child has exec'd. glibc's posix_spawn uses clone(CLONE_VM |
 * CLONE_VFORK): the child borrows the caller's memory until it execs, so nothing is copied.
 *
 * The child gets three fresh pipes as stdin, stdout and stderr, every signal at its default action
 * and an empty signal mask (Node ignores SIGPIPE, and an ignored signal would survive the exec),
 * and the command is looked up in the PATH of the environment it is given, as libuv does. Other
 * descriptors are not touched: Node and libuv open theirs close-on-exec.
 *
 * The exit is observed with pidfd_open (Linux 5.3): the pidfd becomes readable when the child
 * exits, and the callback reaps it with waitpid. libuv reaps only the children it started itself,
 * so it never takes this one's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define DEFAULT_PATH "/usr/bin:/bin"

typedef struct {
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
} watch_t;

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void throw_errno(napi_env env, const char *file, int err) {
  const char *name = uv_err_name(-err);
  char message[512];
  snprintf(message, sizeof message, "spawn %s %s", file, name);
  napi_value code, text, error, errno_value, syscall_value;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, "spawn", NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
}

/* A JS string as a malloc'd C string; NULL (with a TypeError thrown) if it is not a string. */
static char *string_of(napi_env env, napi_value value, const char *what) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char *s = malloc(length + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, s, length + 1, &length);
  if (strlen(s) != length) {
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "strings passed to spawn must not contain null bytes");
    return NULL;
  }
  return s;
}

static void free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}

/* A JS array of strings as a NULL-terminated malloc'd array; NULL (with an error thrown) otherwise. */
static char **strings_of(napi_env env, napi_value value, const char *what) {
  uint32_t n;
  if (napi_get_array_length(env, value, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, value, i, &item);
    list[i] = string_of(env, item, what);
    if (list[i] == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static void close_pair(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
  fds[0] = fds[1] = -1;
}

/* posix_spawn of `file`, looked up in the PATH of `envp` when it has no slash (as execvp does). */
static int spawn_in_path(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                         const posix_spawnattr_t *attr, char **argv, char **envp, const char *cwd) {
  if (strchr(file, '/') != NULL) return posix_spawn(pid, file, actions, attr, argv, envp);
  const char *path = DEFAULT_PATH;
  for (char **e = envp; *e != NULL; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) {
      path = *e + 5;
      break;
    }
  }
  size_t file_length = strlen(file);
  char *candidate = malloc(strlen(path) + file_length + 3);
  if (candidate == NULL) return ENOMEM;
  int result = ENOENT;
  int denied = 0;
  for (const char *dir = path;;) {
    const char *end = strchrnul(dir, ':');
    size_t dir_length = (size_t)(end - dir);
    if (dir_length == 0) {
      candidate[0] = '.';
      dir_length = 1;
    } else {
      memcpy(candidate, dir, dir_length);
    }
    candidate[dir_length] = '/';
    memcpy(candidate + dir_length + 1, file, file_length + 1);
    /* An absolute candidate that does not exist costs an access() here, not a vfork and an exec. */
    int skip = candidate[0] == '/' && access(candidate, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR);
    if (!skip) {
      int r = posix_spawn(pid, candidate, actions, attr, argv, envp);
      if (r == 0) {
        result = 0;
        break;
      }
      if (r == EACCES) denied = 1;
      else if (r != ENOENT && r != ENOTDIR) {
        result = r;
        break;
      }
      /* A missing working directory fails every candidate the same way: stop at the first. */
      if (r == ENOENT && cwd != NULL && access(cwd, F_OK) != 0) break;
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  free(candidate);
  if (result == ENOENT && denied) result = EACCES;
  return result;
}

static void on_closed(uv_handle_t *handle) {
  watch_t *w = handle->data;
  close(w->pidfd);
  free(w);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  watch_t *w = handle->data;
  int wstatus = 0;
  pid_t r;
  do r = waitpid(w->pid, &wstatus, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return; /* not exited yet (a spurious wake-up) */
  uv_poll_stop(handle);

  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, receiver, argv[2];
  napi_get_reference_value(env, w->callback, &callback);
  napi_get_global(env, &receiver); /* napi_make_callback wants an object */
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  if (r > 0 && WIFEXITED(wstatus)) napi_create_int32(env, WEXITSTATUS(wstatus), &argv[0]);
  else if (r > 0 && WIFSIGNALED(wstatus)) napi_create_int32(env, WTERMSIG(wstatus), &argv[1]);
  /* r < 0 (someone else reaped it): both null, the status is unknown. */
  napi_status called = napi_make_callback(env, w->context, receiver, callback, 2, argv, NULL);
  if (called == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
  napi_async_destroy(env, w->context);
  napi_delete_reference(env, w->callback);
  uv_close((uv_handle_t *)handle, on_closed);
}

/*
 * spawn(file, argv, envp, cwd, onExit) -> [pid, stdin, stdout, stderr]: the parent's ends of the
 * pipes (stdin writable, the others readable; all close-on-exec, blocking). onExit(code, signal)
 * is called once, from the event loop, after the child has exited and been reaped: code is the
 * exit status or null, signal the number of the signal that killed it or null (both null when the
 * status could not be read). Throws an Error with code/errno/syscall, as child_process does, when
 * the command cannot be started.
 */
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, cwd, onExit)");
    return NULL;
  }
  napi_valuetype cwd_type, callback_type;
  napi_typeof(env, args[3], &cwd_type);
  napi_typeof(env, args[4], &callback_type);
  if (callback_type != napi_function) {
    napi_throw_type_error(env, NULL, "onExit must be a function");
    return NULL;
  }

  napi_value result = NULL;
  char *file = NULL, *cwd = NULL;
  char **argv = NULL, **envp = NULL;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  file = string_of(env, args[0], "file must be a string");
  if (file == NULL) goto done;
  argv = strings_of(env, args[1], "argv must be an array of strings");
  if (argv == NULL) goto done;
  envp = strings_of(env, args[2], "envp must be an array of strings");
  if (envp == NULL) goto done;
  if (cwd_type != napi_null && cwd_type != napi_undefined) {
    cwd = string_of(env, args[3], "cwd must be a string or null");
    if (cwd == NULL) goto done;
  }
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw_errno(env, file, errno);
    goto done;
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  if (cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int failed = spawn_in_path(&pid, file, &actions, &attr, argv, envp, cwd);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  /* The child's ends: it has its own copies now (or never will). */
  close(in[0]);
  close(out[1]);
  close(err[1]);
  in[0] = out[1] = err[1] = -1;
  if (failed != 0) {
    throw_errno(env, file, failed);
    goto done;
  }

  int pidfd = pidfd_open_(pid);
  watch_t *w = pidfd < 0 ? NULL : calloc(1, sizeof *w);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (w == NULL || uv_poll_init(loop, &w->poll, pidfd) != 0) {
    /* Nobody could learn its exit: stop it rather than leave it unobserved. */
    int e = pidfd < 0 ? errno : EINVAL;
    if (pidfd >= 0) close(pidfd);
    free(w);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    throw_errno(env, file, e);
    goto done;
  }
  w->pidfd = pidfd;
  w->pid = pid;
  w->env = env;
  w->poll.data = w;
  napi_value resource_name;
  napi_create_string_utf8(env, "joinflow:spawn", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_reference(env, args[4], 1, &w->callback);
  napi_async_init(env, NULL, resource_name, &w->context);
  uv_poll_start(&w->poll, UV_READABLE, on_readable);

  napi_value values[4];
  napi_create_int32(env, pid, &values[0]);
  napi_create_int32(env, in[1], &values[1]);
  napi_create_int32(env, out[0], &values[2]);
  napi_create_int32(env, err[0], &values[3]);
  in[1] = out[0] = err[0] = -1;
  napi_create_array_with_length(env, 4, &result);
  for (uint32_t i = 0; i < 4; i++) napi_set_element(env, result, i, values[i]);

done:
  close_pair(in);
  close_pair(out);
  close_pair(err);
  free(file);
  free(cwd);
  free_strings(argv);
  free_strings(envp);
  return result;
}

/* supported() -> whether this kernel has pidfd_open (Linux 5.3 and later). */
static napi_value Supported(napi_env env, napi_callback_info info) {
  int fd = pidfd_open_(getpid());
  if (fd >= 0) close(fd);
  napi_value result;
  napi_get_boolean(env, fd >= 0, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value spawn_fn, supported_fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &spawn_fn);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, Supported, NULL, &supported_fn);
  napi_set_named_property(env, exports, "spawn", spawn_fn);
  napi_set_named_property(env, exports, "supported", supported_fn);
  return exports;
}
