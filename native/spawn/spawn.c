/*
 * joinflow_spawn: starts a command with posix_spawn and reports its exit through a pidfd that the
 * caller's libuv loop watches.
 *
 * Why not child_process.spawn(): that forks the calling process, so the kernel copies its page
 * tables (the engine is a ~100 MB process), the engine takes copy-on-write faults afterwards, and
 * the caller blocks until the child has exec'd. glibc's posix_spawn uses clone(CLONE_VM |
 * CLONE_VFORK): the child borrows the caller's memory until it execs, so nothing is copied.
 *
 * The calling thread still waits until the child has exec'd (0.26 ms median, up to several ms when
 * the CPUs are busy: measured in the engine on the 2-core development machine), so the spawns run
 * on a thread of their own, in the order they were asked for, and the event loop goes on handling
 * exits and events meanwhile. The pipes are made before the call returns; the pid (or the error)
 * comes back through the loop, as child_process reports a failed spawn.
 *
 * The child gets three fresh pipes as stdin, stdout and stderr, every signal at its default action
 * and an empty signal mask (Node ignores SIGPIPE, and an ignored signal would survive the exec),
 * and the command is looked up in the PATH of the environment it is given, as libuv does. Other
 * descriptors are not touched: Node and libuv open theirs close-on-exec.
 *
 * The exit is observed with pidfd_open (Linux 5.3): the pidfd becomes readable when the child
 * exits, and the callback reaps it with waitpid. libuv reaps only the children it started itself,
 * so it never takes this one's status.
 *
 * The module also exports outputGone(fd) (output.c): whether nobody can read what is written to a
 * pipe or socket any more.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

struct launcher_s;

/*
 * One spawn: asked for on the loop thread, done on the spawn thread, watched on the loop thread.
 * It lives until its three handles (stdout, stderr, pidfd) are closed and its end is reported.
 */
typedef struct request_s {
  struct request_s *next;
  /* In the launcher's list of live requests (loop thread). */
  struct request_s *live_prev, *live_next;
  struct launcher_s *launcher;
  /* What to run; freed once spawned. */
  char *file, *cwd;
  char **argv, **envp;
  /* The child's ends of its pipes: closed by the spawn thread once posix_spawn has returned. */
  int child_fds[3];
  /* Set by the spawn thread. */
  pid_t pid;
  int error;
  /* Loop thread only. */
  napi_env env;
  napi_ref on_spawn, on_output, on_exit;
  napi_async_context context;
  uv_poll_t output[2]; /* stdout, stderr: read here, passed to onOutput */
  int output_fd[2];
  uv_poll_t exit_poll;
  int pidfd;
  int handles;  /* handles initialised and not yet closed */
  int settled;  /* exit reported, or the spawn failed */
  int detached; /* the environment is going away: no more calls into JS */
} request_t;

/* Per Node environment (main thread or worker): the spawn thread and its two queues. */
typedef struct launcher_s {
  uv_async_t async; /* spawn thread -> loop: requests done */
  pthread_t thread;
  int started, stopping;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  request_t *todo, *todo_tail, *done, *done_tail;
  /* Loop thread only: requests asked for and not yet answered (the async handle is referenced,
     keeping the loop alive, while there are any), and the live requests. */
  unsigned in_flight;
  request_t *live;
  /* Teardown: handles still closing; the environment waits for them (async cleanup hook). */
  napi_async_cleanup_hook_handle cleanup;
  int closing;
} launcher_t;

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* An Error like child_process's: "spawn <file> <CODE>", with code, errno and syscall. */
static napi_value error_of(napi_env env, const char *file, int err) {
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
  return error;
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

static void free_request(request_t *r) {
  free(r->file);
  free(r->cwd);
  free_strings(r->argv);
  free_strings(r->envp);
  r->file = r->cwd = NULL;
  r->argv = r->envp = NULL;
}

/* On the spawn thread: posix_spawn, then the child's ends of the pipes are closed. */
static void run_request(request_t *r) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  for (int i = 0; i < 3; i++) posix_spawn_file_actions_adddup2(&actions, r->child_fds[i], i);
  if (r->cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, r->cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  r->error = spawn_in_path(&r->pid, r->file, &actions, &attr, r->argv, r->envp, r->cwd);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int i = 0; i < 3; i++) close(r->child_fds[i]);
}

/* Appends r to a queue (with the lock held). */
static void append(request_t **head, request_t **tail, request_t *r) {
  r->next = NULL;
  if (*tail != NULL) (*tail)->next = r;
  else *head = r;
  *tail = r;
}

static void *spawn_thread(void *arg) {
  launcher_t *l = arg;
  /* Signals are for the loop thread (libuv's handlers); children get an empty mask anyway. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (l->todo == NULL && !l->stopping) pthread_cond_wait(&l->wake, &l->lock);
    if (l->stopping) break;
    request_t *r = l->todo;
    l->todo = r->next;
    if (l->todo == NULL) l->todo_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    run_request(r);
    pthread_mutex_lock(&l->lock);
    append(&l->done, &l->done_tail, r);
    uv_async_send(&l->async);
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

/* Calls fn(argv...) with r's async context, as an event-loop callback (microtasks run after). */
static void call(request_t *r, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = r->env;
  napi_value fn, receiver;
  napi_get_reference_value(env, fn_ref, &fn);
  napi_get_global(env, &receiver); /* napi_make_callback wants an object */
  if (napi_make_callback(env, r->context, receiver, fn, argc, argv, NULL) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

static void link_live(request_t *r) {
  launcher_t *l = r->launcher;
  r->live_prev = NULL;
  r->live_next = l->live;
  if (l->live != NULL) l->live->live_prev = r;
  l->live = r;
}

static void unlink_live(request_t *r) {
  if (r->live_prev != NULL) r->live_prev->live_next = r->live_next;
  else r->launcher->live = r->live_next;
  if (r->live_next != NULL) r->live_next->live_prev = r->live_prev;
  r->live_prev = r->live_next = NULL;
}

/* Frees a request once nothing refers to it any more. */
static void maybe_free(request_t *r) {
  if (r->handles > 0 || !r->settled) return;
  /* A detached request's launcher may be freed already (its close callback can run first). */
  if (!r->detached) unlink_live(r);
  if (!r->detached) {
    napi_delete_reference(r->env, r->on_spawn);
    napi_delete_reference(r->env, r->on_output);
    napi_delete_reference(r->env, r->on_exit);
    napi_async_destroy(r->env, r->context);
  }
  free_request(r);
  free(r);
}

/* At teardown, the last close callback lets the environment go on (and unload this addon). */
static void closed_at_teardown(launcher_t *l) {
  if (--l->closing > 0) return;
  napi_remove_async_cleanup_hook(l->cleanup);
  free(l);
}

static void on_handle_closed(uv_handle_t *handle) {
  request_t *r = handle->data;
  if (handle == (uv_handle_t *)&r->exit_poll) close(r->pidfd);
  else close(r->output_fd[handle == (uv_handle_t *)&r->output[0] ? 0 : 1]);
  r->handles--;
  launcher_t *l = r->launcher;
  int detached = r->detached;
  maybe_free(r);
  if (detached) closed_at_teardown(l);
}

static void close_poll(uv_poll_t *poll) {
  uv_poll_stop(poll);
  uv_close((uv_handle_t *)poll, on_handle_closed);
}

/* Output passed on as it is read: onOutput(stream, buffer), then onOutput(stream, null) at its end. */
static void on_output(uv_poll_t *handle, int status, int events) {
  request_t *r = handle->data;
  int stream = handle == &r->output[0] ? 0 : 1;
  char buffer[65536];
  size_t total = 0;
  for (;;) {
    ssize_t got = read(r->output_fd[stream], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    napi_handle_scope scope;
    napi_open_handle_scope(r->env, &scope);
    napi_value argv[2];
    napi_create_int32(r->env, stream, &argv[0]);
    if (got > 0) {
      napi_create_buffer_copy(r->env, (size_t)got, buffer, NULL, &argv[1]);
    } else {
      /* The end (or a read error, which ends it too). */
      close_poll(handle);
      napi_get_null(r->env, &argv[1]);
    }
    call(r, r->on_output, 2, argv);
    napi_close_handle_scope(r->env, scope);
    if (got <= 0) return;
    /* A chatty child does not keep the loop to itself: the rest on the next turn. */
    total += (size_t)got;
    if (total >= 4 * sizeof buffer) return;
  }
}

static void on_exited(uv_poll_t *handle, int status, int events) {
  request_t *r = handle->data;
  int wstatus = 0;
  pid_t got;
  do got = waitpid(r->pid, &wstatus, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got == 0) return; /* not exited yet (a spurious wake-up) */
  close_poll(handle);
  r->settled = 1;
  /* Output still to come is from processes the child left behind (a shell's background job holding
     its pipes): it is passed on, but must not keep this process alive. */
  for (int i = 0; i < 2; i++)
    if (!uv_is_closing((uv_handle_t *)&r->output[i])) uv_unref((uv_handle_t *)&r->output[i]);
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  napi_value argv[2];
  napi_get_null(r->env, &argv[0]);
  napi_get_null(r->env, &argv[1]);
  if (got > 0 && WIFEXITED(wstatus)) napi_create_int32(r->env, WEXITSTATUS(wstatus), &argv[0]);
  else if (got > 0 && WIFSIGNALED(wstatus)) napi_create_int32(r->env, WTERMSIG(wstatus), &argv[1]);
  /* got < 0 (someone else reaped it): both null, the status is unknown. */
  call(r, r->on_exit, 2, argv);
  napi_close_handle_scope(r->env, scope);
}

/* On the loop thread: the spawns the thread has done, in order; their exits are watched. */
static void on_spawned(uv_async_t *async) {
  launcher_t *l = async->data;
  pthread_mutex_lock(&l->lock);
  request_t *r = l->done;
  l->done = l->done_tail = NULL;
  pthread_mutex_unlock(&l->lock);
  uv_loop_t *loop = async->loop;
  while (r != NULL) {
    request_t *next = r->next;
    napi_env env = r->env;
    if (--l->in_flight == 0) uv_unref((uv_handle_t *)&l->async);
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[2];
    napi_get_null(env, &argv[0]);
    napi_get_null(env, &argv[1]);
    if (r->error == 0) {
      r->pidfd = pidfd_open_(r->pid);
      int failed = r->pidfd < 0 ? errno : 0;
      if (failed == 0 && uv_poll_init(loop, &r->exit_poll, r->pidfd) != 0) {
        failed = EINVAL;
        close(r->pidfd);
        r->pidfd = -1;
      }
      if (failed == 0) {
        r->exit_poll.data = r;
        r->handles++;
        uv_poll_start(&r->exit_poll, UV_READABLE, on_exited);
        napi_create_int32(env, r->pid, &argv[1]);
      } else {
        /* Nobody could learn its exit: stop it rather than leave it unobserved. */
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        r->error = failed;
      }
    }
    if (r->error != 0) {
      argv[0] = error_of(env, r->file, r->error);
      r->settled = 1;
    }
    call(r, r->on_spawn, 2, argv);
    napi_close_handle_scope(env, scope);
    /* The command is no longer needed. */
    free_request(r);
    maybe_free(r);
    r = next;
  }
}

static void on_async_closed(uv_handle_t *handle) { closed_at_teardown(handle->data); }

/*
 * The environment is going away (process exit, worker end): stop the thread and close every
 * handle, so that nothing calls into an environment that is being freed. This is an async
 * cleanup hook: the environment (and this addon's code, which the close callbacks are) stays
 * until the last handle has closed. Children still running are left alone (as child_process
 * leaves them).
 */
static void stop_launcher(napi_async_cleanup_hook_handle cleanup, void *arg) {
  launcher_t *l = arg;
  l->cleanup = cleanup;
  if (!l->started) {
    napi_remove_async_cleanup_hook(cleanup);
    free(l);
    return;
  }
  pthread_mutex_lock(&l->lock);
  l->stopping = 1;
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
  pthread_join(l->thread, NULL);
  /* Not yet spawned: their child ends are still open. */
  for (request_t *r = l->todo; r != NULL; r = r->next)
    for (int i = 0; i < 3; i++) close(r->child_fds[i]);
  l->closing = 1; /* the async handle */
  for (request_t *r = l->live; r != NULL;) {
    request_t *next = r->live_next;
    r->detached = 1;
    r->settled = 1;
    for (int i = 0; i < 2; i++)
      if (!uv_is_closing((uv_handle_t *)&r->output[i])) close_poll(&r->output[i]);
    if (r->pidfd >= 0 && !uv_is_closing((uv_handle_t *)&r->exit_poll)) close_poll(&r->exit_poll);
    /* Every handle of r not yet closed (some were closing already) ends in on_handle_closed. */
    l->closing += r->handles;
    maybe_free(r);
    r = next;
  }
  l->live = NULL;
  uv_close((uv_handle_t *)&l->async, on_async_closed);
}

static launcher_t *launcher_of(napi_env env) {
  launcher_t *l = NULL;
  napi_get_instance_data(env, (void **)&l);
  if (l != NULL && l->started) return l;
  if (l == NULL) {
    l = calloc(1, sizeof *l);
    if (l == NULL) return NULL;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    napi_set_instance_data(env, l, NULL, NULL);
    napi_async_cleanup_hook_handle cleanup;
    napi_add_async_cleanup_hook(env, stop_launcher, l, &cleanup);
  }
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (uv_async_init(loop, &l->async, on_spawned) != 0) return NULL;
  l->async.data = l;
  /* Referenced only while spawns are in flight (Spawn, on_spawned): the pipes and the pidfd of
     a child keep the loop alive after that. */
  uv_unref((uv_handle_t *)&l->async);
  if (pthread_create(&l->thread, NULL, spawn_thread, l) != 0) {
    uv_close((uv_handle_t *)&l->async, NULL);
    return NULL;
  }
  l->started = 1;
  return l;
}

/*
 * spawn(file, argv, envp, cwd, onSpawn, onOutput, onExit) -> stdin: the parent's end of the
 * child's stdin (a blocking, close-on-exec pipe), returned at once; the spawn itself happens on
 * the spawn thread. Then, from the event loop:
 * - onSpawn(error, pid): error is an Error with code/errno/syscall, as child_process makes, when
 *   the command could not be started;
 * - onOutput(stream, chunk): a Buffer read from stdout (stream 0) or stderr (1), in order; chunk
 *   null when that stream has ended (also after a failed spawn);
 * - onExit(code, signal), after a successful spawn, once the child has exited and been reaped:
 *   code is the exit status or null, signal the number of the signal that killed it or null (both
 *   null when the status could not be read). Output may still end after it (a grandchild holding
 *   the pipes).
 * Throws (synchronously) for bad arguments and when the pipes cannot be made.
 */
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, cwd, onSpawn, onOutput, onExit)");
    return NULL;
  }
  napi_valuetype cwd_type, types[3];
  napi_typeof(env, args[3], &cwd_type);
  for (int i = 0; i < 3; i++) napi_typeof(env, args[4 + i], &types[i]);
  if (types[0] != napi_function || types[1] != napi_function || types[2] != napi_function) {
    napi_throw_type_error(env, NULL, "onSpawn, onOutput and onExit must be functions");
    return NULL;
  }
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  request_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  r->pidfd = -1;
  r->file = string_of(env, args[0], "file must be a string");
  if (r->file == NULL) goto failed;
  r->argv = strings_of(env, args[1], "argv must be an array of strings");
  if (r->argv == NULL) goto failed;
  r->envp = strings_of(env, args[2], "envp must be an array of strings");
  if (r->envp == NULL) goto failed;
  if (cwd_type != napi_null && cwd_type != napi_undefined) {
    r->cwd = string_of(env, args[3], "cwd must be a string or null");
    if (r->cwd == NULL) goto failed;
  }
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    napi_throw(env, error_of(env, r->file, errno));
    goto failed;
  }
  launcher_t *l = launcher_of(env);
  if (l == NULL) {
    napi_throw_error(env, NULL, "cannot start the spawn thread");
    goto failed;
  }
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &r->output[0], out[0]) != 0) {
    napi_throw_error(env, NULL, "cannot watch the child's stdout");
    goto failed;
  }
  if (uv_poll_init(loop, &r->output[1], err[0]) != 0) {
    uv_close((uv_handle_t *)&r->output[0], NULL);
    napi_throw_error(env, NULL, "cannot watch the child's stderr");
    goto failed; /* r is freed while output[0] closes: its close callback is NULL, it uses nothing */
  }
  r->launcher = l;
  r->env = env;
  r->child_fds[0] = in[0];
  r->child_fds[1] = out[1];
  r->child_fds[2] = err[1];
  r->output_fd[0] = out[0];
  r->output_fd[1] = err[0];
  napi_value resource_name;
  napi_create_string_utf8(env, "joinflow:spawn", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_reference(env, args[4], 1, &r->on_spawn);
  napi_create_reference(env, args[5], 1, &r->on_output);
  napi_create_reference(env, args[6], 1, &r->on_exit);
  napi_async_init(env, NULL, resource_name, &r->context);
  for (int i = 0; i < 2; i++) {
    r->output[i].data = r;
    uv_poll_start(&r->output[i], UV_READABLE, on_output);
  }
  r->handles = 2;
  link_live(r);

  napi_value result;
  napi_create_int32(env, in[1], &result);
  if (l->in_flight++ == 0) uv_ref((uv_handle_t *)&l->async);
  pthread_mutex_lock(&l->lock);
  append(&l->todo, &l->todo_tail, r);
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
  return result;

failed:
  close_pair(in);
  close_pair(out);
  close_pair(err);
  free_request(r);
  free(r);
  return NULL;
}

/* supported() -> whether this kernel has pidfd_open (Linux 5.3 and later). */
static napi_value Supported(napi_env env, napi_callback_info info) {
  int fd = pidfd_open_(getpid());
  if (fd >= 0) close(fd);
  napi_value result;
  napi_get_boolean(env, fd >= 0, &result);
  return result;
}

/* outputGone(fd), in output.c. */
napi_value OutputGone(napi_env env, napi_callback_info info);

NAPI_MODULE_INIT() {
  napi_value spawn_fn, supported_fn, output_gone_fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &spawn_fn);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, Supported, NULL, &supported_fn);
  napi_create_function(env, "outputGone", NAPI_AUTO_LENGTH, OutputGone, NULL, &output_gone_fn);
  napi_set_named_property(env, exports, "spawn", spawn_fn);
  napi_set_named_property(env, exports, "supported", supported_fn);
  napi_set_named_property(env, exports, "outputGone", output_gone_fn);
  return exports;
}
