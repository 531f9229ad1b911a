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
 * pipe or socket any more; envStamp() (env.c): a hash of the process's environment, which
 * tells the process executor when its copy of process.env is out of date; exitNow(code) (exit.c);
 * and reapExited(pid) (reap.c): the exit status of a child that no thread's loop will collect.
 *
 * Its files: this one (the spawn thread, its start and stop, and the functions JS calls),
 * child.c (the command's arguments read from JS, and posix_spawn with the PATH lookup), watch.c
 * (on the loop thread: each child's output and exit, and the end of its request), output.c,
 * env.c, exit.c, reap.c, and spawn.h (the types they share).
 */
#include "spawn.h"

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
    jf_run_request(r);
    pthread_mutex_lock(&l->lock);
    append(&l->done, &l->done_tail, r);
    uv_async_send(&l->async);
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

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
      if (!uv_is_closing((uv_handle_t *)&r->output[i])) jf_close_poll(&r->output[i]);
    if (r->pidfd >= 0 && !uv_is_closing((uv_handle_t *)&r->exit_poll)) jf_close_poll(&r->exit_poll);
    /* Every handle of r not yet closed (some were closing already) ends in on_handle_closed. */
    l->closing += r->handles;
    jf_maybe_free(r);
    r = next;
  }
  l->live = NULL;
  uv_close((uv_handle_t *)&l->async, jf_on_async_closed);
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
  if (uv_async_init(loop, &l->async, jf_on_spawned) != 0) return NULL;
  l->async.data = l;
  /* Referenced only while spawns are in flight (Spawn, jf_on_spawned): the pipes and the pidfd of
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
  r->file = jf_string_of(env, args[0], "file must be a string");
  if (r->file == NULL) goto failed;
  r->argv = jf_strings_of(env, args[1], "argv must be an array of strings");
  if (r->argv == NULL) goto failed;
  r->envp = jf_strings_of(env, args[2], "envp must be an array of strings");
  if (r->envp == NULL) goto failed;
  if (cwd_type != napi_null && cwd_type != napi_undefined) {
    r->cwd = jf_string_of(env, args[3], "cwd must be a string or null");
    if (r->cwd == NULL) goto failed;
  }
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    napi_throw(env, jf_error_of(env, r->file, errno));
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
    uv_poll_start(&r->output[i], UV_READABLE, jf_on_output);
  }
  r->handles = 2;
  jf_link_live(r);

  napi_value result;
  napi_create_int32(env, in[1], &result);
  if (l->in_flight++ == 0) uv_ref((uv_handle_t *)&l->async);
  pthread_mutex_lock(&l->lock);
  append(&l->todo, &l->todo_tail, r);
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
  return result;

failed:
  jf_close_pair(in);
  jf_close_pair(out);
  jf_close_pair(err);
  jf_free_request(r);
  free(r);
  return NULL;
}

/* supported() -> whether this kernel has pidfd_open (Linux 5.3 and later). */
static napi_value Supported(napi_env env, napi_callback_info info) {
  int fd = jf_pidfd_open(getpid());
  if (fd >= 0) close(fd);
  napi_value result;
  napi_get_boolean(env, fd >= 0, &result);
  return result;
}

/* outputGone(fd), in output.c. */
napi_value OutputGone(napi_env env, napi_callback_info info);
/* envStamp(), in env.c. */
napi_value EnvStamp(napi_env env, napi_callback_info info);
/* exitNow(code), in exit.c. */
napi_value ExitNow(napi_env env, napi_callback_info info);
/* reapExited(pid), in reap.c. */
napi_value ReapExited(napi_env env, napi_callback_info info);

NAPI_MODULE_INIT() {
  napi_value spawn_fn, supported_fn, output_gone_fn, env_stamp_fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &spawn_fn);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, Supported, NULL, &supported_fn);
  napi_create_function(env, "outputGone", NAPI_AUTO_LENGTH, OutputGone, NULL, &output_gone_fn);
  napi_set_named_property(env, exports, "spawn", spawn_fn);
  napi_set_named_property(env, exports, "supported", supported_fn);
  napi_set_named_property(env, exports, "outputGone", output_gone_fn);
  napi_create_function(env, "envStamp", NAPI_AUTO_LENGTH, EnvStamp, NULL, &env_stamp_fn);
  napi_set_named_property(env, exports, "envStamp", env_stamp_fn);
  napi_value exit_now_fn;
  napi_create_function(env, "exitNow", NAPI_AUTO_LENGTH, ExitNow, NULL, &exit_now_fn);
  napi_set_named_property(env, exports, "exitNow", exit_now_fn);
  napi_value reap_exited_fn;
  napi_create_function(env, "reapExited", NAPI_AUTO_LENGTH, ReapExited, NULL, &reap_exited_fn);
  napi_set_named_property(env, exports, "reapExited", reap_exited_fn);
  return exports;
}
